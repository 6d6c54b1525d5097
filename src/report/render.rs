//! A report as CSV (one line per row, then the total; key cells safe for spreadsheets) and as
//! an aligned text table.

use super::build::{Report, Row};
use super::figures::Figures;

/// Figure names in CSV column order.
pub const FIGURE_COLUMNS: [&str; 20] = [
    "calls",
    "unique_callers",
    "first_time_calls",
    "answered",
    "missed",
    "missed_not_called_back",
    "quality_calls",
    "answer_rate",
    "avg_wait_secs",
    "avg_talk_secs",
    "leads",
    "cost",
    "cost_per_call",
    "cost_per_quality_call",
    "cost_per_lead",
    "revenue",
    "roi",
    "avg_confidence",
    "scored_calls",
    "target_calls",
];

/// CSV: a header (group-by fields, then [`FIGURE_COLUMNS`]), one line per row, then a line
/// `total` in the first key column (empty key columns for the rest).
pub fn csv(report: &Report) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = report.by.iter().map(String::as_str).collect();
    if header.is_empty() {
        header.push("line");
    }
    header.extend(FIGURE_COLUMNS);
    out.write_record(&header)?;
    for row in &report.rows {
        let keys = key_cells(report, row).into_iter().map(spreadsheet_safe);
        out.write_record(keys.chain(cells(&row.figures)))?;
    }
    let mut total = vec![String::new(); report.by.len().max(1)];
    total[0] = "total".to_owned();
    out.write_record(total.into_iter().chain(cells(&report.total)))?;
    out.into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

/// An aligned table with the figures a marketer reads first, the total and the previous
/// period's total.
pub fn table(report: &Report) -> String {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut header: Vec<String> = report.by.clone();
    if header.is_empty() {
        header.push("line".to_owned());
    }
    header.extend(
        [
            "calls",
            "unique",
            "answered",
            "missed",
            "quality",
            "leads",
            "cost",
            "cost/quality",
            "revenue",
            "roi",
        ]
        .map(String::from),
    );
    lines.push(header);
    for row in &report.rows {
        let mut line = key_cells(report, row);
        line.extend(short(&row.figures));
        lines.push(line);
    }
    for (label, figures) in [
        ("total", &report.total),
        ("previous", &report.previous_total),
    ] {
        let mut line = vec![String::new(); report.by.len().max(1)];
        line[0] = label.to_owned();
        line.extend(short(figures));
        lines.push(line);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text.push_str(&format!(
        "{} .. {}, {}; skipped (other currency): {} deals, {} cost rows\n",
        report.from,
        report.to,
        report.currency,
        report.skipped_other_currency.deals,
        report.skipped_other_currency.costs
    ));
    text
}

/// The rule of `cli::csv_cells` (OWASP CSV injection) for key cells, which hold outside text
/// (utm tags, keywords, landing pages): a leading `=`, `+`, `-`, `@`, TAB or CR gets a `'`.
fn spreadsheet_safe(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn key_cells(report: &Report, row: &Row) -> Vec<String> {
    if report.by.is_empty() {
        return vec!["all".to_owned()];
    }
    report
        .by
        .iter()
        .map(|f| match row.key.get(f) {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => "(none)".to_owned(),
        })
        .collect()
}

fn opt<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn rate(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.4}")).unwrap_or_default()
}

fn cells(f: &Figures) -> Vec<String> {
    vec![
        f.calls.to_string(),
        f.unique_callers.to_string(),
        f.first_time_calls.to_string(),
        f.answered.to_string(),
        f.missed.to_string(),
        f.missed_not_called_back.to_string(),
        f.quality_calls.to_string(),
        rate(f.answer_rate),
        rate(f.avg_wait_secs),
        rate(f.avg_talk_secs),
        f.leads.to_string(),
        f.cost.clone(),
        opt(&f.cost_per_call),
        opt(&f.cost_per_quality_call),
        opt(&f.cost_per_lead),
        f.revenue.clone(),
        rate(f.roi),
        rate(f.avg_confidence),
        f.scored_calls.to_string(),
        f.target_calls.to_string(),
    ]
}

fn short(f: &Figures) -> Vec<String> {
    vec![
        f.calls.to_string(),
        f.unique_callers.to_string(),
        f.answered.to_string(),
        f.missed.to_string(),
        f.quality_calls.to_string(),
        f.leads.to_string(),
        f.cost.clone(),
        opt(&f.cost_per_quality_call),
        f.revenue.clone(),
        f.roi.map(|r| format!("{r:.2}")).unwrap_or_default(),
    ]
}
