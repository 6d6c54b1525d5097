//! Validation of `[[sites.rules]]`: patterns, the time-of-day window, and exactly one action
//! that refers to the site's own pools or static numbers.

use jiff::civil::Time;

use super::site_file::RuleFile;
use super::validate::Problems;
use super::web::parse_hh_mm;
use super::{DisplayAction, DisplayRule, PoolConfig, StaticNumber};

/// What a rule's action may refer to: the site's pools and static numbers.
pub(super) struct Targets<'a> {
    pub(super) pools: &'a [PoolConfig],
    pub(super) static_numbers: &'a [StaticNumber],
}

pub(super) fn rules(
    site_path: &str,
    files: Vec<RuleFile>,
    targets: &Targets<'_>,
    p: &mut Problems,
) -> Vec<DisplayRule> {
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| rule(&format!("{site_path}.rules[{i}]"), f, targets, p))
        .collect()
}

fn rule(path: &str, f: RuleFile, targets: &Targets<'_>, p: &mut Problems) -> DisplayRule {
    let conditions = [
        ("utm_source", &f.utm_source),
        ("utm_medium", &f.utm_medium),
        ("utm_campaign", &f.utm_campaign),
        ("utm_term", &f.utm_term),
        ("utm_content", &f.utm_content),
        ("referrer_host", &f.referrer_host),
        ("landing_path", &f.landing_path),
        ("region", &f.region),
    ];
    for (key, patterns) in conditions {
        for (k, pattern) in patterns.iter().enumerate() {
            p.non_blank(&format!("{path}.{key}[{k}]"), pattern);
        }
    }
    let time_of_day = f.time_of_day.as_deref().and_then(|text| {
        let window = parse_window(text);
        if let Err(message) = &window {
            p.push(format!("{path}.time_of_day"), message.clone());
        }
        window.ok()
    });
    let action = action(path, &f, targets, p);
    DisplayRule {
        utm_source: f.utm_source,
        utm_medium: f.utm_medium,
        utm_campaign: f.utm_campaign,
        utm_term: f.utm_term,
        utm_content: f.utm_content,
        referrer_host: f.referrer_host,
        landing_path: f.landing_path,
        region: f.region,
        time_of_day,
        action,
    }
}

/// "HH:MM-HH:MM", start and end different; `start > end` wraps midnight.
fn parse_window(text: &str) -> Result<(Time, Time), String> {
    let bad = || format!("{text:?} is not a time window \"HH:MM-HH:MM\"");
    let (start, end) = text.split_once('-').ok_or_else(bad)?;
    let start = time_of(start.trim()).ok_or_else(bad)?;
    let end = time_of(end.trim()).ok_or_else(bad)?;
    if start == end {
        return Err(format!("{text:?} is empty: start and end are equal"));
    }
    Ok((start, end))
}

fn time_of(text: &str) -> Option<Time> {
    let (hours, minutes) = parse_hh_mm(text, 23)?;
    Time::new(hours, minutes, 0, 0).ok()
}

/// Exactly one of `pools`, `number`, `default = true`; a broken action falls back to Default.
fn action(path: &str, f: &RuleFile, targets: &Targets<'_>, p: &mut Problems) -> DisplayAction {
    let given = usize::from(f.pools.is_some())
        + usize::from(f.number.is_some())
        + usize::from(f.default == Some(true));
    if given != 1 {
        let message =
            format!("needs exactly one action (pools, number or default = true), found {given}");
        p.push(path, message);
        return DisplayAction::Default;
    }
    if let Some(pools) = &f.pools {
        return DisplayAction::Pools(rule_pools(&format!("{path}.pools"), pools, targets, p));
    }
    if let Some(number) = &f.number {
        let known = targets.static_numbers.iter().any(|s| &s.number == number);
        if !known {
            let message = format!("{number:?} is not a static number of this site");
            p.push(format!("{path}.number"), message);
        }
        return DisplayAction::Number(number.clone());
    }
    DisplayAction::Default
}

fn rule_pools(path: &str, ids: &[String], targets: &Targets<'_>, p: &mut Problems) -> Vec<String> {
    if ids.is_empty() {
        p.push(path, "list at least one pool");
    }
    let mut seen: Vec<&String> = Vec::with_capacity(ids.len());
    for (k, id) in ids.iter().enumerate() {
        if seen.contains(&id) {
            p.push(
                format!("{path}[{k}]"),
                format!("pool {id:?} is listed twice"),
            );
        } else if !targets.pools.iter().any(|pool| &pool.id == id) {
            let known: Vec<&str> = targets.pools.iter().map(|pool| pool.id.as_str()).collect();
            let message = format!("no pool {id:?} in this site (pools: {})", known.join(", "));
            p.push(format!("{path}[{k}]"), message);
        }
        seen.push(id);
    }
    ids.to_vec()
}
