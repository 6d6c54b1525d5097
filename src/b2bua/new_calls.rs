//! New INVITEs: asking `plan_invite` for the decision, then executing it: a refusal is
//! answered, a bridge plan opens its session.

use std::time::Instant;

use crate::sip::transaction::TxId;
use crate::sip::{Peer, SipMessage};

use crate::b2bua::session::{CallSession, Opening};
use crate::b2bua::{B2bua, CallKey};
use crate::call::attribution::NumberKindTag;
use crate::call::{CallContext, Decision, plan_invite};

impl B2bua {
    pub(super) fn on_new_invite(&mut self, now: Instant, tx: TxId, invite: SipMessage, peer: Peer) {
        let ctx = CallContext {
            invite: &invite,
            source: peer,
            config: &self.config,
            hosts: &self.hosts,
            health: self.prober.table(),
            leases: &self.leases,
            blacklist: &self.blacklist,
            history: &self.history,
            local: &self.local,
            now: self.clock.at(now),
            active_calls: self.live_calls_everywhere(),
            shutting_down: self.shutting_down,
        };
        match plan_invite(&ctx) {
            Decision::Reject(rejection) => {
                self.reject_invite(now, tx, &invite, peer, &rejection, None);
            }
            Decision::Refuse(refusal) => {
                let rejection = refusal.rejection.clone();
                self.reject_invite(now, tx, &invite, peer, &rejection, Some(&refusal));
            }
            Decision::Bridge(plan) => self.open_call(now, tx, invite, peer, *plan),
        }
    }

    pub(super) fn open_call(
        &mut self,
        now: Instant,
        tx: TxId,
        invite: SipMessage,
        peer: Peer,
        mut plan: crate::call::BridgePlan,
    ) {
        let key = CallKey(self.next_key);
        self.next_key += self.key_step;
        let span = tracing::info_span!(
            "call",
            call_id = invite.call_id().unwrap_or_default(),
            tracking_number = %plan.tracking.number
        );
        span.in_scope(|| {
            tracing::info!(caller = %plan.caller, target = %plan.target.uri,
                kind = plan.attribution.number_kind.as_str(), "bridging call");
        });
        let wall = self.clock.at(now);
        let site = plan.tracking.site.clone();
        let media = self.config.media_mode(&plan.tracking, &plan.route.scheme);
        let record = self.config.records(&plan.tracking, &plan.route.scheme);
        // A reserve-number call asked for the overflow code is relayed to be spoken to.
        let asks_code = crate::call::overflow::asks_code(&self.config, &plan.tracking);
        let relay_media = record || asks_code || media == crate::config::MediaMode::Relay;
        if relay_media && !self.media_ports_for(now, key) {
            drop(span);
            self.refuse_no_ports(now, tx, &invite, peer, &plan);
            return;
        }
        self.history
            .record_attributed(&plan.caller, wall, plan.held.as_ref());
        let (stamp, first_call) = (std::mem::take(&mut plan.stamp), plan.first_call);
        if plan.attribution.number_kind == NumberKindTag::Dynamic
            || plan.attribution.number_kind == NumberKindTag::Unattributed
        {
            self.leases.call_started(&plan.tracking.number);
        }
        if plan.unheld {
            self.count_unheld(&plan.tracking, wall);
        }
        let voice = relay_media.then(|| self.voice_plan(&plan)).flatten();
        let voicemail = relay_media
            .then(|| self.voicemail_plan(&plan.tracking, &plan.route.scheme))
            .flatten();
        let menu_default =
            crate::call::menu::menu_of(&self.config, &plan.route).map(|m| m.default.clone());
        let opening = Opening {
            key,
            uid: self.ids.call_uid(),
            invite_tx: tx,
            invite,
            peer,
            plan,
            ring_timeout: self.config.calls.ring_timeout,
            max_duration: self.config.calls.max_call_duration,
            udp_max_request_bytes: self.config.sip.udp_max_request_bytes,
            stamp,
            first_call,
            quality_min_talk: self.config.quality_min_talk(&site),
            relay_media,
            record,
            span,
            voice,
            voicemail,
        };
        let session = {
            let mut ctx = self.ctx(now);
            CallSession::open(&mut ctx, opening)
        };
        let unspoken = !session.is_spoken_to();
        self.sessions.insert(key, Box::new(session));
        self.stats.calls_bridged += 1;
        if let Some(default) = menu_default.filter(|_| unspoken) {
            // A menu call calltrack cannot speak to (no G.711, no relay): its default rings.
            self.route_branch_of(key, now, &default);
        }
        self.after_session(key, now);
    }

    /// With `[media] on_no_ports = "refuse"`, the first stream's ports are taken for call
    /// `key` now; `false` when none are free. With `"direct"` nothing is taken here (a call
    /// that finds no ports at its first SDP is bridged direct by the media table).
    /// A bridged call to a pool number nobody holds (attributed to nobody or to its last
    /// holder): leak detection may quarantine it.
    fn count_unheld(&self, tracking: &crate::config::TrackingNumber, wall: jiff::Timestamp) {
        let rule = crate::lease::LeakRule {
            calls: self.config.tracking.leak_calls,
            window: jiff::SignedDuration::try_from(self.config.tracking.leak_window)
                .unwrap_or(jiff::SignedDuration::MAX),
        };
        if let Some(q) = self.leases.unheld_call(&tracking.number, rule, wall) {
            tracing::warn!(tracking_number = %q.number, site = %q.site, pool = %q.pool,
                reason = %q.reason, "pool number quarantined: it keeps ringing while nobody holds it (restore: POST /v1/admin/numbers/{{number}}/restore)");
        }
    }

    fn media_ports_for(&self, now: Instant, key: CallKey) -> bool {
        self.config.media.on_no_ports != crate::config::OnNoPorts::Refuse
            || self.media.reserve(now, key.0).is_ok()
    }

    /// No RTP ports for a relayed call and `on_no_ports = "refuse"`: 503 with a `Reason`
    /// header (RFC 3326), no Retry-After (the next call may find ports: the carrier must not
    /// take calltrack as down), counted and recorded as `no_media_ports`.
    fn refuse_no_ports(
        &mut self,
        now: Instant,
        tx: TxId,
        invite: &SipMessage,
        peer: Peer,
        plan: &crate::call::BridgePlan,
    ) {
        metrics::counter!("calltrack_media_ports_exhausted_total", "outcome" => "refused")
            .increment(1);
        tracing::warn!(tracking_number = %plan.tracking.number, "no RTP ports left: call refused");
        let refusal = crate::call::Refusal {
            rejection: crate::sip::message::Rejection::new(503, "Service Unavailable")
                .because(NO_MEDIA_PORTS),
            tracking: plan.tracking.clone(),
            caller: plan.caller.clone(),
            attribution: plan.attribution.clone(),
        };
        self.reject_invite(now, tx, invite, peer, &refusal.rejection, Some(&refusal));
    }
}

/// The cause of a refusal for want of RTP ports (`reject_reason`, `calltrack_rejected_total`).
pub(super) const NO_MEDIA_PORTS: &str = "no_media_ports";
