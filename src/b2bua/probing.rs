//! The B2BUA's side of target health: it lists the probe destinations, lets the prober send
//! through its transaction layer on its clock, and hands probe answers to the prober (never
//! to a call). No probe is sent once shutdown has begun.

use std::time::Instant;

use crate::sip::SipMessage;
use crate::sip::transaction::TxId;

use crate::b2bua::B2bua;
use crate::health::{ProbeCtx, ProbeSender, probe_destinations};

impl B2bua {
    /// Lists the destinations again from the config and the resolved names.
    pub(super) fn refresh_probes(&mut self, now: Instant) {
        let list = probe_destinations(&self.config, &self.hosts);
        self.prober.set_destinations(list, now, self.clock.at(now));
        self.probes_refresh = now + self.config.health.interval;
    }

    /// The next probe or destination refresh (`None` when probing is off or shutting down).
    /// Probing runs in the first shard only (the health table is shared), while enabled and
    /// until shutdown.
    fn probes_here(&self) -> bool {
        !self.shutting_down && self.config.health.enabled && self.seat.index() == 0
    }

    pub(super) fn probe_timeout(&self) -> Option<Instant> {
        if !self.probes_here() {
            return None;
        }
        [self.prober.poll_timeout(), Some(self.probes_refresh)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Sends the probes due at `now`.
    pub(super) fn run_probes(&mut self, now: Instant) {
        if !self.probes_here() {
            return;
        }
        if self.probes_refresh <= now {
            self.refresh_probes(now);
        }
        let mut ctx = ProbeCtx {
            now,
            wall: self.clock.at(now),
            layer: &mut self.layer,
            ids: &mut self.ids,
            sender: ProbeSender {
                local: &self.local,
                user_agent: &self.config.sip.user_agent,
            },
        };
        self.prober.handle_timeout(&mut ctx);
    }

    pub(super) fn on_probe_response(&mut self, now: Instant, tx: TxId, response: &SipMessage) {
        if let Some(status) = response.status() {
            self.prober.on_response(now, self.clock.at(now), tx, status);
        }
    }

    /// A response to a call's INVITE comes from the target rung: a target marked down that
    /// answers a call is alive, and routing may use it again.
    pub(super) fn note_call_response(&mut self, now: Instant, tx: TxId) {
        if !self.config.health.enabled {
            return;
        }
        let peer = self
            .owners
            .get(&tx)
            .and_then(|key| self.sessions.get(&key))
            .and_then(|s| s.attempt_peer(tx));
        if let Some(peer) = peer {
            self.prober.on_call_response(peer, self.clock.at(now));
        }
    }

    pub(super) fn on_probe_timeout(&mut self, now: Instant, tx: TxId) {
        self.prober.on_timeout(now, self.clock.at(now), tx);
    }

    /// Forwarding-target health as the prober sees it.
    pub fn health(&self) -> &crate::health::HealthTable {
        self.prober.table()
    }
}
