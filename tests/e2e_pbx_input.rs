//! End to end through the real binary: what a caller's INVITE may carry to the PBX (issue 18,
//! finding 4). A 64 KiB From display name, an oversized header and a header with an
//! escaped NUL never reach the PBX; an INVITE with a bare NUL in a header gets 400 at the
//! edge. The carrier is a raw TCP/UDP socket, the PBX a raw TCP listener that reads exactly
//! what calltrack sent (no sipp needed).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use bytes::Bytes;
use calltrack::call::record::Disposition;
use calltrack::sip::SipMessage;
use calltrack::sip::message::{HeaderName, Limits};
use support::{Calltrack, Leg};

const BILLBOARD: &str = "74950000001";

/// Messages up to 128 KiB are accepted, so a 64 KiB display name is screened by content, not
/// by the message-size cap.
fn large_messages(toml: &mut String) {
    *toml = toml.replacen(
        "[sip]\n",
        "[sip]\nmax_message_bytes = 131072\nudp_max_request_bytes = 1300\n",
        1,
    );
}

fn invite(transport: &str, local: std::net::SocketAddr, port: u16, n: u32, extra: &str) -> String {
    let body = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    format!(
        "INVITE sip:{BILLBOARD}@127.0.0.1:{port} SIP/2.0\r\n\
Via: SIP/2.0/{transport} {local};branch=z9hG4bKpbxin{n}\r\n\
{extra}To: <sip:{BILLBOARD}@127.0.0.1:{port}>\r\n\
Call-ID: pbx-input-{n}@carrier\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
Contact: <sip:79161234567@{local}>\r\n\
Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{body}",
        len = body.len()
    )
}

/// One SIP message read from a stream: the head, then Content-Length bytes of body.
fn read_message(stream: &mut TcpStream) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                buf.truncate(end + 4 + len);
                return buf;
            }
        }
        assert!(Instant::now() < deadline, "no whole message within 10 s");
        match stream.read(&mut chunk) {
            Ok(0) => panic!("connection closed mid-message"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// The PBX's answer to a received INVITE.
fn busy(invite: &SipMessage) -> String {
    let h = |n| invite.header(&n).unwrap().to_string();
    format!(
        "SIP/2.0 486 Busy Here\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=pbx\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        h(HeaderName::Via),
        h(HeaderName::From),
        h(HeaderName::To),
        h(HeaderName::CallId),
        h(HeaderName::CSeq)
    )
}

#[test]
fn a_64_kib_display_name_and_nul_bytes_never_reach_the_pbx() {
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Tcp, Leg::Tcp, large_messages);
    let pbx = TcpListener::bind(("127.0.0.1", ct.pbx_port)).unwrap();

    // A bare NUL in a header value: 400 at the edge (RFC 3261 §25.1), nothing for the PBX.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let from = "From: <sip:79161234567@127.0.0.1>;tag=n1\r\nSubject: hello\0world\r\n";
    let text = invite("UDP", udp.local_addr().unwrap(), ct.sip_port, 1, from);
    udp.send_to(text.as_bytes(), ("127.0.0.1", ct.sip_port))
        .unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = udp
        .recv_from(&mut buf)
        .expect("an answer to the NUL INVITE");
    let status = String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert!(status.starts_with("SIP/2.0 400"), "{status}");

    // Over TCP: a 64 KiB display name, a 2 KiB header and an escaped NUL (legal as a
    // quoted-pair, still never forwarded).
    let name = "N".repeat(64 * 1024);
    let extra = format!(
        "From: \"{name}\" <sip:79161234567@127.0.0.1>;tag=n2\r\nX-Long: {}\r\nSubject: \"a\\\0b\"\r\n",
        "L".repeat(2048)
    );
    let mut carrier = TcpStream::connect(("127.0.0.1", ct.sip_port)).unwrap();
    let text = invite("TCP", carrier.local_addr().unwrap(), ct.sip_port, 2, &extra);
    assert!(text.len() > 64 * 1024);
    carrier.write_all(text.as_bytes()).unwrap();

    pbx.set_nonblocking(false).unwrap();
    let (mut leg, _) = pbx.accept().unwrap();
    leg.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let raw = read_message(&mut leg);
    let b_invite = SipMessage::parse(Bytes::from(raw.clone()), &Limits::default()).unwrap();
    let head = String::from_utf8_lossy(&raw);
    assert!(
        !head.contains("hello"),
        "the NUL INVITE never reached the PBX"
    );
    assert!(!raw.contains(&0), "no NUL byte reaches the PBX");
    assert!(raw.len() < 4096, "B-leg INVITE is {} bytes", raw.len());
    let from = b_invite.header(&HeaderName::From).unwrap();
    assert!(
        from.starts_with("<sip:79161234567@"),
        "display name dropped, number kept: {from}"
    );
    assert!(!head.contains("X-Long") && !head.contains("Subject"));
    leg.write_all(busy(&b_invite).as_bytes()).unwrap();

    let stopped = ct.stop();
    let cdr = stopped.single_cdr();
    assert_eq!(cdr.caller, "79161234567");
    assert_eq!(cdr.disposition, Disposition::Busy);
}
