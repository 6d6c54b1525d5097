//! The traffic script: every visit of the simulated period with its visitor, length, kind and
//! calls, drawn once from the model and the seed. Every policy and pool size replays the same
//! script, so their results differ only by what the allocation does.

use super::draw::Draw;
use super::model::Model;

/// Seconds in a day.
pub const DAY_SECS: i64 = 86_400;
/// How many earlier human visitors a returning visitor is drawn from.
const RECENT_VISITORS: usize = 2_000;

/// What kind of visit this is, as the display rules and the snippet see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Campaign tags and a click id: a pool number.
    Paid,
    /// From a search engine without tags: the default number.
    Organic,
    /// A bot: `detected` by its user agent (no lease), `heartbeats` while it stays.
    Bot { detected: bool, heartbeats: bool },
}

/// One call a visit leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptCall {
    /// Seconds from the start of the simulated period.
    pub at: i64,
    pub talk_secs: i64,
    /// A second call by the same caller.
    pub repeat: bool,
}

/// One visit: its ground truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptVisit {
    /// The person (snippet cookie); returning visitors share it with their earlier visits.
    pub visitor: u32,
    /// Seconds from the start of the simulated period.
    pub start: i64,
    pub length_secs: i64,
    pub kind: Kind,
    pub calls: Vec<ScriptCall>,
}

impl ScriptVisit {
    pub fn end(&self) -> i64 {
        self.start + self.length_secs
    }
}

/// Every visit of the period, in start order.
pub fn script(model: &Model, seed: u64) -> Vec<ScriptVisit> {
    let mut draw = Draw::new(seed, 0);
    let mut people = People::default();
    let mut visits = Vec::new();
    for day in 0..i64::from(model.days) {
        let factor = model.traffic.weekday_factors[(day % 7) as usize];
        for (hour, per_hour) in model.traffic.visitors_per_hour.iter().enumerate() {
            let rate = per_hour * factor;
            if rate <= 0.0 {
                continue;
            }
            let hour_start = (day * 24 + hour as i64) * 3600;
            let mut t = hour_start as f64;
            loop {
                t += draw.exponential(3600.0 / rate);
                if t >= (hour_start + 3600) as f64 {
                    break;
                }
                visits.push(visit(model, &mut draw, &mut people, t as i64));
            }
        }
    }
    visits
}

/// Hands out visitor ids: new ones, or one of the recent human visitors.
#[derive(Default)]
struct People {
    next: u32,
    recent: Vec<u32>,
}

impl People {
    fn fresh(&mut self) -> u32 {
        self.next += 1;
        self.next
    }

    fn human(&mut self, draw: &mut Draw, returning_share: f64) -> u32 {
        if !self.recent.is_empty() && draw.chance(returning_share) {
            return self.recent[draw.below(self.recent.len())];
        }
        let id = self.fresh();
        if self.recent.len() < RECENT_VISITORS {
            self.recent.push(id);
        } else {
            let slot = draw.below(RECENT_VISITORS);
            self.recent[slot] = id;
        }
        id
    }
}

fn visit(model: &Model, draw: &mut Draw, people: &mut People, start: i64) -> ScriptVisit {
    if draw.chance(model.traffic.bot_share) {
        let kind = Kind::Bot {
            detected: draw.chance(model.bots.detected_share),
            heartbeats: draw.chance(model.bots.heartbeat_share),
        };
        let length_secs = i64::try_from(model.bots.stay_secs).unwrap_or(DAY_SECS);
        return ScriptVisit {
            visitor: people.fresh(),
            start,
            length_secs,
            kind,
            calls: Vec::new(),
        };
    }
    let visitor = people.human(draw, model.traffic.returning_share);
    let kind = if draw.chance(model.traffic.paid_share) {
        Kind::Paid
    } else {
        Kind::Organic
    };
    let length_secs = (draw.lognormal(model.visit.median_secs, model.visit.sigma) as i64).max(1);
    let mut visit = ScriptVisit {
        visitor,
        start,
        length_secs,
        kind,
        calls: Vec::new(),
    };
    if draw.chance(model.calls.probability) {
        visit.calls = calls(model, draw, &visit);
    }
    visit
}

/// The first call (during, after, or the next day) and maybe a repeat.
fn calls(model: &Model, draw: &mut Draw, visit: &ScriptVisit) -> Vec<ScriptCall> {
    let c = &model.calls;
    let pick = draw.unit();
    let at = if pick < c.during_visit_share {
        visit.start + (draw.unit() * visit.length_secs as f64) as i64
    } else if pick < c.during_visit_share + c.after_visit_share {
        visit.end() + draw.lognormal(c.after_visit_median_secs, c.after_visit_sigma) as i64
    } else {
        // The next day, in office hours (09:00-18:00 UTC).
        let next_day = (visit.start / DAY_SECS + 1) * DAY_SECS;
        next_day + 9 * 3600 + (draw.unit() * 9.0 * 3600.0) as i64
    };
    let first = ScriptCall {
        at,
        talk_secs: talk(draw, c.talk_median_secs),
        repeat: false,
    };
    let mut calls = vec![first];
    if draw.chance(c.repeat_share) {
        let gap = draw.lognormal(c.repeat_after_median_secs, 1.0) as i64;
        calls.push(ScriptCall {
            at: first.at + first.talk_secs + gap.max(1),
            talk_secs: talk(draw, c.talk_median_secs),
            repeat: true,
        });
    }
    calls
}

fn talk(draw: &mut Draw, median: f64) -> i64 {
    (draw.lognormal(median, 0.8) as i64).max(1)
}
