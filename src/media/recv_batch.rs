//! Several datagrams from one socket in one system call (`recvmmsg(2)`, Linux), taken without
//! waiting. Besides saving a call per datagram at load, a batch that comes back short of
//! [`BATCH`] proves the socket's queue was empty when the kernel looked, so the relay loop
//! needs no further call that fails with `EAGAIN` to learn it (with one `recvfrom` per
//! datagram that last, empty call cost as much as a whole relayed packet's receive). Under
//! edge-triggered epoll this is safe: a datagram queued after the kernel looked raises a new
//! readiness event.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Datagrams asked for per call.
pub const BATCH: usize = 16;
/// Largest datagram taken whole (RTP over Ethernet stays well below); a longer one is cut to
/// this and reported as [`Received::Oversize`].
pub const MAX_DATAGRAM: usize = 2048;

/// The buffers of one batch and what the last call put in them.
pub struct RecvBatch {
    bufs: Box<[[u8; MAX_DATAGRAM]; BATCH]>,
    addrs: Box<[libc::sockaddr_storage; BATCH]>,
    got: [Got; BATCH],
    count: usize,
}

#[derive(Clone, Copy, Default)]
struct Got {
    len: usize,
    name_len: libc::socklen_t,
    truncated: bool,
}

/// One datagram of a batch.
pub enum Received<'a> {
    Packet(&'a [u8], SocketAddr),
    /// Longer than [`MAX_DATAGRAM`], or from an address that is neither IPv4 nor IPv6.
    Oversize,
    Unaddressed,
}

impl RecvBatch {
    #[allow(unsafe_code)]
    pub fn new() -> RecvBatch {
        RecvBatch {
            bufs: Box::new([[0; MAX_DATAGRAM]; BATCH]),
            // SAFETY: `sockaddr_storage` is plain old data; all zeroes is a valid value.
            addrs: Box::new(unsafe { zeroed() }),
            got: [Got::default(); BATCH],
            count: 0,
        }
    }

    /// Takes what `socket` holds, up to [`BATCH`] datagrams, without waiting: `Ok(0)` when it
    /// holds none. Fewer than [`BATCH`] means the queue was empty after them.
    #[allow(unsafe_code)]
    pub fn recv(&mut self, socket: BorrowedFd<'_>) -> io::Result<usize> {
        self.count = 0;
        // SAFETY: zeroed `iovec`s and `mmsghdr`s are valid (null pointers, zero lengths) and
        // every one used is filled in below before the call.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, (iov, header)) in iovecs.iter_mut().zip(headers.iter_mut()).enumerate() {
            iov.iov_base = self.bufs[i].as_mut_ptr().cast();
            iov.iov_len = MAX_DATAGRAM;
            header.msg_hdr.msg_name = std::ptr::from_mut(&mut self.addrs[i]).cast();
            header.msg_hdr.msg_namelen = name_capacity();
            header.msg_hdr.msg_iov = iov;
            header.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `headers` holds BATCH entries, each pointing at one live `iovec` (of a
        // buffer of `iov_len` bytes) and one live `sockaddr_storage` of `msg_namelen` bytes;
        // all outlive the call, which writes only within them. No timeout is passed.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(error),
            };
        }
        let n = usize::try_from(n).unwrap_or(0).min(BATCH);
        for (got, header) in self.got.iter_mut().zip(&headers).take(n) {
            *got = Got {
                len: (header.msg_len as usize).min(MAX_DATAGRAM),
                name_len: header.msg_hdr.msg_namelen,
                truncated: header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            };
        }
        self.count = n;
        Ok(n)
    }

    /// Datagram `i` of the last call (`i` below what it returned).
    pub fn get(&self, i: usize) -> Received<'_> {
        let (Some(got), Some(buf), Some(addr)) =
            (self.got.get(i), self.bufs.get(i), self.addrs.get(i))
        else {
            return Received::Unaddressed;
        };
        if i >= self.count {
            return Received::Unaddressed;
        }
        if got.truncated {
            return Received::Oversize;
        }
        match socket_addr(addr, got.name_len) {
            Some(source) => Received::Packet(&buf[..got.len], source),
            None => Received::Unaddressed,
        }
    }
}

impl Default for RecvBatch {
    fn default() -> RecvBatch {
        RecvBatch::new()
    }
}

fn name_capacity() -> libc::socklen_t {
    libc::socklen_t::try_from(size_of::<libc::sockaddr_storage>()).unwrap_or(0)
}

/// The address the kernel wrote into `storage` (`len` bytes of it).
#[allow(unsafe_code)]
fn socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = usize::try_from(len).ok()?;
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a `sockaddr_in`, which it is large
            // and aligned enough for, and the kernel wrote all of it.
            let v4 = unsafe { &*std::ptr::from_ref(storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(v4.sin_port)).into())
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for `sockaddr_in6`.
            let v6 = unsafe { &*std::ptr::from_ref(storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(
                SocketAddrV6::new(
                    ip,
                    u16::from_be(v6.sin6_port),
                    v6.sin6_flowinfo,
                    v6.sin6_scope_id,
                )
                .into(),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "recv_batch_tests.rs"]
mod tests;
