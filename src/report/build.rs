//! Facts to a report: each fact goes on the line of its key (local-time fields computed in
//! its site's zone), costs go on the line their day, site, source, medium and campaign say
//! (an empty key for fields costs cannot be split by), and the total is the sum of the lines.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use serde::Serialize;
use serde_json::{Map, Value};

use super::facts::{CostFact, Fact, Facts, Skipped};
use super::fields::GroupField;
use super::figures::{Figures, Sums};
use super::request::{ReportRequest, Zones};

/// A report as the API serves it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    #[schema(example = "2026-12-01")]
    pub from: String,
    #[schema(example = "2026-12-31")]
    pub to: String,
    pub site: Option<String>,
    #[schema(example = "RUB")]
    pub currency: String,
    pub by: Vec<String>,
    pub rows: Vec<Row>,
    pub total: Figures,
    /// The same-length period right before `from`.
    pub previous_total: Figures,
    /// Deals and cost rows left out because their currency is not the report's.
    pub skipped_other_currency: Skipped,
}

/// One line of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Row {
    /// Field name to value (`null` when the calls had none, e.g. no campaign).
    #[schema(value_type = Object)]
    pub key: Map<String, Value>,
    pub figures: Figures,
}

/// Builds the report from the facts of `request.queries()` and of the previous period's.
pub fn build(request: &ReportRequest, zones: &Zones, facts: Facts, previous: Facts) -> Report {
    let mut lines: HashMap<Vec<Option<String>>, Sums> = HashMap::new();
    let columns: Vec<GroupField> = request
        .by
        .iter()
        .copied()
        .filter(|f| f.column().is_some() && *f != GroupField::Site)
        .collect();
    for fact in &facts.sums {
        let key = fact_key(&request.by, &columns, fact, zones);
        *lines.entry(key).or_default() += fact.sums;
    }
    for cost in &facts.costs {
        let key = cost_key(&request.by, cost);
        lines.entry(key).or_default().cost_minor += cost.amount_minor;
    }
    let mut total = Sums::default();
    for sums in lines.values() {
        total += *sums;
    }
    let mut rows: Vec<(Vec<Option<String>>, Sums)> = lines.into_iter().collect();
    sort(&request.by, &mut rows);
    let skipped = facts.skipped;
    Report {
        from: request.from.to_string(),
        to: request.to.to_string(),
        site: request.site.clone(),
        currency: request.currency.clone(),
        by: request.by.iter().map(|f| f.name().to_owned()).collect(),
        rows: rows
            .into_iter()
            .map(|(key, sums)| Row {
                key: request
                    .by
                    .iter()
                    .zip(key)
                    .map(|(f, v)| (f.name().to_owned(), v.map_or(Value::Null, Value::String)))
                    .collect(),
                figures: sums.into(),
            })
            .collect(),
        total: total.into(),
        previous_total: total_of(previous).into(),
        skipped_other_currency: skipped,
    }
}

/// The plain sum of everything in `facts` (a total without a breakdown).
pub fn total_of(facts: Facts) -> Sums {
    let mut total = Sums::default();
    for fact in facts.sums {
        total += fact.sums;
    }
    for cost in facts.costs {
        total.cost_minor += cost.amount_minor;
    }
    total
}

fn fact_key(
    by: &[GroupField],
    columns: &[GroupField],
    fact: &Fact,
    zones: &Zones,
) -> Vec<Option<String>> {
    let local = fact
        .bucket
        .map(|at: Timestamp| at.to_zoned(zones.of(&fact.site)).datetime());
    by.iter()
        .map(|field| match field {
            GroupField::Site => Some(fact.site.clone()),
            f if f.is_time() => local.map(|dt| time_value(*f, dt.date(), dt.hour())),
            f => columns
                .iter()
                .position(|c| c == f)
                .and_then(|i| fact.key.get(i).cloned().flatten()),
        })
        .collect()
}

fn cost_key(by: &[GroupField], cost: &CostFact) -> Vec<Option<String>> {
    by.iter()
        .map(|field| match field {
            GroupField::Site => Some(cost.site.clone()),
            GroupField::Source => cost.source.clone(),
            GroupField::Medium => cost.medium.clone(),
            GroupField::Campaign => cost.campaign.clone(),
            GroupField::Hour => None,
            f if f.is_time() => Some(time_value(*f, cost.day, 0)),
            _ => None,
        })
        .collect()
}

/// `day` 2026-12-05, `week` 2026-W49 (ISO), `month` 2026-12, `hour` 00..23, `weekday` mon..sun.
fn time_value(field: GroupField, day: Date, hour: i8) -> String {
    match field {
        GroupField::Week => {
            let week = day.iso_week_date();
            format!("{}-W{:02}", week.year(), week.week())
        }
        GroupField::Month => format!("{:04}-{:02}", day.year(), day.month()),
        GroupField::Hour => format!("{hour:02}"),
        GroupField::Weekday => weekday_name(day.weekday()).to_owned(),
        _ => day.to_string(),
    }
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "mon",
        Weekday::Tuesday => "tue",
        Weekday::Wednesday => "wed",
        Weekday::Thursday => "thu",
        Weekday::Friday => "fri",
        Weekday::Saturday => "sat",
        Weekday::Sunday => "sun",
    }
}

/// Time first: chronological; otherwise most calls first, then most cost, then the key.
fn sort(by: &[GroupField], rows: &mut [(Vec<Option<String>>, Sums)]) {
    let order = |key: &[Option<String>]| -> Vec<(u8, String)> {
        by.iter()
            .zip(key)
            .map(|(f, v)| match (f, v) {
                (_, None) => (1, String::new()),
                (GroupField::Weekday, Some(v)) => {
                    let n = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                        .iter()
                        .position(|d| d == v)
                        .unwrap_or(7);
                    (0, n.to_string())
                }
                (_, Some(v)) => (0, v.clone()),
            })
            .collect()
    };
    if by.first().is_some_and(|f| f.is_time()) {
        rows.sort_by_cached_key(|(key, _)| order(key));
    } else {
        rows.sort_by_cached_key(|(key, sums)| {
            (
                std::cmp::Reverse(sums.calls),
                std::cmp::Reverse(sums.cost_minor),
                order(key),
            )
        });
    }
}
