//! The figures of one report line: [`Sums`] are additive (a total is the sum of its rows),
//! [`Figures`] are what is shown, derived from the sums (rates, averages, money per call, ROI).
//!
//! Money is kept in minor units (kopecks, cents) and shown as a decimal string with two
//! places; a ratio whose denominator is zero is `null`.

use std::ops::AddAssign;

use serde::Serialize;

/// Additive counts and sums of one line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    pub calls: i64,
    /// Callers whose first call of the period falls on this line (so lines add up).
    pub unique_callers: i64,
    pub first_time_calls: i64,
    pub answered: i64,
    pub missed: i64,
    pub missed_not_called_back: i64,
    pub quality_calls: i64,
    /// Seconds to answer, summed over answered calls.
    pub wait_secs: i64,
    /// Talk seconds, summed over answered calls.
    pub talk_secs: i64,
    pub leads: i64,
    pub cost_minor: i64,
    /// `won` deals on calls and leads in the report currency.
    pub revenue_minor: i64,
    /// Calls with a confidence (attributed to a visitor's lease), and the sum of their
    /// confidences in thousandths.
    pub confident_calls: i64,
    pub confidence_milli: i64,
    /// Calls the call scorer scored, and those it judged target.
    pub scored_calls: i64,
    pub target_calls: i64,
}

impl AddAssign for Sums {
    fn add_assign(&mut self, o: Sums) {
        self.calls += o.calls;
        self.unique_callers += o.unique_callers;
        self.first_time_calls += o.first_time_calls;
        self.answered += o.answered;
        self.missed += o.missed;
        self.missed_not_called_back += o.missed_not_called_back;
        self.quality_calls += o.quality_calls;
        self.wait_secs += o.wait_secs;
        self.talk_secs += o.talk_secs;
        self.leads += o.leads;
        self.cost_minor += o.cost_minor;
        self.revenue_minor += o.revenue_minor;
        self.confident_calls += o.confident_calls;
        self.confidence_milli += o.confidence_milli;
        self.scored_calls += o.scored_calls;
        self.target_calls += o.target_calls;
    }
}

/// What a report line shows.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Figures {
    pub calls: i64,
    pub unique_callers: i64,
    pub first_time_calls: i64,
    pub answered: i64,
    pub missed: i64,
    pub missed_not_called_back: i64,
    pub quality_calls: i64,
    /// answered / calls, 0..1.
    pub answer_rate: Option<f64>,
    /// Average seconds to answer, over answered calls.
    pub avg_wait_secs: Option<f64>,
    /// Average talk seconds, over answered calls.
    pub avg_talk_secs: Option<f64>,
    pub leads: i64,
    #[schema(example = "15000.00")]
    pub cost: String,
    pub cost_per_call: Option<String>,
    pub cost_per_quality_call: Option<String>,
    pub cost_per_lead: Option<String>,
    #[schema(example = "42000.00")]
    pub revenue: String,
    /// (revenue - cost) / cost.
    pub roi: Option<f64>,
    /// Mean per-call confidence (0..1) over the calls that have one (pool numbers a visitor
    /// held); `null` without any.
    pub avg_confidence: Option<f64>,
    /// Calls the call scorer scored (a transcript and a trained model).
    pub scored_calls: i64,
    /// Scored calls judged target (`target_probability` >= `[speech] target_threshold`).
    pub target_calls: i64,
}

impl From<Sums> for Figures {
    fn from(s: Sums) -> Figures {
        Figures {
            calls: s.calls,
            unique_callers: s.unique_callers,
            first_time_calls: s.first_time_calls,
            answered: s.answered,
            missed: s.missed,
            missed_not_called_back: s.missed_not_called_back,
            quality_calls: s.quality_calls,
            answer_rate: ratio(s.answered, s.calls),
            avg_wait_secs: ratio(s.wait_secs, s.answered),
            avg_talk_secs: ratio(s.talk_secs, s.answered),
            leads: s.leads,
            cost: money(s.cost_minor),
            cost_per_call: per(s.cost_minor, s.calls),
            cost_per_quality_call: per(s.cost_minor, s.quality_calls),
            cost_per_lead: per(s.cost_minor, s.leads),
            revenue: money(s.revenue_minor),
            roi: ratio(s.revenue_minor - s.cost_minor, s.cost_minor),
            avg_confidence: ratio(s.confidence_milli, s.confident_calls.saturating_mul(1000)),
            scored_calls: s.scored_calls,
            target_calls: s.target_calls,
        }
    }
}

/// `part / whole`, `None` when `whole` is zero.
fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}

/// Money per unit, rounded half away from zero to the minor unit.
fn per(minor: i64, count: i64) -> Option<String> {
    (count > 0).then(|| {
        let doubled = 2 * i128::from(minor);
        let count = i128::from(count);
        let rounded = (doubled + doubled.signum() * count) / (2 * count);
        money(i64::try_from(rounded).unwrap_or(i64::MAX))
    })
}

/// Minor units as a decimal string with two places: `150050` is `"1500.50"`.
pub fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_figures_and_nulls() {
        let sums = Sums {
            calls: 3,
            answered: 2,
            wait_secs: 10,
            talk_secs: 130,
            quality_calls: 1,
            cost_minor: 10_000,
            revenue_minor: 25_000,
            ..Sums::default()
        };
        let f = Figures::from(sums);
        assert_eq!(f.answer_rate, Some(2.0 / 3.0));
        assert_eq!(f.avg_wait_secs, Some(5.0));
        assert_eq!(f.avg_talk_secs, Some(65.0));
        assert_eq!(f.cost, "100.00");
        assert_eq!(f.cost_per_call.as_deref(), Some("33.33"));
        assert_eq!(f.cost_per_quality_call.as_deref(), Some("100.00"));
        assert_eq!(f.cost_per_lead, None);
        assert_eq!(f.roi, Some(1.5));
        assert_eq!(f.avg_confidence, None);
        let sure = Sums {
            confident_calls: 4,
            confidence_milli: 3_400,
            ..Sums::default()
        };
        assert_eq!(Figures::from(sure).avg_confidence, Some(0.85));
        let empty = Figures::from(Sums::default());
        assert_eq!((empty.answer_rate, empty.roi), (None, None));
        assert_eq!(money(-5), "-0.05");
        assert_eq!(per(200, 3).as_deref(), Some("0.67"));
    }
}
