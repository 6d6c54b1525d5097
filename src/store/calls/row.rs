//! The stored columns a [`CallView`] is read from, named once for both backends, and the view
//! built from their cells: the flat CDR columns, what people added later (tags, note, deal),
//! the trail, the scorer's columns, then the call's speech tags (read from `transcripts` on
//! SQLite; PostgreSQL has no transcripts yet).

use std::sync::OnceLock;

use super::view::{CallView, Extras};
use crate::store::StoreError;
use crate::store::deal::Deal;
use crate::store::flat::{self, Cell};
use crate::store::scoring::{SCORING_COLUMNS, Scoring};

/// Columns kept beside the flat CDR columns, read after them.
const EXTRA_COLUMNS: [&str; 6] = [
    "tags",
    "note",
    "deal_amount_minor",
    "deal_currency",
    "deal_status",
    "updated_at",
];

/// Every `cdr` column a view reads, in order (the speech tags come after them).
pub fn columns() -> &'static [String] {
    static COLUMNS: OnceLock<Vec<String>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let mut all = flat::cdr_columns().to_vec();
        all.extend(EXTRA_COLUMNS.iter().map(|c| (*c).to_owned()));
        all.push("trail".to_owned());
        all.extend(SCORING_COLUMNS.split(", ").map(str::to_owned));
        all
    })
}

/// A view from the cells of [`columns`] followed by the speech tags (JSON text or null).
pub fn view_from_cells(mut cells: Vec<Cell>, with_trail: bool) -> Result<CallView, StoreError> {
    let n = flat::cdr_columns().len();
    let rest = cells.split_off(n.min(cells.len()));
    let cdr = flat::cdr_from_cells(cells)?;
    let at = |i: usize| rest.get(i).unwrap_or(&Cell::Null);
    let deal = Deal::from_columns(int(at(2)), text(at(3)), text(at(4)).as_deref());
    let trail = match (with_trail, text(at(6))) {
        (true, Some(json)) => Some(serde_json::from_str(&json)?),
        (true, None) => Some(Vec::new()),
        (false, _) => None,
    };
    let extras = Extras {
        tags: text(at(0))
            .map(|t| serde_json::from_str(&t))
            .transpose()?
            .unwrap_or_default(),
        note: text(at(1)),
        deal,
        updated_at: text(at(5)),
        trail,
        scoring: Scoring {
            label: text(at(7)),
            label_by: text(at(8)),
            label_at: text(at(9)),
            target_probability: real(at(10)),
            target: int(at(11)).map(|t| t != 0),
        },
        speech_tags: text(at(12))
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
    };
    Ok(CallView::new(cdr, extras))
}

fn text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Text(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(cell: &Cell) -> Option<i64> {
    match cell {
        Cell::Int(n) => Some(*n),
        Cell::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn real(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Real(x) => Some(*x),
        // SQLite hands a REAL with an integral value back as stored (0 or 1 may be INTEGER).
        Cell::Int(n) => Some(*n as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_follow_the_flat_columns_in_order() {
        let names = columns();
        let n = flat::cdr_columns().len();
        assert_eq!(names[n], "tags");
        assert_eq!(names[n + 6], "trail");
        assert_eq!(names[n + 7], "label");
        assert_eq!(names[n + 11], "target");
        assert_eq!(names.len(), n + 12);
    }
}
