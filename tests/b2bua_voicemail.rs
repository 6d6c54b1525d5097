//! Voicemail in the B2BUA core, on a virtual clock (no sockets, no sleeps): when the scheme
//! fails, calltrack answers the caller itself, plays the greeting and the beep, records the
//! message from the beep's end and ends the call with a BYE at `max_secs` or on '#'; the CDR
//! says `voicemail` with the message's length. A caller who leaves during the greeting left
//! no message; a caller who gives up while it rings never reaches voicemail. Every way out
//! leaves the port pool full.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod core_harness;

use std::time::Duration;

use calltrack::call::record::{Disposition, HangupSide};
use calltrack::call::recording::{RecordingReason, RecordingStatus};
use calltrack::call::trail::TrailOutcome;
use calltrack::media::prompt::Prompt;
use calltrack::sip::Method;
use core_harness::rig::{CARRIER, PBX, pbx_response};
use core_harness::voice::{VoiceRig, body, carrier_request, invite};

const MAX_SECS: u64 = 10;

/// A core whose relayed demo site has a voicemail of `MAX_SECS` and `site_keys`.
fn harness(site_keys: &str) -> VoiceRig {
    let site = format!("voicemail = {{ max_secs = {MAX_SECS} }}\n{site_keys}");
    VoiceRig::new(&site, "[calls]\nring_timeout_secs = 20\n")
}

impl VoiceRig {
    /// The caller's INVITE; the PBX answers it 486.
    fn busy_pbx(&mut self) {
        self.feed(&invite(), CARRIER);
        let b = self.last_to_pbx(Method::Invite);
        self.feed(&pbx_response(&b, "486 Busy Here", ""), PBX);
    }

    fn ack(&mut self) {
        let tag = self.carrier_tag();
        self.feed(&carrier_request("ACK", 10, &tag, ""), CARRIER);
    }
}

fn prompt(name: &str) -> Duration {
    Prompt::load(name, "en").unwrap().duration()
}

/// The greeting and the beep, each with the session's 100 ms tail.
fn greeting_and_beep() -> Duration {
    prompt("voicemail") + prompt("beep") + Duration::from_millis(200)
}

#[test]
fn a_busy_scheme_goes_to_voicemail_which_ends_with_a_bye_at_max_secs() {
    let mut h = harness("");
    h.busy_pbx();
    assert_eq!(h.finals_to_carrier(486), 0, "the caller does not hear busy");
    let ok = h.last_to_carrier(200);
    let answer = body(&ok);
    assert!(answer.contains("c=IN IP4 203.0.113.7\r\n"), "{answer}");
    assert!(
        answer.contains("m=audio 30000 RTP/AVP 8 101\r\n"),
        "{answer}"
    );
    assert!(!h.media.prompt_playing(0), "the greeting waits for the ACK");
    h.ack();
    assert!(h.media.prompt_playing(0), "the greeting plays");
    h.advance(greeting_and_beep() + Duration::from_secs(MAX_SECS - 1));
    assert_eq!(h.byes_to_carrier(), 0, "still recording");
    assert!(h.ended().is_empty());
    h.advance(Duration::from_millis(1_100));
    assert_eq!(h.byes_to_carrier(), 1, "max_secs ends the call with a BYE");
    let cdr = h.cdr();
    assert_eq!(cdr.disposition, Disposition::Voicemail);
    assert_eq!(cdr.voicemail_secs, Some(MAX_SECS as u32));
    assert_eq!(cdr.hangup_side, HangupSide::System);
    assert!(cdr.answered_at.is_none(), "no person answered");
    assert!(cdr.missed);
    assert!(!cdr.quality);
    assert_eq!(cdr.one_way_audio, None, "no callee, no one-way audio");
    let outcomes: Vec<_> = cdr.trail.iter().map(|s| s.outcome).collect();
    assert_eq!(outcomes, [TrailOutcome::Busy, TrailOutcome::Voicemail]);
    // No RTP reached this core: the recording was asked for and heard nothing.
    assert_eq!(cdr.recording_status, Some(RecordingStatus::Skipped));
    assert_eq!(cdr.recording_reason, Some(RecordingReason::NoMedia));
    assert!(h.pool_full());
}

#[test]
fn hash_by_sip_info_ends_the_message_early() {
    let mut h = harness("");
    h.busy_pbx();
    h.ack();
    h.advance(greeting_and_beep() + Duration::from_secs(3));
    let tag = h.carrier_tag();
    let info = carrier_request("INFO", 11, &tag, "Content-Type: application/dtmf-relay\n").replace(
        "Content-Length: 0\n\n",
        "Content-Length: 24\n\nSignal=#\r\nDuration=160\r\n",
    );
    h.feed(&info, CARRIER);
    assert_eq!(h.byes_to_carrier(), 1, "'#' ends the call");
    let cdr = h.cdr();
    assert_eq!(cdr.disposition, Disposition::Voicemail);
    assert_eq!(cdr.voicemail_secs, Some(3));
    assert!(h.pool_full());
}

#[test]
fn a_key_during_the_greeting_does_not_end_it_and_the_callers_bye_ends_the_message() {
    let mut h = harness("");
    h.busy_pbx();
    h.ack();
    let tag = h.carrier_tag();
    let info = carrier_request("INFO", 11, &tag, "Content-Type: application/dtmf-relay\n").replace(
        "Content-Length: 0\n\n",
        "Content-Length: 24\n\nSignal=#\r\nDuration=160\r\n",
    );
    h.feed(&info, CARRIER);
    assert!(h.ended().is_empty(), "'#' only ends a message");
    h.advance(greeting_and_beep() + Duration::from_secs(4));
    h.feed(&carrier_request("BYE", 12, &tag, ""), CARRIER);
    let cdr = h.cdr();
    assert_eq!(cdr.disposition, Disposition::Voicemail);
    assert_eq!(cdr.voicemail_secs, Some(4));
    assert_eq!(cdr.hangup_side, HangupSide::Caller);
    assert_eq!(h.byes_to_carrier(), 0);
    assert!(h.pool_full());
}

#[test]
fn a_caller_who_hangs_up_during_the_greeting_left_no_message() {
    let mut h = harness("");
    h.busy_pbx();
    h.ack();
    h.advance(Duration::from_millis(500));
    let tag = h.carrier_tag();
    h.feed(&carrier_request("BYE", 11, &tag, ""), CARRIER);
    let cdr = h.cdr();
    assert_eq!(cdr.disposition, Disposition::Busy, "the scheme's failure");
    assert_eq!(cdr.voicemail_secs, None);
    assert_eq!(cdr.hangup_side, HangupSide::Caller);
    assert_eq!(cdr.recording_status, Some(RecordingStatus::Skipped));
    assert_eq!(cdr.recording_reason, Some(RecordingReason::NoMedia));
    assert!(
        cdr.trail
            .iter()
            .any(|s| s.outcome == TrailOutcome::Voicemail)
    );
    h.advance(greeting_and_beep() * 2);
    assert_eq!(h.byes_to_carrier(), 0);
    assert!(h.pool_full());
}

#[test]
fn a_call_that_rings_out_goes_to_voicemail_too() {
    let mut h = harness("");
    h.feed(&invite(), CARRIER);
    let b = h.last_to_pbx(Method::Invite);
    h.feed(&pbx_response(&b, "180 Ringing", ""), PBX);
    h.advance(Duration::from_secs(21));
    assert!(
        h.to_pbx.iter().any(|m| m.method() == Some(&Method::Cancel)),
        "the ringing PBX is cancelled"
    );
    assert_eq!(h.finals_to_carrier(480), 0);
    h.last_to_carrier(200);
    h.ack();
    h.advance(greeting_and_beep() + Duration::from_secs(MAX_SECS + 1));
    let cdr = h.cdr();
    assert_eq!(cdr.disposition, Disposition::Voicemail);
    assert_eq!(cdr.voicemail_secs, Some(MAX_SECS as u32));
    assert!(h.pool_full());
}

#[test]
fn an_announced_call_keeps_its_dialog_and_a_cancelling_caller_never_reaches_voicemail() {
    let mut h = harness("announce = \"recorded\"");
    h.feed(&invite(), CARRIER);
    h.ack();
    h.advance(prompt("recorded") + Duration::from_millis(200));
    let b = h.last_to_pbx(Method::Invite);
    h.feed(&pbx_response(&b, "486 Busy Here", ""), PBX);
    assert_eq!(h.finals_to_carrier(200), 1, "no second 200");
    assert!(h.media.prompt_playing(0), "the greeting plays at once");
    h.advance(greeting_and_beep() + Duration::from_secs(MAX_SECS + 1));
    assert_eq!(h.cdr().disposition, Disposition::Voicemail);
    assert!(h.pool_full());

    let mut h = harness("");
    h.feed(&invite(), CARRIER);
    let b = h.last_to_pbx(Method::Invite);
    h.feed(&pbx_response(&b, "180 Ringing", ""), PBX);
    let cancel = invite()
        .replace("INVITE sip:", "CANCEL sip:")
        .replace("CSeq: 10 INVITE", "CSeq: 10 CANCEL");
    let cancel = cancel.split("Content-Type").next().unwrap().to_owned() + "Content-Length: 0\n\n";
    h.feed(&cancel, CARRIER);
    assert_eq!(h.finals_to_carrier(487), 1);
    assert_eq!(h.finals_to_carrier(200), 1, "only the CANCEL's 200");
    assert_eq!(h.cdr().disposition, Disposition::Cancelled);
}

#[test]
fn an_early_media_caller_gets_its_200_with_the_183s_sdp_when_voicemail_takes_it() {
    let mut h = harness("announce = \"recorded\"\nanswer = \"early\"");
    h.feed(&invite(), CARRIER);
    let early = body(&h.last_to_carrier(183));
    h.advance(prompt("recorded") + Duration::from_millis(200));
    let b = h.last_to_pbx(Method::Invite);
    h.feed(&pbx_response(&b, "486 Busy Here", ""), PBX);
    assert_eq!(
        body(&h.last_to_carrier(200)),
        early,
        "the 200 repeats the 183's SDP"
    );
    assert!(!h.media.prompt_playing(0), "the greeting waits for the ACK");
    h.ack();
    assert!(h.media.prompt_playing(0));
    h.advance(greeting_and_beep() + Duration::from_secs(2));
    let tag = h.carrier_tag();
    h.feed(&carrier_request("BYE", 11, &tag, ""), CARRIER);
    let cdr = h.cdr();
    assert_eq!(cdr.disposition, Disposition::Voicemail);
    assert_eq!(cdr.voicemail_secs, Some(2));
    assert!(h.pool_full());
}
