//! The replay: a virtual clock over a queue of events (visit starts, heartbeats, leaving,
//! calls ringing and ending, a sample every minute), fed to one [`Allocator`]. The display
//! rules decide who gets a pool number, as in the snippet API; each call is judged against
//! the visit that caused it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};

use super::allocator::{Allocator, Attributed};
use super::explain::{Levers, When};
use super::model::Model;
use super::script::{DAY_SECS, Kind, ScriptVisit};
use super::site;
use super::tally::{Outcome, Tally};
use crate::display::{self, Choice};

/// The start of every simulated period: Monday 2026-03-02 00:00 UTC.
pub const EPOCH: Timestamp = Timestamp::constant(1_772_409_600, 0);
/// How many past holders per number the what-ifs look at (as the lease table keeps).
const RECENT: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Start(usize),
    Heartbeat(usize),
    Leave(usize),
    /// Visit index, call index within the visit.
    Ring(usize, usize),
    CallEnd(usize),
    Sample,
}

/// What a visit was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Pool(usize),
    Default,
    Reserve,
}

struct Replay<'a, A: Allocator> {
    model: &'a Model,
    visits: &'a [ScriptVisit],
    site: crate::config::SiteConfig,
    alloc: A,
    shown: Vec<Shown>,
    /// The visitors last granted each number, newest last (at most [`RECENT`]): for the
    /// "last holder" and "recent holders" what-ifs.
    recent: Vec<VecDeque<u32>>,
    /// How each visit's first call was attributed: for the "repeat caller" what-if.
    first: HashMap<usize, Outcome>,
    queue: BinaryHeap<Reverse<(i64, u64, Event)>>,
    seq: u64,
    tally: Tally,
}

/// Replays `visits` against `alloc` with a pool of `size` numbers.
pub fn replay<A: Allocator>(model: &Model, visits: &[ScriptVisit], size: usize, alloc: A) -> Tally {
    let mut r = Replay {
        model,
        visits,
        site: site::site(model, size),
        alloc,
        shown: vec![Shown::Default; visits.len()],
        recent: vec![VecDeque::new(); size],
        first: HashMap::new(),
        queue: BinaryHeap::new(),
        seq: 0,
        tally: Tally::default(),
    };
    for (i, v) in visits.iter().enumerate() {
        r.push(v.start, Event::Start(i));
    }
    let end = i64::from(model.days) * DAY_SECS;
    for minute in 0..end / 60 {
        r.push(minute * 60, Event::Sample);
    }
    while let Some(Reverse((at, _, event))) = r.queue.pop() {
        r.handle(at, event);
    }
    r.tally
}

fn at(secs: i64) -> Timestamp {
    EPOCH
        .saturating_add(SignedDuration::from_secs(secs))
        .unwrap_or(Timestamp::MAX)
}

impl<A: Allocator> Replay<'_, A> {
    fn push(&mut self, time: i64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse((time, self.seq, event)));
    }

    fn handle(&mut self, time: i64, event: Event) {
        let now = at(time);
        match event {
            Event::Start(i) => self.start(i, time),
            Event::Heartbeat(i) => self.heartbeat(i, time),
            Event::Leave(i) => self.alloc.release(i, now),
            Event::Ring(i, k) => self.ring(i, k, time),
            Event::CallEnd(number) => self.alloc.call_ended(number, now),
            Event::Sample => {
                let busy = self.alloc.busy(now);
                self.tally.busy_samples.push(busy);
            }
        }
    }

    /// The page loads: detected bots get the default number, the others what the display
    /// rules and the pool give them; heartbeats, leaving and calls follow.
    fn start(&mut self, i: usize, time: i64) {
        let v = &self.visits[i];
        let shown = match v.kind {
            Kind::Bot { detected: true, .. } => Shown::Default,
            _ => self.show(i, v, time),
        };
        self.shown[i] = shown;
        if matches!(shown, Shown::Pool(_)) && self.alloc.heartbeats() {
            let beats = !matches!(
                v.kind,
                Kind::Bot {
                    heartbeats: false,
                    ..
                }
            );
            if beats {
                self.push(time + self.heartbeat_secs(), Event::Heartbeat(i));
            }
            if !matches!(v.kind, Kind::Bot { .. }) {
                self.push(v.end(), Event::Leave(i));
            }
        }
        for k in 0..v.calls.len() {
            self.push(v.calls[k].at, Event::Ring(i, k));
        }
    }

    fn show(&mut self, i: usize, v: &ScriptVisit, time: i64) -> Shown {
        let now = at(time);
        let visit = site::visit(i, v);
        match display::choose(&self.site, &visit, now) {
            Choice::Pools(_) => match self.alloc.grant(i, v.visitor, visit, now) {
                Some(number) => {
                    if let Some(recent) = self.recent.get_mut(number) {
                        if recent.len() >= RECENT {
                            recent.pop_front();
                        }
                        recent.push_back(v.visitor);
                    }
                    Shown::Pool(number)
                }
                None => {
                    self.tally.exhausted_minutes.insert(time / 60);
                    Shown::Reserve
                }
            },
            Choice::Default | Choice::Static(_) => Shown::Default,
        }
    }

    fn heartbeat_secs(&self) -> i64 {
        i64::try_from(self.model.pool.heartbeat_secs).unwrap_or(DAY_SECS)
    }

    /// The snippet beats while the page is open (strictly before leaving).
    fn heartbeat(&mut self, i: usize, time: i64) {
        self.alloc.heartbeat(i, at(time));
        let next = time + self.heartbeat_secs();
        if next < self.visits[i].end() {
            self.push(next, Event::Heartbeat(i));
        }
    }

    /// A call rings: judged against the lease holding the number it dials.
    fn ring(&mut self, i: usize, k: usize, time: i64) {
        let v = &self.visits[i];
        let call = v.calls[k];
        let mut levers = Levers::default();
        let outcome = match self.shown[i] {
            Shown::Default => {
                self.tally.default_calls += 1;
                return;
            }
            Shown::Reserve => Outcome::Reserve,
            Shown::Pool(number) => {
                let outcome = match self.alloc.holder(number, v.visitor, at(time)) {
                    Attributed::Visitor { who, facts } => {
                        if let Some(facts) = facts {
                            self.tally.judged.push((facts, who == v.visitor));
                        }
                        if who == v.visitor {
                            Outcome::Correct
                        } else {
                            Outcome::Wrong
                        }
                    }
                    Attributed::Nobody => Outcome::Nobody,
                };
                let recent = self.recent.get(number);
                let last = recent.and_then(|r| r.back()).copied();
                if outcome == Outcome::Nobody && last == Some(v.visitor) {
                    self.tally.last_holder_callers += 1;
                }
                levers = Levers {
                    repeat_earlier_right: call.repeat
                        && self.first.get(&i) == Some(&Outcome::Correct),
                    last_holder: outcome == Outcome::Nobody && last == Some(v.visitor),
                    recent_holder: recent.is_some_and(|r| r.contains(&v.visitor)),
                };
                self.alloc.call_started(number);
                self.push(time + call.talk_secs, Event::CallEnd(number));
                outcome
            }
        };
        self.first.entry(i).or_insert(outcome);
        let freeze = i64::try_from(self.model.pool.freeze_secs).unwrap_or(DAY_SECS);
        let when = When::of(call.at, v.start, v.end(), freeze, call.repeat);
        self.tally.explain.note(when, outcome, levers);
        self.tally.count(outcome, call.repeat);
    }
}
