//! Digest authentication toward a PBX that challenges an attempt's INVITE (401/407): the
//! INVITE is sent once more with credentials (RFC 3261 §22.2, §8.1.3.5): same Call-ID and
//! tags, CSeq + 1, a new branch. A second challenge, a realm we hold no credentials for or a
//! challenge we cannot parse ends the attempt with the challenge's status.

use crate::sip::SipMessage;
use crate::sip::digest::{self, Challenge};
use crate::sip::message::{HeaderName, MessageBuilder, Method};

use crate::b2bua::session::{CallSession, Ctx, Phase};
use crate::routing::dialer::AttemptId;

impl CallSession {
    /// Re-sends attempt `id`'s INVITE with credentials; false when it cannot (the 401/407 is
    /// then an ordinary failure).
    pub(super) fn answer_challenge(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: AttemptId,
        resp: &SipMessage,
    ) -> bool {
        let Some(dialer) = self.dialing().map(|d| &d.dialer) else {
            return false;
        };
        let Some(creds) = dialer.target(id).and_then(|t| t.auth.clone()) else {
            return false;
        };
        let b = &self.attempts[id];
        if b.auth_tried || b.cancel_wanted || self.phase != Phase::Setup || !dialer.is_live(id) {
            return false;
        }
        let Some(sent) = b.invite.clone() else {
            return false;
        };
        let proxy = resp.status() == Some(407);
        let (asked, answer) = if proxy {
            ("Proxy-Authenticate", "Proxy-Authorization")
        } else {
            ("WWW-Authenticate", "Authorization")
        };
        let Some(challenge) = Challenge::best(extension_values(resp, asked)) else {
            tracing::info!(attempt = id, "digest challenge not understood");
            return false;
        };
        if creds.realm.as_ref().is_some_and(|r| *r != challenge.realm) {
            tracing::info!(attempt = id, realm = %challenge.realm, "digest realm not ours");
            return false;
        }
        let cnonce = ctx.ids.tag();
        let uri = sent.request_uri().unwrap_or_default().to_string();
        let request = digest::Request {
            method: "INVITE",
            uri: &uri,
            username: &creds.username,
            password: &creds.password,
            cnonce: &cnonce,
            nc: 1,
        };
        let value = digest::authorization(&challenge, &request);
        metrics::counter!("calltrack_digest_answers_total").increment(1);
        tracing::debug!(attempt = id, realm = %challenge.realm, user = %creds.username, "answering digest challenge");
        let b = &mut self.attempts[id];
        b.auth_tried = true;
        b.provisional_seen = false;
        b.final_seen = false;
        b.invite_seq = b.invite_seq.wrapping_add(1);
        b.dialog.local_seq = b.invite_seq;
        let via = ctx.local.via(b.dialog.transport, &ctx.ids.branch());
        let invite = with_credentials(&sent, &via, b.invite_seq, answer, &value);
        if !self.send_invite(ctx, id, invite) {
            self.attempts[id].final_seen = true;
            return false;
        }
        true
    }
}

/// Every value of an extension header (not split at commas: challenges contain them).
fn extension_values<'a>(msg: &'a SipMessage, name: &'a str) -> impl Iterator<Item = &'a str> {
    msg.headers()
        .iter()
        .filter(move |f| msg.field_name(f).eq_ignore_ascii_case(name.as_bytes()))
        .filter_map(|f| msg.field_str(f))
}

/// The same INVITE with a new top Via, the next CSeq and the credentials; every other
/// header and the body are kept byte for byte (earlier credentials are dropped).
fn with_credentials(
    invite: &SipMessage,
    via: &str,
    seq: u32,
    name: &str,
    value: &str,
) -> SipMessage {
    let mut b = MessageBuilder::request(&Method::Invite, invite.request_uri().unwrap_or_default());
    b.header(HeaderName::Via, via);
    for field in invite.headers() {
        let raw = invite.field_name(field);
        let stale = raw.eq_ignore_ascii_case(b"Authorization")
            || raw.eq_ignore_ascii_case(b"Proxy-Authorization");
        match field.name {
            HeaderName::Via | HeaderName::ContentLength | HeaderName::ContentType => {}
            HeaderName::CSeq => {
                b.header(HeaderName::CSeq, &format!("{seq} INVITE"));
            }
            _ if stale => {}
            _ => {
                b.raw_header(raw, invite.field_value(field));
            }
        }
    }
    b.raw_header(name.as_bytes(), value.as_bytes());
    b.body(invite.header(&HeaderName::ContentType), invite.body())
}
