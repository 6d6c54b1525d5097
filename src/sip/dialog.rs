//! Dialog state of one call leg (RFC 3261 §12) and the random identifiers every leg needs:
//! tags, branches and Call-IDs, drawn from an injected random source.

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::message::{HeaderName, MessageBuilder, Method, SipUri};
use super::peer::{Peer, Transport};

/// Fresh identifiers (RFC 3261 §19.3: tags and Call-IDs must be globally unique and random;
/// §8.1.1.7: branches start with the magic cookie). The seed is a parameter so tests are
/// reproducible; the daemon seeds it from the OS.
#[derive(Debug)]
pub struct Ids {
    rng: StdRng,
    /// The core shard these identifiers are for, and how many shards there are.
    shard: (usize, usize),
}

impl Ids {
    pub fn from_seed(seed: u64) -> Ids {
        Ids::for_shard(seed, 0, 1)
    }

    /// Identifiers for shard `index` of `count`: its Call-IDs hash to it (see
    /// [`super::shard`]), so the peers' answers come back to the shard that holds the call.
    pub fn for_shard(seed: u64, index: usize, count: usize) -> Ids {
        Ids {
            rng: StdRng::seed_from_u64(seed),
            shard: (index, count.max(1)),
        }
    }

    fn hex(&mut self, bytes: usize) -> String {
        let mut out = String::with_capacity(bytes * 2);
        for _ in 0..bytes {
            let b: u8 = self.rng.random();
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }

    /// A From/To tag: 64 random bits.
    pub fn tag(&mut self) -> String {
        self.hex(8)
    }

    /// A Via branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.hex(10))
    }

    /// A Call-ID that reveals nothing about the caller leg (topology hiding), drawn until it
    /// hashes to this shard (on average `count` draws).
    pub fn call_id(&mut self) -> String {
        let (index, count) = self.shard;
        loop {
            let id = format!("{}@calltrack", self.hex(12));
            if super::shard::shard_of_call_id(id.as_bytes(), count) == index {
                return id;
            }
        }
    }

    /// 32 random bits (an RTP SSRC, sequence and timestamp origin, RFC 3550 §5.1).
    pub fn number(&mut self) -> u32 {
        self.rng.random()
    }

    /// An initial CSeq number: random below 2^31 (RFC 3261 §8.1.1.5), kept small enough that
    /// a long dialog never wraps.
    pub fn small_seq(&mut self) -> u32 {
        self.rng.random_range(1..1 << 20)
    }

    /// Our own identifier for a call (the CDR's primary key).
    pub fn call_uid(&mut self) -> String {
        self.hex(8)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Where calltrack can be reached: used in Via and Contact (RFC 3261 §18.1.1, §8.1.1.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEndpoint {
    pub udp: Option<std::net::SocketAddr>,
    pub tcp: Option<std::net::SocketAddr>,
    /// Host written instead of the bound address when calltrack sits behind NAT.
    pub advertised_host: Option<String>,
    pub advertised_port: Option<u16>,
}

impl LocalEndpoint {
    /// `host:port` to advertise for a transport (falls back to the other transport's socket).
    pub fn host_port(&self, transport: Transport) -> String {
        self.advertised(transport).to_string()
    }

    /// [`Self::host_port`] written straight into a larger string, without one of its own.
    pub fn advertised(&self, transport: Transport) -> HostPort<'_> {
        let bound = match transport {
            Transport::Udp => self.udp.or(self.tcp),
            Transport::Tcp => self.tcp.or(self.udp),
        };
        let port = self
            .advertised_port
            .or(bound.map(|a| a.port()))
            .unwrap_or(5060);
        HostPort {
            host: self.advertised_host.as_deref(),
            bound: bound.map(|a| a.ip()),
            port,
        }
    }

    /// Our Via value with a fresh branch and `rport` (RFC 3581).
    pub fn via(&self, transport: Transport, branch: &str) -> String {
        format!(
            "SIP/2.0/{transport} {};branch={branch};rport",
            self.advertised(transport)
        )
    }

    /// Our Contact: where the other side sends in-dialog requests.
    pub fn contact(&self, transport: Transport) -> String {
        match transport {
            Transport::Udp => format!("<sip:{}>", self.advertised(transport)),
            Transport::Tcp => format!("<sip:{};transport=tcp>", self.advertised(transport)),
        }
    }
}

/// The `host:port` calltrack advertises (see [`LocalEndpoint::advertised`]).
#[derive(Debug, Clone, Copy)]
pub struct HostPort<'a> {
    host: Option<&'a str>,
    bound: Option<std::net::IpAddr>,
    port: u16,
}

impl std::fmt::Display for HostPort<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let port = self.port;
        match (self.host, self.bound) {
            (Some(host), _) => write!(f, "{host}:{port}"),
            (None, Some(ip)) if ip.is_ipv6() => write!(f, "[{ip}]:{port}"),
            (None, Some(ip)) => write!(f, "{ip}:{port}"),
            (None, None) => write!(f, "127.0.0.1:{port}"),
        }
    }
}

/// One side of a dialog as calltrack sees it (RFC 3261 §12.1): enough to build in-dialog
/// requests and to recognise requests that belong to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// Our URI in From (requests we send), without tag.
    pub local_uri: String,
    /// The other side's URI in To (requests we send), without tag.
    pub remote_uri: String,
    pub local_seq: u32,
    pub remote_seq: Option<u32>,
    /// The other side's Contact URI: the Request-URI of in-dialog requests (§12.2.1.1).
    pub remote_target: String,
    /// Route set, in the order it is written into requests.
    pub route_set: Vec<String>,
    /// Where in-dialog requests are sent.
    pub peer: Peer,
    /// The transport named in our Via and Contact for this leg.
    pub transport: Transport,
}

impl Dialog {
    /// Starts an in-dialog request (§12.2.1.1): Request-URI, Route, Via, Max-Forwards, From,
    /// To, Call-ID and CSeq written; the caller adds the rest and the body.
    pub fn request(
        &mut self,
        method: &Method,
        local: &LocalEndpoint,
        branch: &str,
    ) -> MessageBuilder {
        if *method != Method::Ack && *method != Method::Cancel {
            self.local_seq = self.local_seq.wrapping_add(1);
        }
        let mut b = MessageBuilder::request(method, &self.remote_target);
        let transport = self.transport;
        b.header_fmt(
            HeaderName::Via,
            format_args!(
                "SIP/2.0/{transport} {};branch={branch};rport",
                local.advertised(transport)
            ),
        );
        for route in &self.route_set {
            b.header(HeaderName::Route, route);
        }
        b.header(HeaderName::MaxForwards, "70").header_fmt(
            HeaderName::From,
            format_args!("{};tag={}", self.local_uri, self.local_tag),
        );
        match &self.remote_tag {
            Some(tag) => b.header_fmt(
                HeaderName::To,
                format_args!("{};tag={tag}", self.remote_uri),
            ),
            None => b.header(HeaderName::To, &self.remote_uri),
        };
        b.header(HeaderName::CallId, &self.call_id).header_fmt(
            HeaderName::CSeq,
            format_args!("{} {method}", self.local_seq),
        );
        b
    }
}

/// Where to send requests for a URI: `maddr`-free SIP URIs with an IP host (no DNS in the
/// sans-IO core; names are resolved at start-up). `transport=` picks the transport.
pub fn uri_peer(uri: &str, default_transport: Transport) -> Option<Peer> {
    let bare = uri.trim().trim_start_matches('<');
    let bare = bare.split('>').next().unwrap_or(bare);
    let sip = SipUri::parse(bare).ok()?;
    let ip = match sip.host {
        super::message::Host::Ip(ip) => ip,
        super::message::Host::Name(name) if name.eq_ignore_ascii_case("localhost") => {
            std::net::IpAddr::from([127, 0, 0, 1])
        }
        super::message::Host::Name(_) => return None,
    };
    let transport = sip
        .transport()
        .and_then(Transport::from_token)
        .unwrap_or(default_transport);
    let port = sip.port.unwrap_or(5060);
    Some(Peer::new(transport, std::net::SocketAddr::new(ip, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_reproducible_and_well_formed() {
        let mut a = Ids::from_seed(7);
        let mut b = Ids::from_seed(7);
        assert_eq!(a.tag(), b.tag());
        let branch = a.branch();
        assert!(branch.starts_with("z9hG4bK") && branch.len() == 27);
        assert_ne!(a.tag(), a.tag());
    }

    #[test]
    fn a_shard_draws_call_ids_that_hash_to_it() {
        for index in 0..3 {
            let mut ids = Ids::for_shard(9, index, 3);
            for _ in 0..50 {
                let id = ids.call_id();
                assert_eq!(
                    super::super::shard::shard_of_call_id(id.as_bytes(), 3),
                    index
                );
            }
        }
    }

    #[test]
    fn uri_peer_reads_ip_port_and_transport() {
        let p = uri_peer("sip:127.0.0.1:5080", Transport::Udp).unwrap();
        assert_eq!(
            p,
            Peer::new(Transport::Udp, "127.0.0.1:5080".parse().unwrap())
        );
        let p = uri_peer("<sip:pbx@[::1]:5070;transport=TCP;lr>", Transport::Udp).unwrap();
        assert_eq!(p, Peer::new(Transport::Tcp, "[::1]:5070".parse().unwrap()));
        assert!(uri_peer("sip:pbx.example.com", Transport::Udp).is_none());
    }

    #[test]
    fn in_dialog_request_increments_cseq_and_carries_tags() {
        let mut d = Dialog {
            call_id: "c@x".into(),
            local_tag: "l1".into(),
            remote_tag: Some("r1".into()),
            local_uri: "<sip:a@x>".into(),
            remote_uri: "<sip:b@y>".into(),
            local_seq: 1,
            remote_seq: None,
            remote_target: "sip:b@127.0.0.1:5080".into(),
            route_set: vec!["<sip:127.0.0.1:5070;lr>".into()],
            peer: Peer::new(Transport::Udp, "127.0.0.1:5080".parse().unwrap()),
            transport: Transport::Udp,
        };
        let local = LocalEndpoint {
            udp: Some("127.0.0.1:5060".parse().unwrap()),
            tcp: None,
            advertised_host: None,
            advertised_port: None,
        };
        let msg = d.request(&Method::Bye, &local, "z9hG4bKx").finish();
        assert_eq!(msg.cseq().unwrap().seq, 2);
        assert_eq!(msg.from().unwrap().tag(), Some("l1"));
        assert_eq!(msg.to().unwrap().tag(), Some("r1"));
        assert_eq!(
            msg.header(&HeaderName::Route),
            Some("<sip:127.0.0.1:5070;lr>")
        );
        assert_eq!(msg.top_via().unwrap().branch(), Some("z9hG4bKx"),);
    }
}
