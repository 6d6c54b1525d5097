//! The B2BUA core speaking before it bridges, on a virtual clock (no sockets, no sleeps):
//! with `announce` calltrack answers the caller itself (200, or 183 with `answer = "early"`)
//! with its own SDP, plays the prompt, and only when the prompt's time is over rings the PBX,
//! offering the caller's codec; the PBX's 200 is not relayed again; every way out leaves a
//! CDR and the port pool full. A menu scheme takes its default on silence and a key by SIP
//! INFO; the trail says which. The overflow code's first-key wait follows `[voice]`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod core_harness;

use std::time::Duration;

use calltrack::call::record::{Disposition, HangupSide};
use calltrack::call::trail::TrailOutcome;
use calltrack::media::prompt::Prompt;
use calltrack::sip::Method;
use calltrack::sip::message::HeaderName;
use core_harness::rig::{CARRIER, PBX};
use core_harness::voice::{
    CARRIER_SDP, VoiceRig, body, carrier_request, invite, invite_with, with_sdp,
};

const PBX_SDP: &str = "v=0\no=- 2 1 IN IP4 10.1.1.5\ns=-\nc=IN IP4 10.1.1.5\nt=0 0\n\
m=audio 6000 RTP/AVP 8\n";

fn recorded() -> Duration {
    Prompt::load("recorded", "en").unwrap().duration()
}

#[test]
fn calltrack_answers_plays_the_prompt_then_rings_the_pbx_with_the_callers_codec() {
    let mut h = VoiceRig::new("announce = \"recorded\"", "");
    h.feed(&invite(), CARRIER);
    let ok = h.last_to_carrier(200);
    let answer = body(&ok);
    assert!(answer.contains("c=IN IP4 203.0.113.7\r\n"), "{answer}");
    assert!(
        answer.contains("m=audio 30000 RTP/AVP 8 101\r\n"),
        "{answer}"
    );
    assert!(ok.header(&HeaderName::Contact).is_some());
    assert_eq!(
        h.invites_to_pbx(),
        0,
        "nothing rings while calltrack speaks"
    );

    let tag = h.carrier_tag();
    h.feed(&carrier_request("ACK", 10, &tag, ""), CARRIER);
    assert!(h.media.prompt_playing(0), "the prompt starts with the ACK");
    h.advance(recorded() - Duration::from_millis(100));
    assert_eq!(h.invites_to_pbx(), 0, "still speaking");
    h.advance(Duration::from_millis(300));
    let b = h.last_to_pbx(Method::Invite);
    let offer = body(&b);
    assert!(offer.contains("m=audio 30002 RTP/AVP 8 101\r\n"), "{offer}");
    assert!(offer.contains("a=rtpmap:8 PCMA/8000\r\n"), "{offer}");

    h.feed(
        &with_sdp(&core_harness::rig::pbx_response(&b, "200 OK", ""), PBX_SDP),
        PBX,
    );
    assert_eq!(
        h.finals_to_carrier(200),
        1,
        "the PBX's 200 is not sent upstream again"
    );
    assert!(
        h.to_pbx.iter().any(|m| m.method() == Some(&Method::Ack)),
        "the PBX's 200 is ACKed"
    );
    h.advance(Duration::from_secs(2));
    h.feed(&carrier_request("BYE", 11, &tag, ""), CARRIER);
    let cdr = h.cdr();
    assert_eq!(cdr.disposition, Disposition::Answered);
    let waited = Duration::try_from(cdr.answered_at.unwrap().duration_since(cdr.started_at));
    assert!(waited.unwrap() >= recorded());
    assert!(h.pool_full());
}

#[test]
fn early_answer_plays_as_early_media_and_the_pbxs_answer_gives_the_caller_its_200() {
    let mut h = VoiceRig::new("announce = \"recorded\"\nanswer = \"early\"", "");
    h.feed(&invite(), CARRIER);
    let early = body(&h.last_to_carrier(183));
    assert_eq!(h.finals_to_carrier(200), 0);
    assert!(h.media.prompt_playing(0), "early media plays at once");
    h.advance(recorded() + Duration::from_millis(200));
    let b = h.last_to_pbx(Method::Invite);
    h.feed(&core_harness::rig::pbx_response(&b, "180 Ringing", ""), PBX);
    assert_eq!(
        h.to_carrier
            .iter()
            .filter(|m| m.status() == Some(180))
            .count(),
        0
    );
    h.feed(
        &with_sdp(&core_harness::rig::pbx_response(&b, "200 OK", ""), PBX_SDP),
        PBX,
    );
    assert_eq!(
        body(&h.last_to_carrier(200)),
        early,
        "the 200 repeats the 183's SDP"
    );
    let tag = h.carrier_tag();
    h.feed(&carrier_request("ACK", 10, &tag, ""), CARRIER);
    h.feed(&carrier_request("BYE", 11, &tag, ""), CARRIER);
    assert_eq!(h.cdr().disposition, Disposition::Answered);
    assert!(h.pool_full());
}

#[test]
fn a_caller_who_hangs_up_during_the_prompt_is_recorded_and_nothing_rings() {
    let mut h = VoiceRig::new("announce = \"recorded\"", "");
    h.feed(&invite(), CARRIER);
    let tag = h.carrier_tag();
    h.feed(&carrier_request("ACK", 10, &tag, ""), CARRIER);
    h.advance(Duration::from_millis(500));
    h.feed(&carrier_request("BYE", 11, &tag, ""), CARRIER);
    let cdr = h.cdr();
    assert_eq!(cdr.disposition, Disposition::Cancelled);
    assert_eq!(cdr.hangup_side, HangupSide::Caller);
    h.advance(recorded() * 2);
    assert_eq!(h.invites_to_pbx(), 0);
    assert!(h.pool_full());
}

#[test]
fn a_busy_pbx_after_calltrack_answered_ends_with_a_bye_to_the_caller() {
    let mut h = VoiceRig::new("announce = \"recorded\"", "");
    h.feed(&invite(), CARRIER);
    let tag = h.carrier_tag();
    h.feed(&carrier_request("ACK", 10, &tag, ""), CARRIER);
    h.advance(recorded() + Duration::from_millis(200));
    let b = h.last_to_pbx(Method::Invite);
    h.feed(
        &core_harness::rig::pbx_response(&b, "486 Busy Here", ""),
        PBX,
    );
    assert!(
        h.to_carrier
            .iter()
            .any(|m| m.method() == Some(&Method::Bye)),
        "BYE, not a 486 after a 200"
    );
    assert_eq!(h.cdr().disposition, Disposition::Busy);
    assert!(h.pool_full());
}

/// A site routed to a menu scheme: 1 sales, 2 support, default sales, one replay.
fn menu_harness() -> VoiceRig {
    let extra = format!(
        "[[routes]]\nnumber = \"74950000001\"\nscheme = \"main\"\n\
         [[schemes]]\nid = \"main\"\nmedia = \"relay\"\n[[schemes.steps]]\nstrategy = \"menu\"\n\
         timeout_secs = 3\nretries = 1\ndefault = \"sales\"\n\
         choices = {{ \"1\" = \"sales\", \"2\" = \"support\" }}\n\
         [[schemes]]\nid = \"sales\"\n[[schemes.steps]]\n[[schemes.steps.targets]]\nuri = \"sip:sales@{PBX}\"\n\
         [[schemes]]\nid = \"support\"\n[[schemes.steps]]\n[[schemes.steps.targets]]\nuri = \"sip:support@{PBX}\"\n"
    );
    VoiceRig::new("", &extra)
}

fn menu_entry(h: &mut VoiceRig) -> String {
    let tag = h.carrier_tag();
    let b = h.last_to_pbx(Method::Invite);
    h.feed(
        &with_sdp(&core_harness::rig::pbx_response(&b, "200 OK", ""), PBX_SDP),
        PBX,
    );
    h.feed(&carrier_request("BYE", 12, &tag, ""), CARRIER);
    let cdr = h.cdr();
    let entry = cdr
        .trail
        .iter()
        .find(|s| s.outcome == TrailOutcome::Menu)
        .unwrap();
    entry.target.clone()
}

#[test]
fn silence_replays_the_greeting_once_then_takes_the_default() {
    let mut h = menu_harness();
    h.feed(&invite(), CARRIER);
    let tag = h.carrier_tag();
    h.feed(&carrier_request("ACK", 10, &tag, ""), CARRIER);
    let greeting = Prompt::load("menu", "en").unwrap().duration();
    // Greeting + 3 s, the replay + 3 s: then the default rings.
    h.advance(greeting + Duration::from_secs(3) + greeting);
    assert_eq!(h.invites_to_pbx(), 0, "the replay is still listening");
    h.advance(Duration::from_secs(4));
    let b = h.last_to_pbx(Method::Invite);
    assert!(
        b.request_uri().unwrap().starts_with("sip:sales@"),
        "{:?}",
        b.request_uri()
    );
    assert_eq!(menu_entry(&mut h), "menu timeout>sales");
    assert!(h.pool_full());
}

#[test]
fn a_key_by_sip_info_during_the_greeting_takes_its_branch() {
    let mut h = menu_harness();
    h.feed(&invite(), CARRIER);
    let tag = h.carrier_tag();
    h.feed(&carrier_request("ACK", 10, &tag, ""), CARRIER);
    h.advance(Duration::from_millis(500));
    let info = carrier_request("INFO", 11, &tag, "Content-Type: application/dtmf-relay\n").replace(
        "Content-Length: 0\n\n",
        "Content-Length: 24\n\nSignal=2\r\nDuration=160\r\n",
    );
    h.feed(&info, CARRIER);
    assert!(
        h.to_carrier
            .iter()
            .any(|m| m.status() == Some(200) && m.cseq().is_ok_and(|c| c.method == Method::Info))
    );
    let b = h.last_to_pbx(Method::Invite);
    assert!(
        b.request_uri().unwrap().starts_with("sip:support@"),
        "{:?}",
        b.request_uri()
    );
    assert_eq!(menu_entry(&mut h), "menu 2>support");
}

#[test]
fn a_menu_caller_without_g711_is_not_spoken_to_and_rings_the_default() {
    let mut h = menu_harness();
    let g729 = CARRIER_SDP
        .replace("RTP/AVP 8 0 101", "RTP/AVP 18")
        .replace("a=rtpmap:8 PCMA/8000\n", "a=rtpmap:18 G729/8000\n");
    h.feed(&invite_with(&g729), CARRIER);
    assert_eq!(h.finals_to_carrier(200), 0, "calltrack did not answer");
    let b = h.last_to_pbx(Method::Invite);
    assert!(
        b.request_uri().unwrap().starts_with("sip:sales@"),
        "{:?}",
        b.request_uri()
    );
    assert!(
        body(&b).contains("RTP/AVP 18"),
        "the caller's own offer, relayed"
    );
}

/// A reserve-number call on a site with overflow codes, `[voice]` keys in `voice`: nobody
/// keys anything in; whether the PBX is rung `after` the end of "enter your code".
fn rung_after_silent_code_entry(voice: &str, after: Duration) -> bool {
    let extra =
        format!("[[sites.pools]]\nid = \"web\"\nnumbers = [\"74950000100\"]\n[voice]\n{voice}");
    let site = "reserve_number = \"74950000099\"\noverflow_code = true";
    let mut h = VoiceRig::new(site, &extra);
    h.feed(&invite().replace("74950000001", "74950000099"), CARRIER);
    let tag = h.carrier_tag();
    h.feed(&carrier_request("ACK", 10, &tag, ""), CARRIER);
    let prompt = Prompt::load("enter_code", "en").unwrap().duration();
    h.advance(prompt + after);
    h.invites_to_pbx() > 0
}

#[test]
fn the_overflow_codes_first_key_wait_is_a_config_key() {
    let second = Duration::from_millis(1_500);
    assert!(
        !rung_after_silent_code_entry("", second),
        "the default waits 5 s for the first key"
    );
    assert!(
        rung_after_silent_code_entry("", Duration::from_millis(5_500)),
        "then the call goes on unattributed"
    );
    assert!(
        rung_after_silent_code_entry("code_first_digit_secs = 1\n", second),
        "code_first_digit_secs = 1 gives up after a second"
    );
}
