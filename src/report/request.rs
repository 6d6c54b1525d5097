//! A checked report request: the local days `from..=to`, the group-by fields, the site and
//! the currency, and the [`FactQuery`] windows it takes (one per time zone in use, since a
//! local day starts at a different instant in each).

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::facts::{Bucket, FactQuery, SiteSet};
use super::fields::{self, GroupField};

/// Longest period a report may cover, in days.
pub const MAX_DAYS: i64 = 3700;

/// The raw parameters, as the CLI or the query string gives them.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportInput {
    /// First local day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last local day (inclusive), `YYYY-MM-DD`.
    pub to: Option<String>,
    /// Group-by fields, comma separated: source, medium, campaign, term, landing_page,
    /// region, device, tracking_number, number_kind, site, day, week, month, hour, weekday.
    pub by: Option<String>,
    /// One site's id; all sites without it.
    pub site: Option<String>,
    /// `json` (default) or `csv` (HTTP only).
    pub format: Option<String>,
}

/// Every problem with a request, each naming what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid report request: {}", problems.join("; "))]
pub struct RequestError {
    pub problems: Vec<String>,
}

/// Each configured site's time zone; sites not listed count in UTC.
#[derive(Debug, Clone, Default)]
pub struct Zones(pub BTreeMap<String, TimeZone>);

impl Zones {
    /// Every configured site's zone (its `time_zone`, else its `utc_offset`).
    pub fn of_config(config: &crate::config::Config) -> Zones {
        Zones(
            config
                .sites
                .iter()
                .map(|site| (site.id.clone(), site.report_zone.clone()))
                .collect(),
        )
    }

    /// The zone of `site` (UTC for a site not in the config).
    pub fn of(&self, site: &str) -> TimeZone {
        self.0.get(site).cloned().unwrap_or(TimeZone::UTC)
    }
}

/// A checked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    pub from: Date,
    pub to: Date,
    pub by: Vec<GroupField>,
    pub site: Option<String>,
    pub currency: String,
}

impl ReportRequest {
    /// Checks every parameter and lists every problem at once.
    pub fn parse(
        input: &ReportInput,
        zones: &Zones,
        currency: &str,
    ) -> Result<ReportRequest, RequestError> {
        let mut problems = Vec::new();
        let from = date("from", input.from.as_deref(), &mut problems);
        let to = date("to", input.to.as_deref(), &mut problems);
        let by = match fields::parse_list(input.by.as_deref().unwrap_or("")) {
            Ok(by) => by,
            Err(found) => {
                problems.extend(found);
                Vec::new()
            }
        };
        let site = input.site.clone().filter(|s| !s.is_empty());
        if let Some(site) = &site
            && !zones.0.contains_key(site)
        {
            let known: Vec<&str> = zones.0.keys().map(String::as_str).collect();
            problems.push(format!(
                "site: unknown site {site:?}; allowed: {}",
                known.join(", ")
            ));
        }
        if let (Some(from), Some(to)) = (from, to) {
            let days = (to - from).get_days() + 1;
            if days < 1 {
                problems.push(format!("to: {to} is before from {from}"));
            } else if i64::from(days) > MAX_DAYS {
                problems.push(format!("to: at most {MAX_DAYS} days per report"));
            }
        }
        match (from, to) {
            (Some(from), Some(to)) if problems.is_empty() => Ok(ReportRequest {
                from,
                to,
                by,
                site,
                currency: currency.to_owned(),
            }),
            _ => Err(RequestError { problems }),
        }
    }

    /// Days in the period.
    pub fn days(&self) -> i32 {
        (self.to - self.from).get_days() + 1
    }

    /// The same-length period right before this one, without group-by fields.
    pub fn previous(&self) -> ReportRequest {
        let days = self.days();
        let to = self.from.checked_sub(1.day()).unwrap_or(self.from);
        let from = to.checked_sub((days - 1).days()).unwrap_or(to);
        ReportRequest {
            from,
            to,
            by: Vec::new(),
            site: self.site.clone(),
            currency: self.currency.clone(),
        }
    }

    /// The store questions this request takes: sites sharing a zone share a window, sites
    /// outside the config are counted in UTC.
    pub fn queries(&self, zones: &Zones) -> Vec<FactQuery> {
        let mut windows: BTreeMap<(Timestamp, Timestamp, bool), Vec<String>> = BTreeMap::new();
        let sites: Vec<&String> = match &self.site {
            Some(site) => vec![site],
            None => zones.0.keys().collect(),
        };
        for site in sites {
            let zone = zones.of(site);
            let (from, to) = self.window(&zone);
            let fine = !whole_hours(&zone, from) || !whole_hours(&zone, to);
            windows
                .entry((from, to, fine))
                .or_default()
                .push(site.clone());
        }
        let mut queries: Vec<FactQuery> = windows
            .into_iter()
            .map(|((from, to, fine), sites)| self.query(from, to, fine, SiteSet::Only(sites)))
            .collect();
        if self.site.is_none() {
            let (from, to) = self.window(&TimeZone::UTC);
            let known = zones.0.keys().cloned().collect();
            queries.push(self.query(from, to, false, SiteSet::Except(known)));
        }
        queries
    }

    fn query(&self, from: Timestamp, to: Timestamp, fine: bool, sites: SiteSet) -> FactQuery {
        let bucket = match (self.by.iter().any(|f| f.is_time()), fine) {
            (false, _) => Bucket::None,
            (true, false) => Bucket::Hour,
            (true, true) => Bucket::Minute,
        };
        FactQuery {
            from,
            to,
            first_day: self.from,
            last_day: self.to,
            sites,
            columns: self
                .by
                .iter()
                .copied()
                .filter(|f| f.column().is_some() && *f != GroupField::Site)
                .collect(),
            bucket,
            currency: self.currency.clone(),
        }
    }

    /// Local midnight of `from` to local midnight after `to`, in `zone`.
    fn window(&self, zone: &TimeZone) -> (Timestamp, Timestamp) {
        let start = midnight(self.from, zone);
        let end = self
            .to
            .checked_add(1.day())
            .map(|next| midnight(next, zone))
            .unwrap_or(Timestamp::MAX);
        (start, end)
    }
}

fn midnight(day: Date, zone: &TimeZone) -> Timestamp {
    day.to_zoned(zone.clone())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn whole_hours(zone: &TimeZone, at: Timestamp) -> bool {
    zone.to_offset(at).seconds() % 3600 == 0
}

fn date(name: &str, text: Option<&str>, problems: &mut Vec<String>) -> Option<Date> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => {
            problems.push(format!("{name}: required, a local day YYYY-MM-DD"));
            None
        }
        Some(text) => match text.parse::<Date>() {
            Ok(day) if text.len() == 10 => Some(day),
            _ => {
                problems.push(format!(
                    "{name}: {text:?} is not a date; allowed: YYYY-MM-DD (e.g. 2026-12-01)"
                ));
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> Zones {
        let mut map = BTreeMap::new();
        map.insert("shop".to_owned(), TimeZone::get("Europe/Moscow").unwrap());
        map.insert("clinic".to_owned(), TimeZone::UTC);
        Zones(map)
    }

    fn input(from: &str, to: &str, by: &str) -> ReportInput {
        ReportInput {
            from: Some(from.into()),
            to: Some(to.into()),
            by: Some(by.into()),
            ..ReportInput::default()
        }
    }

    #[test]
    fn every_problem_at_once() {
        let err = ReportRequest::parse(&input("2026-13-01", "tomorrow", "colour"), &zones(), "RUB")
            .unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err:?}");
        assert!(err.problems[0].contains("YYYY-MM-DD"));
        let err = ReportRequest::parse(&input("2026-12-02", "2026-12-01", ""), &zones(), "RUB")
            .unwrap_err();
        assert!(err.problems[0].contains("before"), "{err:?}");
    }

    #[test]
    fn windows_per_zone_and_previous_period() {
        let req = ReportRequest::parse(&input("2026-12-01", "2026-12-07", "day"), &zones(), "RUB")
            .unwrap();
        let queries = req.queries(&zones());
        assert_eq!(queries.len(), 3, "{queries:?}");
        let moscow = queries
            .iter()
            .find(|q| q.sites == SiteSet::Only(vec!["shop".into()]))
            .unwrap();
        assert_eq!(moscow.from.to_string(), "2026-11-30T21:00:00Z");
        assert_eq!(moscow.to.to_string(), "2026-12-07T21:00:00Z");
        assert_eq!(moscow.bucket, Bucket::Hour);
        let prev = req.previous();
        assert_eq!(
            (prev.from.to_string(), prev.to.to_string()),
            ("2026-11-24".into(), "2026-11-30".into())
        );
    }

    #[test]
    fn days_follow_daylight_saving_in_an_iana_zone() {
        let mut map = BTreeMap::new();
        map.insert("berlin".to_owned(), TimeZone::get("Europe/Berlin").unwrap());
        let zones = Zones(map);
        let req =
            ReportRequest::parse(&input("2026-07-01", "2026-07-01", ""), &zones, "RUB").unwrap();
        let summer = &req.queries(&zones)[0];
        assert_eq!(summer.from.to_string(), "2026-06-30T22:00:00Z");
        let req =
            ReportRequest::parse(&input("2026-12-01", "2026-12-01", ""), &zones, "RUB").unwrap();
        let winter = &req.queries(&zones)[0];
        assert_eq!(winter.from.to_string(), "2026-11-30T23:00:00Z");
    }
}
