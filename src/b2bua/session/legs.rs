//! The two legs' dialogs: building the caller's (UAS) and the callee's (UAC) from the
//! INVITE, learning tags, targets and routes from the other side, and the B-leg CANCEL.

use crate::sip::dialog::{Dialog, LocalEndpoint};
use crate::sip::message::{HeaderName, Method};
use crate::sip::{Peer, SipMessage};

use crate::b2bua::session::{CalleeLeg, CallerLeg, Ctx, Opening};
use crate::routing::hosts::Target;
use crate::sip::message::fit_to_forward;

/// The caller leg's dialog as UAS (RFC 3261 §12.1.1).
pub(super) fn caller_leg(ctx: &mut Ctx<'_>, o: &Opening) -> CallerLeg {
    let invite = &o.invite;
    let from = invite.from().ok();
    let to = invite.to().ok();
    let remote_target = invite.contact().and_then(Result::ok).map_or_else(
        || from.as_ref().map_or("", |f| f.uri).to_string(),
        |c| c.uri.to_string(),
    );
    let route_set: Vec<String> = invite
        .values(&HeaderName::RecordRoute)
        .map(str::to_string)
        .collect();
    let peer = in_dialog_peer(&route_set, &remote_target, o.peer);
    let invite_seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
    CallerLeg {
        dialog: Dialog {
            call_id: invite.call_id().unwrap_or_default().to_string(),
            local_tag: ctx.ids.tag(),
            remote_tag: from.as_ref().and_then(|f| f.tag()).map(str::to_string),
            local_uri: format!("<{}>", to.as_ref().map_or("", |t| t.uri)),
            remote_uri: format!("<{}>", from.as_ref().map_or("", |f| f.uri)),
            local_seq: ctx.ids.small_seq(),
            remote_seq: Some(invite_seq),
            remote_target,
            route_set,
            peer,
            transport: o.peer.transport,
        },
        invite_tx: o.invite_tx,
        invite_seq,
        peer: o.peer,
        acked: false,
    }
}

/// Where in-dialog requests to the caller go: the first route or the remote target when it
/// names an IP address, else back where the INVITE came from (NAT-friendly, like rport).
fn in_dialog_peer(route_set: &[String], target: &str, source: Peer) -> Peer {
    let next = route_set.first().map_or(target, String::as_str);
    crate::sip::dialog::uri_peer(next, source.transport).unwrap_or(source)
}

/// One attempt's dialog as UAC (RFC 3261 §12.1.2), before any response: a Call-ID and From
/// tag of its own.
pub(super) fn callee_leg(
    ctx: &mut Ctx<'_>,
    a_invite: &SipMessage,
    caller: &str,
    target: &Target,
) -> CalleeLeg {
    let max = ctx.rules.max_value_bytes;
    let caller_uri = caller_uri(a_invite, caller, ctx.local, target.peer.transport, max);
    let invite_seq = ctx.ids.small_seq();
    CalleeLeg {
        dialog: Dialog {
            call_id: ctx.ids.call_id(),
            local_tag: ctx.ids.tag(),
            remote_tag: None,
            local_uri: caller_uri,
            remote_uri: format!("<{}>", target.uri),
            local_seq: invite_seq,
            remote_seq: None,
            remote_target: target.uri.clone(),
            route_set: Vec::new(),
            peer: target.peer,
            transport: target.peer.transport,
        },
        invite_tx: None,
        invite: None,
        invite_seq,
        provisional_seen: false,
        final_seen: false,
        cancel_wanted: false,
        cancel_sent: false,
        acked: false,
        tcp_upgraded: false,
        auth_tried: false,
    }
}

/// The B-leg From: the caller's display name and number at calltrack's host, so the PBX
/// sees who calls without learning the carrier's topology. A display name longer than
/// `max_display` bytes or holding control bytes is dropped; the number is kept.
fn caller_uri(
    a_invite: &SipMessage,
    caller: &str,
    local: &LocalEndpoint,
    transport: crate::sip::Transport,
    max_display: usize,
) -> String {
    let host = local.host_port(transport);
    let display = a_invite
        .from()
        .ok()
        .and_then(|f| f.display)
        .filter(|d| !d.is_empty() && fit_to_forward(d.as_bytes(), max_display));
    let user = if caller.is_empty() {
        "anonymous"
    } else {
        caller
    };
    match display {
        Some(name) if !name.contains('"') || name.starts_with('"') => {
            format!("\"{}\" <sip:{user}@{host}>", name.trim_matches('"'))
        }
        _ => format!("<sip:{user}@{host}>"),
    }
}

/// Learns the remote tag, target and route set from a response that creates or confirms the
/// dialog (RFC 3261 §12.1.2: the route set is the Record-Route list reversed).
pub(super) fn learn_remote(dialog: &mut Dialog, resp: &SipMessage) {
    let Some(tag) = resp.to().ok().and_then(|t| t.tag()).map(str::to_string) else {
        return;
    };
    if dialog.remote_tag.is_none() {
        dialog.route_set = resp
            .values(&HeaderName::RecordRoute)
            .map(str::to_string)
            .collect();
        dialog.route_set.reverse();
    }
    dialog.remote_tag = Some(tag);
    learn_target(dialog, resp);
}

/// A target refresh: the Contact of a request or 2xx becomes the remote target (§12.2).
pub(super) fn learn_target(dialog: &mut Dialog, msg: &SipMessage) {
    if let Some(Ok(contact)) = msg.contact() {
        dialog.remote_target = contact.uri.to_string();
        let next = dialog.route_set.first().map_or(contact.uri, String::as_str);
        if let Some(peer) = crate::sip::dialog::uri_peer(next, dialog.peer.transport) {
            dialog.peer = peer;
        }
    }
}

/// The CANCEL for a client INVITE (RFC 3261 §9.1): same Request-URI, Call-ID, From, To,
/// CSeq number and top Via (branch) as the INVITE, and its Route headers.
pub(super) fn cancel_for(invite: &SipMessage) -> SipMessage {
    let mut b = crate::sip::message::MessageBuilder::request(
        &Method::Cancel,
        invite.request_uri().unwrap_or_default(),
    );
    if let Some(via) = invite.values(&HeaderName::Via).next() {
        b.header(HeaderName::Via, via);
    }
    b.copy_headers(invite, HeaderName::Route);
    b.header(HeaderName::MaxForwards, "70");
    b.copy_headers(invite, HeaderName::From);
    b.copy_headers(invite, HeaderName::To);
    b.copy_headers(invite, HeaderName::CallId);
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
    b.header(HeaderName::CSeq, &format!("{seq} CANCEL"));
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn cancel_copies_the_invite_identity() {
        let invite = SipMessage::parse(
            Bytes::from_static(
                b"INVITE sip:1@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb1;rport\r\n\
Max-Forwards: 69\r\nFrom: <sip:2@h>;tag=f\r\nTo: <sip:1@127.0.0.1:5080>\r\nCall-ID: cid\r\nCSeq: 7 INVITE\r\nl: 0\r\n\r\n",
            ),
            &Default::default(),
        )
        .unwrap();
        let cancel = cancel_for(&invite);
        assert_eq!(cancel.method(), Some(&Method::Cancel));
        assert_eq!(cancel.top_via().unwrap().branch(), Some("z9hG4bKb1"));
        assert_eq!(cancel.cseq().unwrap().seq, 7);
        assert_eq!(cancel.cseq().unwrap().method, Method::Cancel);
        assert_eq!(cancel.call_id(), Some("cid"));
    }
}
