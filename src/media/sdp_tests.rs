//! SDP reading and rewriting on bodies as real phones, PBXs and carriers send them.

use std::net::IpAddr;

use super::*;
use crate::media::sdp_rewrite::{RelayAddrs, rewrite};

/// A carrier's offer: session-level c=, G.711 both laws, telephone-event, ptime.
const CARRIER_OFFER: &str = "v=0\r\n\
o=- 3912402312 3912402312 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 16384 RTP/AVP 8 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// A softphone with audio and video, media-level c= lines, RFC 3605 rtcp and an unknown
/// attribute, written with bare LF line ends.
const TWO_STREAMS: &str = "v=0\n\
o=alice 2890844526 2890844527 IN IP4 198.51.100.7\n\
s=call\n\
t=0 0\n\
m=audio 49170 RTP/AVP 0 96\n\
c=IN IP4 198.51.100.7\n\
a=rtpmap:96 opus/48000/2\n\
a=rtcp:49181 IN IP4 198.51.100.7\n\
a=x-vendor-thing:keep me\n\
m=video 0 RTP/AVP 31\n\
c=IN IP4 198.51.100.7\n\
m=video 51372 RTP/AVP 99\n\
c=IN IP4 198.51.100.8\n\
a=rtpmap:99 H264/90000\n\
a=rtcp:51373\n";

const IPV6_HOLD: &str = "v=0\r\n\
o=- 1 2 IN IP6 2001:db8::5\r\n\
s=-\r\n\
c=IN IP6 2001:db8::5\r\n\
t=0 0\r\n\
m=audio 40000 RTP/SAVP 0\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n\
a=sendonly\r\n";

const OLD_HOLD: &str = "v=0\r\no=- 1 3 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 0.0.0.0\r\n\
t=0 0\r\nm=audio 16384 RTP/AVP 0\r\na=inactive\r\n";

fn relay(ports: &[Option<u16>]) -> RelayAddrs<'_> {
    RelayAddrs {
        advertised: "203.0.113.7".parse().unwrap(),
        ports,
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn a_carriers_offer_is_read() {
    let sdp = parse(CARRIER_OFFER.as_bytes()).unwrap();
    assert_eq!(sdp.connection, Some(Connection::Addr(ip("192.0.2.10"))));
    let audio = &sdp.media[0];
    assert_eq!((audio.kind.as_str(), audio.port), ("audio", 16384));
    assert!(audio.is_rtp() && !audio.crypto);
    assert_eq!(audio.clock_rate(8), Some(8000));
    assert_eq!(audio.clock_rate(101), Some(8000));
    assert_eq!(sdp.connection_of(0), Connection::Addr(ip("192.0.2.10")));
}

#[test]
fn only_addresses_and_ports_change_in_a_carriers_offer() {
    let out = rewrite(CARRIER_OFFER.as_bytes(), relay(&[Some(30002)]));
    let expected = CARRIER_OFFER
        .replace("c=IN IP4 192.0.2.10", "c=IN IP4 203.0.113.7")
        .replace("m=audio 16384", "m=audio 30002");
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn several_streams_keep_their_own_addresses_and_rtcp_ports() {
    let sdp = parse(TWO_STREAMS.as_bytes()).unwrap();
    assert_eq!(sdp.media.len(), 3);
    assert_eq!(sdp.media[0].rtcp_port, Some(49181));
    assert_eq!(sdp.media[0].clock_rate(96), Some(48000));
    assert_eq!(sdp.media[0].clock_rate(0), Some(8000));
    assert_eq!(sdp.media[1].port, 0);
    assert_eq!(sdp.connection_of(2), Connection::Addr(ip("198.51.100.8")));
    assert_eq!(sdp.connection, None);
    let out = rewrite(
        TWO_STREAMS.as_bytes(),
        relay(&[Some(30000), None, Some(30004)]),
    );
    let text = String::from_utf8(out).unwrap();
    let expected = "v=0\n\
o=alice 2890844526 2890844527 IN IP4 198.51.100.7\n\
s=call\n\
t=0 0\n\
m=audio 30000 RTP/AVP 0 96\n\
c=IN IP4 203.0.113.7\n\
a=rtpmap:96 opus/48000/2\n\
a=rtcp:30001 IN IP4 203.0.113.7\n\
a=x-vendor-thing:keep me\n\
m=video 0 RTP/AVP 31\n\
c=IN IP4 198.51.100.7\n\
m=video 30004 RTP/AVP 99\n\
c=IN IP4 203.0.113.7\n\
a=rtpmap:99 H264/90000\n\
a=rtcp:30005\n";
    assert_eq!(text, expected);
}

#[test]
fn ipv6_srtp_on_hold_is_read_and_written_for_the_relays_family() {
    let sdp = parse(IPV6_HOLD.as_bytes()).unwrap();
    assert_eq!(sdp.connection, Some(Connection::Addr(ip("2001:db8::5"))));
    let audio = &sdp.media[0];
    assert!(audio.crypto, "SDES keys mark the stream SRTP");
    assert!(audio.is_rtp());
    assert_eq!(audio.direction, Direction::SendOnly);
    let out = String::from_utf8(rewrite(IPV6_HOLD.as_bytes(), relay(&[Some(30010)]))).unwrap();
    assert!(out.contains("\r\nc=IN IP4 203.0.113.7\r\n"));
    assert!(
        out.contains("o=- 1 2 IN IP6 2001:db8::5\r\n"),
        "origin kept"
    );
    assert!(out.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNf"));
    assert!(out.ends_with("m=audio 30010 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\na=sendonly\r\n"));
    let v6 = RelayAddrs {
        advertised: ip("2001:db8::1"),
        ports: &[Some(30010)],
    };
    let out = String::from_utf8(rewrite(IPV6_HOLD.as_bytes(), v6)).unwrap();
    assert!(out.contains("\r\nc=IN IP6 2001:db8::1\r\n"));
}

#[test]
fn an_old_style_hold_keeps_its_zero_address() {
    let sdp = parse(OLD_HOLD.as_bytes()).unwrap();
    assert_eq!(sdp.connection_of(0), Connection::Hold);
    assert_eq!(sdp.media[0].direction, Direction::Inactive);
    let out = String::from_utf8(rewrite(OLD_HOLD.as_bytes(), relay(&[Some(30020)]))).unwrap();
    assert!(out.contains("c=IN IP4 0.0.0.0\r\n"));
    assert!(out.contains("m=audio 30020 RTP/AVP 0\r\n"));
}

#[test]
fn session_level_direction_applies_to_streams_without_their_own() {
    let body = "v=0\r\nc=IN IP4 192.0.2.1\r\na=sendonly\r\nm=audio 5004 RTP/AVP 0\r\n\
m=audio 5006 RTP/AVP 8\r\na=recvonly\r\n";
    let sdp = parse(body.as_bytes()).unwrap();
    assert_eq!(sdp.media[0].direction, Direction::SendOnly);
    assert_eq!(sdp.media[1].direction, Direction::RecvOnly);
}

#[test]
fn t38_is_relayed_but_not_measured() {
    let body = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=image 5008 udptl t38\r\n";
    let sdp = parse(body.as_bytes()).unwrap();
    assert!(!sdp.media[0].is_rtp());
}

#[test]
fn malformed_media_lines_are_refused() {
    for body in [
        "m=audio\r\n",
        "m=audio port RTP/AVP 0\r\n",
        "m=audio 70000 RTP/AVP 0\r\n",
    ] {
        assert_eq!(
            parse(body.as_bytes()),
            Err(SdpError::MediaLine(1)),
            "{body}"
        );
    }
    assert_eq!(
        parse(b"v=0\r\nc=IN IP4 \xff\r\n"),
        Err(SdpError::NotText(2))
    );
    assert_eq!(parse(b"").unwrap(), Sdp::default());
}

#[test]
fn a_body_without_a_final_line_end_is_kept_that_way() {
    let body = b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP 0";
    let out = rewrite(body, relay(&[Some(30000)]));
    assert_eq!(
        out,
        b"v=0\r\nc=IN IP4 203.0.113.7\r\nm=audio 30000 RTP/AVP 0"
    );
}

#[test]
fn the_formats_order_and_the_telephone_event_type_are_read() {
    let offer = parse(CARRIER_OFFER.as_bytes()).unwrap();
    assert_eq!(offer.media[0].formats, vec![8, 0, 101]);
    assert_eq!(offer.media[0].telephone_event, Some(101));
    let two = parse(TWO_STREAMS.as_bytes()).unwrap();
    assert_eq!(two.media[0].telephone_event, None);
    let odd = "v=0\r\nm=audio 1 RTP/AVP 0 96\r\na=rtpmap:96 Telephone-Event/8000\r\na=rtpmap:x telephone-event/8000\r\n";
    assert_eq!(
        parse(odd.as_bytes()).unwrap().media[0].telephone_event,
        Some(96)
    );
}
