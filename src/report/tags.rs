//! Calls per keyword tag (`[[speech.tags]]`) and source, campaign or site: a section of its
//! own beside the report, because a call with several tags counts once on each tag's line,
//! so tag lines cannot add up to the call total the way report rows do. What reconciles
//! instead: `calls = calls_with_tags + untagged_calls` (untagged: not transcribed, or no tag
//! said), and each tag line is at most `calls_with_tags`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::fields::GroupField;
use super::request::ReportRequest;

/// What the answer says about counting, in words, next to the figures.
pub const COUNTING: &str = "a call with several tags counts once on each tag's line, so the \
    lines add up to more than calls_with_tags; calls = calls_with_tags + untagged_calls";

/// The fields a tag report can be broken down by (besides the tag itself).
pub const FIELDS: [GroupField; 4] = [
    GroupField::Source,
    GroupField::Medium,
    GroupField::Campaign,
    GroupField::Site,
];

/// Each field of `by` that a tag report cannot group by, as one problem.
pub fn check_fields(by: &[GroupField]) -> Vec<String> {
    let allowed: Vec<&str> = FIELDS.iter().map(|f| f.name()).collect();
    by.iter()
        .filter(|f| !FIELDS.contains(f))
        .map(|f| {
            format!(
                "by: {f} is not a field of the tag report; allowed: {}",
                allowed.join(", ")
            )
        })
        .collect()
}

/// Calls of one site and key (per the query's columns) that said one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFact {
    pub tag: String,
    pub site: String,
    /// One value per [`super::FactQuery::columns`] entry.
    pub key: Vec<Option<String>>,
    pub calls: i64,
    /// Of those, the calls the scorer marked target.
    pub target_calls: i64,
}

/// Additive call counts of the period, to reconcile the tag lines with the calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TagTotals {
    pub calls: i64,
    pub transcribed_calls: i64,
    pub calls_with_tags: i64,
}

/// The store's answer for a tag report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagFacts {
    pub tags: Vec<TagFact>,
    pub totals: TagTotals,
}

impl TagFacts {
    /// Adds another window's answer to this one.
    pub fn extend(&mut self, other: TagFacts) {
        self.tags.extend(other.tags);
        self.totals.calls += other.totals.calls;
        self.totals.transcribed_calls += other.totals.transcribed_calls;
        self.totals.calls_with_tags += other.totals.calls_with_tags;
    }
}

/// `GET /v1/reports/tags` answer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TagReport {
    #[schema(example = "2026-12-01")]
    pub from: String,
    #[schema(example = "2026-12-31")]
    pub to: String,
    pub site: Option<String>,
    pub by: Vec<String>,
    /// How the lines count calls (a call with several tags is on several lines).
    pub counting: String,
    /// Most calls first.
    pub rows: Vec<TagRow>,
    /// Calls in the period (as the report's `total.calls`: calltrack's own refusals left out).
    pub calls: i64,
    /// Of `calls`, those with a finished transcript.
    pub transcribed_calls: i64,
    /// Of `calls`, those that said at least one tag.
    pub calls_with_tags: i64,
    /// `calls - calls_with_tags`: no transcript, or no tag said.
    pub untagged_calls: i64,
}

/// One tag's calls for one key.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TagRow {
    #[schema(example = "price")]
    pub tag: String,
    /// Field name to value (`null` when the calls had none, e.g. no campaign).
    #[schema(value_type = Object)]
    pub key: Map<String, Value>,
    pub calls: i64,
    /// Of those, calls the scorer marked target.
    pub target_calls: i64,
}

type Line = (String, Vec<Option<String>>);

/// Puts each fact on the line of its tag and key; most calls first, then tag and key.
pub fn build_tags(request: &ReportRequest, facts: TagFacts) -> TagReport {
    let columns: Vec<GroupField> = request
        .by
        .iter()
        .copied()
        .filter(|f| *f != GroupField::Site)
        .collect();
    let mut lines: BTreeMap<Line, (i64, i64)> = BTreeMap::new();
    for fact in facts.tags {
        let key = line_key(&request.by, &columns, &fact);
        let line = lines.entry((fact.tag, key)).or_default();
        line.0 += fact.calls;
        line.1 += fact.target_calls;
    }
    let mut rows: Vec<(Line, (i64, i64))> = lines.into_iter().collect();
    rows.sort_by_key(|(_, (calls, _))| std::cmp::Reverse(*calls));
    let totals = facts.totals;
    TagReport {
        from: request.from.to_string(),
        to: request.to.to_string(),
        site: request.site.clone(),
        by: request.by.iter().map(|f| f.name().to_owned()).collect(),
        counting: COUNTING.to_owned(),
        rows: rows
            .into_iter()
            .map(|((tag, key), (calls, target_calls))| TagRow {
                tag,
                key: row_key(&request.by, key),
                calls,
                target_calls,
            })
            .collect(),
        calls: totals.calls,
        transcribed_calls: totals.transcribed_calls,
        calls_with_tags: totals.calls_with_tags,
        untagged_calls: totals.calls - totals.calls_with_tags,
    }
}

fn line_key(by: &[GroupField], columns: &[GroupField], fact: &TagFact) -> Vec<Option<String>> {
    by.iter()
        .map(|field| match field {
            GroupField::Site => Some(fact.site.clone()),
            f => columns
                .iter()
                .position(|c| c == f)
                .and_then(|i| fact.key.get(i).cloned().flatten()),
        })
        .collect()
}

fn row_key(by: &[GroupField], key: Vec<Option<String>>) -> Map<String, Value> {
    by.iter()
        .zip(key)
        .map(|(f, v)| (f.name().to_owned(), v.map_or(Value::Null, Value::String)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ReportInput, Zones};

    fn request(by: &str) -> ReportRequest {
        let input = ReportInput {
            from: Some("2026-12-01".into()),
            to: Some("2026-12-07".into()),
            by: Some(by.into()),
            ..ReportInput::default()
        };
        ReportRequest::parse(&input, &Zones::default(), "RUB").unwrap()
    }

    fn fact(tag: &str, site: &str, source: Option<&str>, calls: i64) -> TagFact {
        TagFact {
            tag: tag.into(),
            site: site.into(),
            key: vec![source.map(String::from)],
            calls,
            target_calls: calls / 2,
        }
    }

    #[test]
    fn lines_per_tag_and_source_and_totals_that_reconcile() {
        let facts = TagFacts {
            tags: vec![
                fact("price", "a", Some("google"), 3),
                fact("price", "b", Some("google"), 2),
                fact("delivery", "a", None, 1),
            ],
            totals: TagTotals {
                calls: 10,
                transcribed_calls: 7,
                calls_with_tags: 5,
            },
        };
        let report = build_tags(&request("source"), facts);
        assert_eq!(report.rows.len(), 2, "{report:?}");
        assert_eq!(report.rows[0].tag, "price");
        assert_eq!(report.rows[0].calls, 5);
        assert_eq!(report.rows[0].target_calls, 2);
        assert_eq!(report.rows[1].key["source"], Value::Null);
        assert_eq!(report.untagged_calls, 5);
        assert_eq!(report.calls, report.calls_with_tags + report.untagged_calls);
        assert!(report.counting.contains("once on each tag"));
    }

    #[test]
    fn only_attribution_fields_and_site() {
        let request = request("source,day,term");
        let problems = check_fields(&request.by);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("allowed: source, medium, campaign, site"));
        assert!(check_fields(&self::request("site,campaign").by).is_empty());
    }
}
