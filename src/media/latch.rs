//! Symmetric latching (RFC 4961 symmetric RTP, as SBCs and rtpengine apply it to endpoints
//! behind NAT): a side's packets are sent to the address its own packets come from. Until the
//! first packet arrives they go to the address its SDP names; once latched, packets from any
//! other address are dropped (and counted by the stream), so a third party cannot hijack or
//! inject into the call. A new SDP address from the side (a re-INVITE moving the stream)
//! unlatches it: the next packet latches again.

use std::net::SocketAddr;

/// What to do with a packet from a side's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// The side's first packet: its source is now the side's address.
    Latched,
    /// From the latched address.
    Accept,
    /// From a third address after latching.
    Drop,
}

/// One side's address for one socket kind (RTP or RTCP) of a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latch {
    /// What the side's SDP says (`None`: hold, a host name, or not known yet).
    expected: Option<SocketAddr>,
    latched: Option<SocketAddr>,
}

impl Latch {
    /// The side's SDP names `addr`; a change of address unlatches.
    pub fn expect(&mut self, addr: Option<SocketAddr>) {
        if addr.is_some() && addr != self.expected {
            self.latched = None;
        }
        self.expected = addr;
    }

    /// A packet from `source` arrived on the side's socket.
    pub fn admit(&mut self, source: SocketAddr) -> Admit {
        match self.latched {
            None => {
                self.latched = Some(source);
                Admit::Latched
            }
            Some(addr) if addr == source => Admit::Accept,
            Some(_) => Admit::Drop,
        }
    }

    /// Where the side's packets go: where its packets come from, else what its SDP says.
    pub fn target(&self) -> Option<SocketAddr> {
        self.latched.or(self.expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn sdp_address_until_the_first_packet_then_the_source() {
        let mut latch = Latch::default();
        assert_eq!(latch.target(), None);
        latch.expect(Some(addr("192.0.2.10:4000")));
        assert_eq!(latch.target(), Some(addr("192.0.2.10:4000")));
        // Behind NAT the packets come from another port.
        assert_eq!(latch.admit(addr("198.51.100.1:61000")), Admit::Latched);
        assert_eq!(latch.target(), Some(addr("198.51.100.1:61000")));
        assert_eq!(latch.admit(addr("198.51.100.1:61000")), Admit::Accept);
    }

    #[test]
    fn a_third_address_after_latching_is_dropped() {
        let mut latch = Latch::default();
        latch.admit(addr("192.0.2.10:4000"));
        assert_eq!(latch.admit(addr("203.0.113.66:4000")), Admit::Drop);
        assert_eq!(latch.target(), Some(addr("192.0.2.10:4000")));
    }

    #[test]
    fn a_new_sdp_address_unlatches_but_the_same_one_does_not() {
        let mut latch = Latch::default();
        latch.expect(Some(addr("192.0.2.10:4000")));
        latch.admit(addr("192.0.2.10:4000"));
        latch.expect(Some(addr("192.0.2.10:4000")));
        assert_eq!(latch.admit(addr("192.0.2.11:4000")), Admit::Drop);
        latch.expect(Some(addr("192.0.2.11:5000")));
        assert_eq!(latch.admit(addr("192.0.2.11:5000")), Admit::Latched);
        // Hold (no address) keeps the latch.
        latch.expect(None);
        assert_eq!(latch.target(), Some(addr("192.0.2.11:5000")));
    }
}
