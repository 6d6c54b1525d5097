//! Prober tests on a virtual clock, through a real transaction layer (Timer E/F included).

use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::*;
use crate::sip::Transport;
use crate::sip::dialog::LocalEndpoint;
use crate::sip::message::{Screened, SipMessage, response_to, screen};
use crate::sip::transaction::{TimerConfig, TxEvent};

const T1: Duration = Duration::from_millis(500);
/// Timer F: 64*T1.
const TIMER_F: Duration = Duration::from_secs(32);

/// A prober wired to a transaction layer, with a virtual clock.
struct Rig {
    prober: Prober,
    layer: TransactionLayer,
    ids: Ids,
    local: LocalEndpoint,
    start: Instant,
    now: Instant,
    /// Every probe's first transmission, in order (retransmissions left out).
    probes: Vec<SipMessage>,
}

fn peer() -> Peer {
    Peer::new(Transport::Udp, "127.0.0.1:5080".parse().unwrap())
}

fn config(interval_secs: u64) -> HealthConfig {
    HealthConfig {
        interval: Duration::from_secs(interval_secs),
        ..HealthConfig::default()
    }
}

impl Rig {
    fn new(config: HealthConfig) -> Rig {
        let now = Instant::now();
        let mut prober = Prober::new(config, HealthTable::default());
        prober.set_destinations(
            vec![(peer(), "sip:127.0.0.1:5080".into())],
            now,
            wall(now, now),
        );
        let mut rig = Rig {
            prober,
            layer: TransactionLayer::new(TimerConfig {
                t1: T1,
                ..TimerConfig::default()
            }),
            ids: Ids::from_seed(3),
            local: LocalEndpoint {
                udp: Some("127.0.0.1:5060".parse().unwrap()),
                tcp: None,
                advertised_host: None,
                advertised_port: None,
            },
            start: now,
            now,
            probes: Vec::new(),
        };
        rig.step();
        rig
    }

    fn at(&self, secs: f64) -> Instant {
        self.start + Duration::from_secs_f64(secs)
    }

    /// Runs every timer up to `end` (the probe schedule and the transaction timers).
    fn run_until(&mut self, end: Instant) {
        loop {
            let next = [self.layer.poll_timeout(), self.prober.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(due) if due <= end => {
                    self.now = due.max(self.now);
                    self.step();
                }
                _ => break,
            }
        }
        self.now = end;
        self.step();
    }

    fn step(&mut self) {
        self.layer.handle_timeout(self.now);
        self.drain();
        let wall = wall(self.start, self.now);
        let mut ctx = ProbeCtx {
            now: self.now,
            wall,
            layer: &mut self.layer,
            ids: &mut self.ids,
            sender: ProbeSender {
                local: &self.local,
                user_agent: "calltrack",
            },
        };
        self.prober.handle_timeout(&mut ctx);
        while let Some(t) = self.layer.poll_transmit() {
            let Screened::Request(req) = screen(t.bytes, &Default::default(), &[]) else {
                panic!("prober sent something that is not a request");
            };
            if !self.probes.iter().any(|p| p.call_id() == req.call_id()) {
                self.probes.push(req);
            }
        }
    }

    fn drain(&mut self) {
        let wall = wall(self.start, self.now);
        while let Some(event) = self.layer.poll_event() {
            match event {
                TxEvent::Response { tx, response, .. } => {
                    let status = response.status().unwrap();
                    self.prober.on_response(self.now, wall, tx, status);
                }
                TxEvent::Timeout { tx } => self.prober.on_timeout(self.now, wall, tx),
                other => panic!("unexpected event {other:?}"),
            }
        }
    }

    /// The peer answers the latest probe with `status` at `secs`.
    fn answer(&mut self, secs: f64, status: u16) {
        self.run_until(self.at(secs));
        let probe = self.probes.last().unwrap().clone();
        let resp = response_to(&probe, status, "Answer", Some("uas"), None).finish();
        self.layer.handle_response(self.now, resp, peer());
        self.drain();
        self.step();
    }

    fn health(&self) -> TargetHealth {
        self.prober.table().get(&peer()).unwrap()
    }
}

fn wall(start: Instant, now: Instant) -> Timestamp {
    Timestamp::UNIX_EPOCH + now.duration_since(start)
}

#[test]
fn first_probe_goes_out_at_once_and_then_every_interval() {
    let mut rig = Rig::new(config(10));
    assert_eq!(rig.probes.len(), 1);
    rig.answer(0.05, 200);
    let h = rig.health();
    assert_eq!(h.state, HealthState::Up);
    assert_eq!(h.last_status, Some(200));
    assert_eq!(h.last_rtt, Some(Duration::from_millis(50)));
    rig.run_until(rig.at(9.9));
    assert_eq!(rig.probes.len(), 1, "no probe before the interval");
    rig.answer(10.0, 200);
    assert_eq!(rig.probes.len(), 2);
    rig.answer(20.0, 404);
    assert_eq!(rig.probes.len(), 3);
    assert_eq!(rig.health().state, HealthState::Up, "404 is an alive code");
}

#[test]
fn silent_peer_is_down_after_three_timer_f_timeouts() {
    let mut rig = Rig::new(config(10));
    // Probes at 0, 32, 64 (each waits for Timer F, 64*T1 = 32 s, before the next).
    rig.run_until(rig.at(TIMER_F.as_secs_f64() * 2.0 + 1.0));
    assert_eq!(rig.probes.len(), 3);
    assert_eq!(rig.health().state, HealthState::Unknown);
    assert_eq!(rig.health().consecutive_failures, 2);
    rig.run_until(rig.at(TIMER_F.as_secs_f64() * 3.0 - 0.01));
    assert_eq!(rig.health().state, HealthState::Unknown);
    rig.run_until(rig.at(TIMER_F.as_secs_f64() * 3.0));
    let h = rig.health();
    assert_eq!(h.state, HealthState::Down);
    assert_eq!(h.last_status, None);
    assert_eq!(h.since, wall(rig.start, rig.at(96.0)));
    assert!(!rig.prober.table().is_up(&peer()));
}

#[test]
fn down_peer_comes_back_after_two_successes_and_flapping_does_not_count() {
    let mut rig = Rig::new(config(60));
    for (i, secs) in [0.1, 60.0, 120.0].into_iter().enumerate() {
        rig.answer(secs + 0.1, 503);
        assert_eq!(rig.probes.len(), i + 1);
    }
    assert_eq!(rig.health().state, HealthState::Down);
    assert_eq!(rig.health().last_status, Some(503));
    rig.answer(180.1, 200);
    rig.answer(240.1, 500);
    rig.answer(300.1, 200);
    assert_eq!(
        rig.health().state,
        HealthState::Down,
        "success, failure, success"
    );
    rig.answer(360.1, 200);
    assert_eq!(rig.health().state, HealthState::Up);
    assert_eq!(rig.health().since, wall(rig.start, rig.at(360.1)));
}

#[test]
fn provisional_answers_do_not_end_a_probe() {
    let mut rig = Rig::new(config(10));
    rig.answer(0.1, 100);
    assert_eq!(rig.health().state, HealthState::Unknown);
    rig.run_until(rig.at(TIMER_F.as_secs_f64() + 0.2));
    assert_eq!(rig.health().consecutive_failures, 1);
}

#[test]
fn transport_error_counts_as_a_failure_at_once() {
    let mut rig = Rig::new(HealthConfig {
        failures_to_down: 1,
        ..config(5)
    });
    rig.layer.handle_transport_error(rig.now, peer());
    rig.drain();
    assert_eq!(rig.health().state, HealthState::Down);
    rig.run_until(rig.at(5.0));
    assert_eq!(rig.probes.len(), 2, "the next probe keeps the interval");
}

#[test]
fn disabled_prober_lists_nothing_and_everything_is_up() {
    let rig = Rig::new(HealthConfig {
        enabled: false,
        ..config(5)
    });
    assert!(rig.probes.is_empty());
    assert!(rig.prober.table().is_empty());
    assert_eq!(rig.prober.poll_timeout(), None);
}

#[test]
fn reload_keeps_known_peers_and_forgets_gone_ones() {
    let mut rig = Rig::new(config(10));
    rig.answer(0.1, 200);
    let other = Peer::new(Transport::Udp, "127.0.0.1:5090".parse().unwrap());
    let list = vec![
        (peer(), "sip:127.0.0.1:5080".into()),
        (other, "sip:127.0.0.1:5090".into()),
    ];
    let wall_now = wall(rig.start, rig.now);
    rig.prober.set_destinations(list, rig.now, wall_now);
    assert_eq!(rig.health().state, HealthState::Up);
    assert_eq!(
        rig.prober.poll_timeout(),
        Some(rig.now),
        "the new peer is probed at once"
    );
    rig.prober.set_destinations(
        vec![(other, "sip:127.0.0.1:5090".into())],
        rig.now,
        wall_now,
    );
    assert!(rig.prober.table().get(&peer()).is_none());
    assert_eq!(rig.prober.table().len(), 1);
}
