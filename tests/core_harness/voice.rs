//! A core that speaks, for the voice tests (`b2bua_voice`, `b2bua_voicemail`): the demo site
//! relayed through a 50-pair port range, the built-in prompts loaded, and what those tests
//! read back (the one CDR, the port pool, the carrier's dialog tag, counts of what was sent).

use std::sync::Arc;
use std::time::Instant;

use calltrack::b2bua::{B2bua, Shared};
use calltrack::call::record::CallDetailRecord;
use calltrack::config::Config;
use calltrack::media::MediaTable;
use calltrack::media::prompt_set::PromptSet;
use calltrack::sip::{Method, SipMessage};

use super::rig::{CARRIER, PBX, Rig};

/// RTP/RTCP port pairs of the rig's range ("30000-30099").
pub const PAIRS: usize = 50;

/// The carrier's offer: PCMA, PCMU and RFC 4733 events.
pub const CARRIER_SDP: &str = "v=0\no=- 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\n\
m=audio 4000 RTP/AVP 8 0 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\n";

/// The rig with the relay's table beside it.
pub struct VoiceRig {
    pub rig: Rig,
    pub media: Arc<MediaTable>,
}

impl std::ops::Deref for VoiceRig {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.rig
    }
}

impl std::ops::DerefMut for VoiceRig {
    fn deref_mut(&mut self) -> &mut Rig {
        &mut self.rig
    }
}

impl VoiceRig {
    /// A core whose demo site has `site_keys` (relayed), with `extra` TOML after it.
    pub fn new(site_keys: &str, extra: &str) -> VoiceRig {
        let toml = format!(
            r#"[sip]
udp_listen = ["127.0.0.1:5060"]
[carriers]
trusted = ["127.0.0.0/8"]
[store]
path = "/nonexistent/cdr.db"
[media]
rtp_ports = "30000-30099"
advertised_ip = "203.0.113.7"
[[sites]]
id = "demo"
forward_to = "sip:{PBX}"
media = "relay"
{site_keys}
[[sites.static_numbers]]
number = "74950000001"
source = "billboard"
{extra}"#
        );
        let config = Arc::new(Config::from_toml_str(&toml).unwrap());
        let media = Arc::new(MediaTable::new(&config.media));
        let shared = Shared {
            media: media.clone(),
            ..Shared::default()
        };
        let now = Instant::now();
        let wall = "2026-11-23T10:00:00Z".parse().unwrap();
        let mut core = B2bua::new(
            config.clone(),
            shared,
            super::loopback_endpoint(false),
            now,
            wall,
            7,
        );
        core.set_prompts(Arc::new(PromptSet::load(&config).0));
        VoiceRig {
            rig: Rig::around(core, now),
            media,
        }
    }

    /// The one call's CDR.
    pub fn cdr(&self) -> CallDetailRecord {
        let ended = self.ended();
        assert_eq!(ended.len(), 1, "one call ended");
        ended[0].clone()
    }

    /// Every port pair is back in the pool.
    pub fn pool_full(&self) -> bool {
        self.media.port_pairs() == (PAIRS, PAIRS)
    }

    /// The To tag calltrack gave the carrier's dialog.
    pub fn carrier_tag(&self) -> String {
        let tagged = self
            .to_carrier
            .iter()
            .find_map(|m| m.to().ok()?.tag().map(str::to_string));
        tagged.unwrap()
    }

    pub fn invites_to_pbx(&self) -> usize {
        let invites = self.to_pbx.iter();
        invites
            .filter(|m| m.method() == Some(&Method::Invite))
            .count()
    }

    pub fn finals_to_carrier(&self, status: u16) -> usize {
        self.to_carrier
            .iter()
            .filter(|m| m.status() == Some(status))
            .count()
    }

    pub fn byes_to_carrier(&self) -> usize {
        let byes = self.to_carrier.iter();
        byes.filter(|m| m.method() == Some(&Method::Bye)).count()
    }
}

/// `text` (ending in an empty `Content-Length: 0` body) carrying `sdp` instead.
pub fn with_sdp(text: &str, sdp: &str) -> String {
    let len = sdp.replace('\n', "\r\n").len();
    text.replace(
        "Content-Length: 0\n\n",
        &format!("Content-Type: application/sdp\nContent-Length: {len}\n\n{sdp}"),
    )
}

/// The carrier's INVITE to the demo site's static number, with [`CARRIER_SDP`].
pub fn invite() -> String {
    invite_with(CARRIER_SDP)
}

/// The same INVITE offering `sdp`.
pub fn invite_with(sdp: &str) -> String {
    with_sdp(
        &format!(
            "INVITE sip:74950000001@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier1;rport
Max-Forwards: 70
From: \"Alice\" <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>
Call-ID: a-leg-1@carrier
CSeq: 10 INVITE
Contact: <sip:79161234567@{CARRIER}>
Content-Length: 0

"
        ),
        sdp,
    )
}

/// An in-dialog request of the carrier (`extra`: header lines, each ending in a newline).
pub fn carrier_request(method: &str, cseq: u32, tag: &str, extra: &str) -> String {
    format!(
        "{method} sip:calltrack@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {CARRIER};branch=z9hG4bKcarrier{method}{cseq}
Max-Forwards: 70
From: \"Alice\" <sip:79161234567@carrier.example>;tag=c1
To: <sip:74950000001@127.0.0.1>;tag={tag}
Call-ID: a-leg-1@carrier
CSeq: {cseq} {method}
{extra}Content-Length: 0

"
    )
}

/// A message's body as text.
pub fn body(msg: &SipMessage) -> String {
    String::from_utf8(msg.body().to_vec()).unwrap()
}
