//! New INVITEs: planning the call, opening its session, the attribution stamp.

use std::time::Instant;

use crate::sip::message::Rejection;
use crate::sip::transaction::TxId;
use crate::sip::{Peer, SipMessage};

use super::super::attribution::{NumberKindTag, StampRules, stamp};
use super::super::edge;
use super::super::session::{CallSession, Opening};
use super::super::{CallContext, Decision, plan_invite};
use super::{B2bua, CallKey};

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
            now: self.clock.at(now),
            active_calls: self.live_calls(),
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
            Decision::Bridge(plan) if !plan.route.has_targets() => {
                let rejection = Rejection::new(500, "Server Internal Error").because("no_targets");
                let refusal = plan.refused(rejection.clone());
                self.reject_invite(now, tx, &invite, peer, &rejection, Some(&refusal));
            }
            Decision::Bridge(plan) => match edge::untrusted_target(&self.config, &plan) {
                None => self.open_call(now, tx, invite, peer, *plan),
                Some(outside) => {
                    tracing::warn!(target = %outside, "forwarding target outside [pbx] trusted: call refused");
                    let rejection =
                        Rejection::new(500, "Server Internal Error").because("untrusted_target");
                    let refusal = plan.refused(rejection.clone());
                    self.reject_invite(now, tx, &invite, peer, &rejection, Some(&refusal));
                }
            },
        }
    }

    pub(super) fn open_call(
        &mut self,
        now: Instant,
        tx: TxId,
        invite: SipMessage,
        peer: Peer,
        plan: super::super::BridgePlan,
    ) {
        let key = CallKey(self.next_key);
        self.next_key += 1;
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
        let first_call = self.history.first_call(&plan.caller, wall);
        if plan.attribution.number_kind == NumberKindTag::Dynamic
            || plan.attribution.number_kind == NumberKindTag::Unattributed
        {
            self.leases.call_started(&plan.tracking.number);
        }
        let stamp = self.stamp_for(&plan, first_call);
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
            quality_min_talk: self.config.tracking.quality_min_talk,
            span,
        };
        let session = {
            let mut ctx = self.ctx(now);
            CallSession::open(&mut ctx, opening)
        };
        self.sessions.insert(key, session);
        self.stats.calls_bridged += 1;
        self.after_session(key, now);
    }

    /// The attribution headers for the PBX (RFC 5806 Diversion optional).
    pub(super) fn stamp_for(
        &self,
        plan: &super::super::BridgePlan,
        first_call: bool,
    ) -> Vec<(String, String)> {
        let tracking = &self.config.tracking;
        let host = self.local.host_port(plan.target.peer.transport);
        let rules = StampRules {
            prefix: &tracking.header_prefix,
            diversion: tracking.diversion,
            tracking_number: &plan.tracking.number,
            host: &host,
        };
        stamp(&plan.attribution, first_call, &rules)
    }
}
