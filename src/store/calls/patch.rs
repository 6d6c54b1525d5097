//! What a CRM or a person adds to a call later: tags, a note, a deal and the scorer's label. Checked here (every
//! problem at once), written by the one store writer (`StoreCommand::PatchCall`), which sets
//! `updated_at`.

use jiff::Timestamp;
use rusqlite::Connection;
use serde::{Deserialize, Deserializer};

use crate::call::record::rfc3339;
use crate::store::deal::{Deal, DealView};
use crate::store::scoring::{self, Label, LabelChange};

/// Most tags on one call.
pub const MAX_TAGS: usize = 50;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;

/// `PATCH /v1/calls/{id}` body: any subset; `null` clears the note or the deal.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallPatch {
    /// Replaces the call's tags.
    #[schema(example = json!(["lead", "vip"]))]
    pub tags: Option<Vec<String>>,
    /// Replaces the note; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub note: Option<Option<String>>,
    /// Replaces the deal; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DealView>)]
    pub deal: Option<Option<DealView>>,
    /// `"target"` or `"not_target"`, what the call scorer learns from; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "target")]
    pub label: Option<Option<String>>,
}

/// A field that is present (even as `null`) is `Some`; an absent one stays `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A checked patch, as the writer applies it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallChange {
    pub tags: Option<Vec<String>>,
    pub note: Option<Option<String>>,
    pub deal: Option<Option<Deal>>,
    pub label: Option<LabelChange>,
}

impl CallPatch {
    /// Checks every field; all problems at once. `by` is who asks (kept with a label).
    pub fn check(self, by: &str) -> Result<CallChange, Vec<String>> {
        let mut problems = Vec::new();
        let label = match &self.label {
            Some(Some(text)) => match Label::parse(text) {
                Some(label) => Some(LabelChange {
                    label: Some(label),
                    by: by.to_owned(),
                }),
                None => {
                    problems.push(format!(
                        "label: {text:?} is not \"target\", \"not_target\" or null"
                    ));
                    None
                }
            },
            Some(None) => Some(LabelChange {
                label: None,
                by: by.to_owned(),
            }),
            None => None,
        };
        if let Some(tags) = &self.tags {
            if tags.len() > MAX_TAGS {
                problems.push(format!("tags: {} tags, at most {MAX_TAGS}", tags.len()));
            }
            for (i, tag) in tags.iter().enumerate() {
                let chars = tag.chars().count();
                if tag.trim().is_empty()
                    || chars > MAX_TAG_CHARS
                    || tag.chars().any(char::is_control)
                {
                    problems.push(format!(
                        "tags[{i}]: {tag:?} must be 1 to {MAX_TAG_CHARS} characters, no control characters"
                    ));
                }
            }
        }
        if let Some(Some(note)) = &self.note {
            if note.chars().count() > MAX_NOTE_CHARS {
                problems.push(format!("note: longer than {MAX_NOTE_CHARS} characters"));
            }
        }
        let deal = match self.deal {
            Some(Some(view)) => match Deal::from_view(&view) {
                Ok(deal) => Some(Some(deal)),
                Err(e) => {
                    problems.push(e.to_string());
                    None
                }
            },
            Some(None) => Some(None),
            None => None,
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(CallChange {
            tags: self
                .tags
                .map(|tags| tags.into_iter().map(|t| t.trim().to_owned()).collect()),
            note: self.note,
            deal,
            label,
        })
    }
}

/// Applies a change to the CDR with this id and sets `updated_at`; false if there is none.
pub(in crate::store) fn apply(
    conn: &Connection,
    id: &str,
    change: &CallChange,
    at: Timestamp,
) -> rusqlite::Result<bool> {
    let tags = match &change.tags {
        Some(tags) => Some(
            serde_json::to_string(tags)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
        ),
        None => None,
    };
    let (set_deal, deal) = match &change.deal {
        Some(deal) => (true, deal.clone()),
        None => (false, None),
    };
    let mut stmt = conn.prepare_cached(
        "UPDATE cdr SET \
         tags = CASE WHEN ?2 IS NULL THEN tags ELSE ?2 END, \
         note = CASE WHEN ?3 THEN ?4 ELSE note END, \
         deal_amount_minor = CASE WHEN ?5 THEN ?6 ELSE deal_amount_minor END, \
         deal_currency = CASE WHEN ?5 THEN ?7 ELSE deal_currency END, \
         deal_status = CASE WHEN ?5 THEN ?8 ELSE deal_status END, \
         updated_at = ?9 \
         WHERE id = ?1",
    )?;
    let changed = stmt.execute(rusqlite::params![
        id,
        tags,
        change.note.is_some(),
        change.note.clone().flatten(),
        set_deal,
        deal.as_ref().map(|d| d.amount_minor),
        deal.as_ref().map(|d| d.currency.clone()),
        deal.as_ref().map(|d| d.status.as_str()),
        rfc3339::format(at),
    ])?;
    if let (Some(label), true) = (&change.label, changed > 0) {
        scoring::set_label(conn, id, label, &rfc3339::format(at))?;
    }
    Ok(changed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> Result<CallChange, Vec<String>> {
        serde_json::from_str::<CallPatch>(json)
            .unwrap()
            .check("admin:bearer")
    }

    #[test]
    fn absent_null_and_given_are_three_things() {
        let change = patch(r#"{"note": null}"#).unwrap();
        assert_eq!(change.note, Some(None));
        assert_eq!((change.tags, change.deal), (None, None));
        let change = patch(
            r#"{"tags":[" vip "],"deal":{"amount":"1500.5","currency":"RUB","status":"won"}}"#,
        )
        .unwrap();
        assert_eq!(change.tags, Some(vec!["vip".to_owned()]));
        assert_eq!(change.note, None);
        assert_eq!(change.deal.unwrap().unwrap().amount_minor, 150_050);
    }

    #[test]
    fn labels_are_target_not_target_or_null_and_keep_who_set_them() {
        let change = patch(r#"{"label": "target"}"#).unwrap();
        let label = change.label.unwrap();
        assert_eq!(label.label, Some(Label::Target));
        assert_eq!(label.by, "admin:bearer");
        let cleared = patch(r#"{"label": null}"#).unwrap().label.unwrap();
        assert_eq!(cleared.label, None);
        assert_eq!(patch(r#"{"tags": []}"#).unwrap().label, None);
        let problems = patch(r#"{"label": "maybe", "tags": [""]}"#).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("label: \"maybe\""), "{problems:?}");
        assert!(serde_json::from_str::<CallPatch>(r#"{"label": 1}"#).is_err());
    }

    #[test]
    fn every_problem_is_listed() {
        let long = "x".repeat(MAX_NOTE_CHARS + 1);
        let json = format!(
            r#"{{"tags":["ok",""],"note":"{long}","deal":{{"amount":"1.234","currency":"RUB","status":"won"}}}}"#
        );
        let problems = patch(&json).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("tags[1]"));
        assert!(problems[2].starts_with("deal.amount"));
        assert!(serde_json::from_str::<CallPatch>(r#"{"colour":"red"}"#).is_err());
    }
}
