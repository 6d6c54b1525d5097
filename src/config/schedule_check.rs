//! Validation of `[[schedules]]` (time zones, "HH:MM-HH:MM" intervals, holidays) and
//! `[[routes]]` (conditions against the sites and numbers, scheme and schedule references).

use std::collections::HashMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::routing::{AfterHours, RouteConfig, ScheduleConfig, SchemeConfig};
use super::routing_check::check_unique_ids;
use super::routing_file::{RouteFile, ScheduleFile};
use super::sites::{required, required_id};
use super::validate::Problems;
use super::{SiteConfig, TrackingNumber};

/// Minutes in a day; `24:00` is accepted as the end of an interval.
const DAY_MINUTES: u16 = 24 * 60;

pub(super) fn schedules(files: Vec<ScheduleFile>, p: &mut Problems) -> Vec<ScheduleConfig> {
    let schedules: Vec<ScheduleConfig> = files
        .into_iter()
        .enumerate()
        .map(|(i, f)| schedule(&format!("schedules[{i}]"), f, p))
        .collect();
    check_unique_ids("schedules", schedules.iter().map(|s| s.id.as_str()), p);
    schedules
}

fn schedule(path: &str, f: ScheduleFile, p: &mut Problems) -> ScheduleConfig {
    let id = required_id(&format!("{path}.id"), f.id.clone(), p);
    let zone_path = format!("{path}.time_zone");
    let time_zone_name = required(&zone_path, f.time_zone.clone(), p);
    let time_zone = if time_zone_name.is_empty() {
        TimeZone::UTC
    } else {
        TimeZone::get(&time_zone_name).unwrap_or_else(|_| {
            let message =
                format!("{time_zone_name:?} is not an IANA time zone (\"Europe/Moscow\")");
            p.push(&zone_path, message);
            TimeZone::UTC
        })
    };
    let mut week: [Vec<(u16, u16)>; 7] = Default::default();
    for (day, (key, list)) in week.iter_mut().zip(f.week()) {
        *day = intervals(&format!("{path}.{key}"), list, p);
    }
    let holidays = f
        .holidays
        .iter()
        .enumerate()
        .filter_map(|(k, text)| holiday(&format!("{path}.holidays[{k}]"), text, p))
        .collect();
    ScheduleConfig {
        id,
        time_zone_name,
        time_zone,
        week,
        holidays,
    }
}

fn holiday(path: &str, text: &str, p: &mut Problems) -> Option<Date> {
    let date = text.trim().parse::<Date>().ok();
    if date.is_none() {
        p.push(path, format!("{text:?} is not a date (\"2026-12-31\")"));
    }
    date
}

/// One day's open intervals, sorted; reversed, empty and overlapping ones are problems.
fn intervals(path: &str, list: &[String], p: &mut Problems) -> Vec<(u16, u16)> {
    let mut parsed: Vec<(u16, u16, usize)> = Vec::with_capacity(list.len());
    for (k, text) in list.iter().enumerate() {
        match interval(text) {
            Ok((start, end)) => parsed.push((start, end, k)),
            Err(message) => p.push(format!("{path}[{k}]"), message),
        }
    }
    parsed.sort_unstable();
    for pair in parsed.windows(2) {
        let ((_, end, first), (start, _, second)) = ((pair[0]), (pair[1]));
        if start < end {
            let message = format!("{:?} overlaps {path}[{first}]", list[second]);
            p.push(format!("{path}[{second}]"), message);
        }
    }
    parsed
        .into_iter()
        .map(|(start, end, _)| (start, end))
        .collect()
}

/// "09:00-18:00" -> minutes `[540, 1080)`; "24:00" only as an end.
fn interval(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("{text:?} is not an interval \"HH:MM-HH:MM\" (e.g. \"09:00-18:00\")");
    let (start, end) = text.trim().split_once('-').ok_or_else(bad)?;
    let start = clock(start.trim())
        .filter(|&m| m < DAY_MINUTES)
        .ok_or_else(bad)?;
    let end = clock(end.trim()).ok_or_else(bad)?;
    if start >= end {
        return Err(format!(
            "{text:?}: the end must be after the start (an interval cannot span midnight; \
             split it into two days)"
        ));
    }
    Ok((start, end))
}

/// "HH:MM" as minutes since midnight, up to "24:00".
fn clock(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.is_empty() || hours.len() > 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    let total = hours.checked_mul(60)?.checked_add(minutes)?;
    (minutes < 60 && total <= DAY_MINUTES).then_some(total)
}

/// What routes may name.
pub(super) struct Known<'a> {
    pub sites: &'a [SiteConfig],
    pub numbers: &'a HashMap<String, TrackingNumber>,
    pub schemes: &'a [SchemeConfig],
    pub schedules: &'a [ScheduleConfig],
}

pub(super) fn routes(
    files: Vec<RouteFile>,
    known: &Known<'_>,
    p: &mut Problems,
) -> Vec<RouteConfig> {
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| route(format!("routes[{i}]"), f, known, p))
        .collect()
}

fn route(path: String, f: RouteFile, known: &Known<'_>, p: &mut Problems) -> RouteConfig {
    let scheme_path = format!("{path}.scheme");
    let scheme = required(&scheme_path, f.scheme, p);
    check_scheme(&scheme_path, &scheme, known, p);
    check_conditions(&path, &f.site, &f.number, &f.pool, p, known);
    for (key, value) in [("source", &f.source), ("region", &f.region)] {
        if let Some(value) = value {
            p.non_blank(&format!("{path}.{key}"), value);
        }
    }
    let after_hours = after_hours(&path, f.schedule, f.after_hours_scheme, known, p);
    RouteConfig {
        site: f.site,
        number: f.number,
        pool: f.pool,
        source: f.source.map(|s| s.trim().to_owned()),
        region: f.region.map(|r| r.trim().to_lowercase()),
        scheme,
        after_hours,
        path,
    }
}

fn check_scheme(path: &str, id: &str, known: &Known<'_>, p: &mut Problems) {
    if !id.is_empty() && !known.schemes.iter().any(|s| s.id == id) {
        p.push(path, format!("unknown scheme {id:?} (see [[schemes]])"));
    }
}

/// The site, number and pool must exist, and belong to the route's site when one is given.
fn check_conditions(
    path: &str,
    site: &Option<String>,
    number: &Option<String>,
    pool: &Option<String>,
    p: &mut Problems,
    known: &Known<'_>,
) {
    let site_config = site
        .as_deref()
        .and_then(|id| known.sites.iter().find(|s| s.id == id));
    if let (Some(id), None) = (site, site_config) {
        p.push(format!("{path}.site"), format!("unknown site {id:?}"));
    }
    if let Some(digits) = number {
        match known.numbers.get(digits) {
            None => p.push(
                format!("{path}.number"),
                format!("{digits:?} is not a tracking number of any site"),
            ),
            Some(n) if site_config.is_some_and(|s| s.id != n.site) => p.push(
                format!("{path}.number"),
                format!(
                    "{digits} belongs to site {:?}, not to this route's site",
                    n.site
                ),
            ),
            Some(_) => {}
        }
    }
    if let Some(id) = pool {
        let mut sites = known
            .sites
            .iter()
            .filter(|s| site_config.is_none_or(|c| c.id == s.id));
        if !sites.any(|s| s.pools.iter().any(|pool| pool.id == *id)) {
            let whose = if site_config.is_some() {
                "this route's site"
            } else {
                "any site"
            };
            p.push(
                format!("{path}.pool"),
                format!("unknown pool {id:?} (not a pool of {whose})"),
            );
        }
    }
}

fn after_hours(
    path: &str,
    schedule: Option<String>,
    scheme: Option<String>,
    known: &Known<'_>,
    p: &mut Problems,
) -> Option<AfterHours> {
    match (schedule, scheme) {
        (Some(schedule), Some(scheme)) => {
            if !known.schedules.iter().any(|s| s.id == schedule) {
                let message = format!("unknown schedule {schedule:?} (see [[schedules]])");
                p.push(format!("{path}.schedule"), message);
            }
            check_scheme(&format!("{path}.after_hours_scheme"), &scheme, known, p);
            Some(AfterHours { schedule, scheme })
        }
        (Some(_), None) => {
            let message = "required with schedule (the scheme taken while it is closed)";
            p.push(format!("{path}.after_hours_scheme"), message);
            None
        }
        (None, Some(_)) => {
            let message = "required with after_hours_scheme (when it applies)";
            p.push(format!("{path}.schedule"), message);
            None
        }
        (None, None) => None,
    }
}
