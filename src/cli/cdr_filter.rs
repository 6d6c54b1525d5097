//! The filters of `calltrack cdr list`: the same names, values and messages as the calls API
//! (`store::calls::filter`), given as `--from`, `--source`, ... flags.

use jiff::tz::TimeZone;

use crate::store::calls::CallQuery;

/// Which CDRs `cdr list` prints; values are checked by the shared filter (bad ones exit 2).
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Started at or after: RFC 3339 or YYYY-MM-DD (midnight UTC, or the --site's zone).
    #[arg(long, value_name = "TIME|DATE")]
    pub from: Option<String>,
    /// Started before: RFC 3339, or YYYY-MM-DD (that whole day included).
    #[arg(long, value_name = "TIME|DATE")]
    pub to: Option<String>,
    /// The site's id.
    #[arg(long)]
    pub site: Option<String>,
    /// Attributed source (utm_source, or the static number's source).
    #[arg(long)]
    pub source: Option<String>,
    #[arg(long)]
    pub medium: Option<String>,
    #[arg(long)]
    pub campaign: Option<String>,
    /// The dialled tracking number (E.164 digits).
    #[arg(long, value_name = "DIGITS")]
    pub tracking_number: Option<String>,
    /// The caller's number.
    #[arg(long)]
    pub caller: Option<String>,
    /// answered, no_answer, busy, failed, cancelled, rejected or interrupted.
    #[arg(long)]
    pub disposition: Option<String>,
    /// true: first-time callers only; false: repeat callers only.
    #[arg(long, value_name = "true|false")]
    pub first_time: Option<String>,
    /// true: quality calls only; false: the others.
    #[arg(long, value_name = "true|false")]
    pub quality: Option<String>,
    /// true: missed calls only; false: the others.
    #[arg(long, value_name = "true|false")]
    pub missed: Option<String>,
}

impl ListFilter {
    /// The newest `limit` matching CDRs, as the shared filter reads them.
    pub fn query(
        &self,
        limit: usize,
        zone: &dyn Fn(&str) -> Option<TimeZone>,
    ) -> Result<CallQuery, Vec<String>> {
        let limit = limit.to_string();
        let given = [
            ("from", &self.from),
            ("to", &self.to),
            ("site", &self.site),
            ("source", &self.source),
            ("medium", &self.medium),
            ("campaign", &self.campaign),
            ("tracking_number", &self.tracking_number),
            ("caller", &self.caller),
            ("disposition", &self.disposition),
            ("first_time", &self.first_time),
            ("quality", &self.quality),
            ("missed", &self.missed),
        ];
        let pairs = given
            .into_iter()
            .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
            .chain([("limit", limit.as_str())]);
        CallQuery::parse(pairs, zone).map_err(|problems| {
            problems
                .into_iter()
                .map(|p| match p.split_once(": ") {
                    Some((name, rest)) => format!("--{}: {rest}", name.replace('_', "-")),
                    None => p,
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_the_shared_filter() {
        let filter = ListFilter {
            from: Some("2026-11-01".into()),
            source: Some("google".into()),
            missed: Some("true".into()),
            ..ListFilter::default()
        };
        let q = filter.query(20, &|_| None).unwrap();
        assert_eq!(q.limit, 20);
        assert_eq!(q.filter.source.as_deref(), Some("google"));
        assert_eq!(q.filter.missed, Some(true));
    }

    #[test]
    fn bad_values_name_the_flag() {
        let filter = ListFilter {
            tracking_number: Some("abc".into()),
            disposition: Some("hung".into()),
            ..ListFilter::default()
        };
        let problems = filter.query(501, &|_| None).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("--tracking-number: "),
            "{problems:?}"
        );
        assert!(problems[1].starts_with("--disposition: "));
        assert!(problems[2].starts_with("--limit: "));
    }
}
