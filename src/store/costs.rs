//! Ad costs per local day, site, source, medium and campaign (`''` for none): checked all at
//! once (every bad line reported, nothing kept), then written so that each `(day, site)` the
//! import names is replaced wholly, which makes re-importing the same file a no-op.
//!
//! The daemon writes through the one writer (`StoreCommand::ReplaceCosts`); the CLI may
//! write with [`import`] on a connection of its own (SQLite serialises the two).

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::deal::{check_currency, parse_minor};
use crate::report::CostFact;

/// One cost line as received: a CSV line (header `day,site,source,medium,campaign,amount,currency`)
/// or a JSON row of `POST /v1/costs`.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostInput {
    /// The site's local day, `YYYY-MM-DD`.
    #[schema(example = "2026-12-01")]
    pub day: String,
    #[schema(example = "shop")]
    pub site: String,
    #[serde(default)]
    #[schema(example = "google")]
    pub source: Option<String>,
    #[serde(default)]
    #[schema(example = "cpc")]
    pub medium: Option<String>,
    #[serde(default)]
    #[schema(example = "winter_sale")]
    pub campaign: Option<String>,
    /// A decimal amount with at most two places (string or number).
    #[schema(value_type = String, example = "1500.50")]
    pub amount: serde_json::Value,
    #[schema(example = "RUB")]
    pub currency: String,
}

/// A checked cost line, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRow {
    pub day: Date,
    pub site: String,
    pub source: String,
    pub medium: String,
    pub campaign: String,
    pub amount_minor: i64,
    pub currency: String,
}

/// What an import replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CostsReplaced {
    /// Distinct `(day, site)` pairs whose costs were replaced.
    pub days_replaced: usize,
    /// Cost rows written.
    pub rows: usize,
}

impl CostsReplaced {
    /// What replacing `rows` will replace.
    pub fn of(rows: &[CostRow]) -> CostsReplaced {
        let days: BTreeSet<(Date, &str)> = rows.iter().map(|r| (r.day, r.site.as_str())).collect();
        CostsReplaced {
            days_replaced: days.len(),
            rows: rows.len(),
        }
    }
}

/// Checks every line; `labels[i]` names line `i` in problems (`line 3`, `rows[0]`).
/// `sites`, when given, are the only sites allowed. Any problem: no rows at all.
pub fn check(
    lines: &[CostInput],
    labels: &[String],
    sites: Option<&[String]>,
) -> Result<Vec<CostRow>, Vec<String>> {
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    let mut seen: HashMap<(Date, String, String, String, String), &str> = HashMap::new();
    for (line, label) in lines.iter().zip(labels) {
        match check_line(line, sites) {
            Err(reasons) => problems.extend(reasons.into_iter().map(|r| format!("{label}: {r}"))),
            Ok(row) => {
                let key = (
                    row.day,
                    row.site.clone(),
                    row.source.clone(),
                    row.medium.clone(),
                    row.campaign.clone(),
                );
                match seen.get(&key) {
                    Some(first) => problems.push(format!(
                        "{label}: the same day, site, source, medium and campaign as {first}"
                    )),
                    None => {
                        seen.insert(key, label);
                        rows.push(row);
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

fn check_line(line: &CostInput, sites: Option<&[String]>) -> Result<CostRow, Vec<String>> {
    let mut reasons = Vec::new();
    let day = line.day.trim();
    let day = match day.parse::<Date>() {
        Ok(d) if day.len() == 10 => Some(d),
        _ => {
            reasons.push(format!("day {:?} is not a date YYYY-MM-DD", line.day));
            None
        }
    };
    let site = line.site.trim().to_owned();
    if site.is_empty() {
        reasons.push("site is empty".to_owned());
    } else if let Some(known) = sites
        && !known.contains(&site)
    {
        reasons.push(format!(
            "unknown site {site:?}; allowed: {}",
            known.join(", ")
        ));
    }
    let text = match &line.amount {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    let amount = match parse_minor(&text) {
        Some(minor) if minor >= 0 => Some(minor),
        _ => {
            reasons.push(format!(
                "amount {text:?} is not a non-negative decimal with at most two places"
            ));
            None
        }
    };
    let currency = check_currency(&line.currency)
        .map_err(|_| {
            reasons.push(format!(
                "currency {:?} is not a three-letter code",
                line.currency
            ))
        })
        .ok();
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_owned();
    match (day, amount, currency) {
        (Some(day), Some(amount_minor), Some(currency)) if reasons.is_empty() => Ok(CostRow {
            day,
            site,
            source: text(&line.source),
            medium: text(&line.medium),
            campaign: text(&line.campaign),
            amount_minor,
            currency,
        }),
        _ => Err(reasons),
    }
}

/// Replaces every `(day, site)` that `rows` names with `rows` (inside the caller's
/// transaction).
pub fn replace(
    conn: &Connection,
    rows: &[CostRow],
    imported_at: Timestamp,
) -> rusqlite::Result<CostsReplaced> {
    let days: BTreeSet<(Date, &str)> = rows.iter().map(|r| (r.day, r.site.as_str())).collect();
    let mut delete = conn.prepare_cached("DELETE FROM costs WHERE day = ?1 AND site = ?2")?;
    for (day, site) in &days {
        delete.execute(params![day.to_string(), site])?;
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO costs (day, site, source, medium, campaign, amount_minor, currency, imported_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let at = imported_at.to_string();
    for r in rows {
        insert.execute(params![
            r.day.to_string(),
            r.site,
            r.source,
            r.medium,
            r.campaign,
            r.amount_minor,
            r.currency,
            at
        ])?;
    }
    Ok(CostsReplaced::of(rows))
}

/// A stored cost line (`''` for no source, medium or campaign) as a report's [`CostFact`];
/// `None` for a day that does not read as a date.
pub(in crate::store) fn fact_of(
    day: &str,
    site: String,
    [source, medium, campaign]: [String; 3],
    amount_minor: i64,
) -> Option<CostFact> {
    let none_if_empty = |s: String| (!s.is_empty()).then_some(s);
    Some(CostFact {
        day: day.parse().ok()?,
        site,
        source: none_if_empty(source),
        medium: none_if_empty(medium),
        campaign: none_if_empty(campaign),
        amount_minor,
    })
}

/// [`replace`] in a transaction of its own (the CLI's path).
pub fn import(
    conn: &mut Connection,
    rows: &[CostRow],
    imported_at: Timestamp,
) -> rusqlite::Result<CostsReplaced> {
    let tx = conn.transaction()?;
    let done = replace(&tx, rows, imported_at)?;
    tx.commit()?;
    Ok(done)
}

/// Reads and checks a costs CSV: every line that does not parse or does not pass [`check`]
/// is one problem (`line N: reason`, in line order); any problem means no rows.
pub fn check_csv(
    reader: impl std::io::Read,
    sites: Option<&[String]>,
) -> Result<Vec<CostRow>, Vec<String>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CsvLine {
        day: String,
        site: String,
        source: Option<String>,
        medium: Option<String>,
        campaign: Option<String>,
        amount: String,
        currency: String,
    }
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut lines = Vec::new();
    let mut labels = Vec::new();
    let mut problems: Vec<(u64, String)> = Vec::new();
    for (i, record) in csv.deserialize::<CsvLine>().enumerate() {
        let fallback = i as u64 + 2;
        match record {
            Ok(l) => {
                labels.push(format!("line {fallback}"));
                lines.push(CostInput {
                    day: l.day,
                    site: l.site,
                    source: l.source,
                    medium: l.medium,
                    campaign: l.campaign,
                    amount: serde_json::Value::String(l.amount),
                    currency: l.currency,
                });
            }
            Err(err) => {
                let number = err.position().map_or(fallback, |p| p.line());
                problems.push((number, format!("line {number}: {}", csv_reason(&err))));
            }
        }
    }
    if let Err(found) = check(&lines, &labels, sites) {
        for problem in found {
            let number = problem
                .strip_prefix("line ")
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            problems.push((number, problem));
        }
    }
    if lines.is_empty() && problems.is_empty() {
        problems.push((1, "line 1: no cost lines after the header".to_owned()));
    }
    if problems.is_empty() {
        check(&lines, &labels, sites)
    } else {
        problems.sort_by_key(|(n, _)| *n);
        Err(problems.into_iter().map(|(_, p)| p).collect())
    }
}

fn csv_reason(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields, the header has {expected_len}")
        }
        _ => err.to_string(),
    }
}
