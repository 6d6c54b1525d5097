//! calltrack's answers to real offers, and the offer it sends the callee; each is read back
//! by the relay's own SDP parser.

use super::*;
use crate::media::sdp::parse;

const LOCAL: Local = Local {
    ip: IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7)),
    port: 30_000,
    session_id: 42,
};

const CARRIER_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 16384 RTP/AVP 18 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\n";

#[test]
fn the_first_g711_codec_and_the_offers_event_type_are_answered() {
    let offer = parse(CARRIER_OFFER.as_bytes()).unwrap();
    let (body, negotiated) = answer(&offer, LOCAL).unwrap();
    assert_eq!(
        negotiated,
        Negotiated {
            stream: 0,
            codec: Codec::Pcma,
            telephone_event: Some(96),
        }
    );
    let read = parse(body.as_bytes()).unwrap();
    assert_eq!(read.media.len(), 1);
    assert_eq!(read.media[0].port, 30_000);
    assert_eq!(read.media[0].formats, vec![8, 96]);
    assert_eq!(read.media[0].telephone_event, Some(96));
    assert_eq!(
        read.connection_of(0),
        crate::media::sdp::Connection::Addr(LOCAL.ip)
    );
    assert!(body.contains("a=sendrecv\r\n") && body.starts_with("v=0\r\no=calltrack 42 42 IN IP4"));
}

#[test]
fn other_streams_are_rejected_with_port_zero_in_their_place() {
    let offer = "v=0\r\nc=IN IP4 192.0.2.10\r\nm=video 5000 RTP/AVP 99\r\n\
                 m=audio 4000 RTP/AVP 0\r\na=sendonly\r\nm=image 6000 udptl t38\r\n";
    let offer = parse(offer.as_bytes()).unwrap();
    let (body, negotiated) = answer(&offer, LOCAL).unwrap();
    assert_eq!(
        (
            negotiated.stream,
            negotiated.codec,
            negotiated.telephone_event
        ),
        (1, Codec::Pcmu, None)
    );
    let read = parse(body.as_bytes()).unwrap();
    let ports: Vec<u16> = read.media.iter().map(|m| m.port).collect();
    assert_eq!(ports, vec![0, 30_000, 0]);
    assert!(body.contains("m=video 0 RTP/AVP 99\r\n") && body.contains("a=recvonly\r\n"));
}

#[test]
fn an_offer_without_g711_or_with_srtp_only_gets_no_answer() {
    let opus =
        "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n";
    assert!(answer(&parse(opus.as_bytes()).unwrap(), LOCAL).is_none());
    let srtp = "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n";
    assert!(answer(&parse(srtp.as_bytes()).unwrap(), LOCAL).is_none());
    assert!(answer(&parse(b"v=0\r\n").unwrap(), LOCAL).is_none());
}

#[test]
fn the_callee_is_offered_what_the_caller_negotiated() {
    let negotiated = Negotiated {
        stream: 0,
        codec: Codec::Pcmu,
        telephone_event: Some(101),
    };
    let v6 = Local {
        ip: "2001:db8::7".parse().unwrap(),
        ..LOCAL
    };
    let body = offer_to_callee(negotiated, v6);
    let read = parse(body.as_bytes()).unwrap();
    assert_eq!(read.media[0].formats, vec![0, 101]);
    assert_eq!(read.media[0].telephone_event, Some(101));
    assert!(body.contains("c=IN IP6 2001:db8::7\r\n"));
}
