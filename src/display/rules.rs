//! Whether one display rule matches a visit: case-insensitive '*' globs over campaign tags,
//! referrer host, landing path and region, and a site-local time-of-day window.

use jiff::civil::Time;

use crate::config::DisplayRule;
use crate::lease::Visit;

/// All of the rule's conditions hold; an empty pattern list is no condition, and a condition on
/// a value the visit lacks does not hold (so `utm_term = ["*"]` means "any utm_term").
pub(super) fn matches(rule: &DisplayRule, visit: &Visit, local: Time) -> bool {
    let texts: [(&[String], Option<&str>); 6] = [
        (&rule.utm_source, visit.utm_source()),
        (&rule.utm_medium, visit.utm_medium()),
        (&rule.utm_campaign, visit.utm_campaign()),
        (&rule.utm_term, visit.utm_term()),
        (&rule.utm_content, visit.utm_content()),
        (&rule.region, visit.region()),
    ];
    texts
        .iter()
        .all(|(patterns, value)| any_match(patterns, *value))
        && parsed_match(&rule.referrer_host, || visit.referrer_host())
        && parsed_match(&rule.landing_path, || visit.landing_path())
        && rule
            .time_of_day
            .is_none_or(|(start, end)| in_window(local, start, end))
}

/// Like [`any_match`], parsing the value only when there is a condition.
fn parsed_match(patterns: &[String], value: impl FnOnce() -> Option<String>) -> bool {
    patterns.is_empty() || any_match(patterns, value().as_deref())
}

fn any_match(patterns: &[String], value: Option<&str>) -> bool {
    if patterns.is_empty() {
        return true;
    }
    value.is_some_and(|value| patterns.iter().any(|p| glob_match(p, value)))
}

/// `[start, end)`, wrapping midnight when `start > end`.
fn in_window(t: Time, start: Time, end: Time) -> bool {
    if start <= end {
        start <= t && t < end
    } else {
        t >= start || t < end
    }
}

/// `*` is the only wildcard; `?` is a literal, as it always was here. `wildmatch` needs a
/// single-character wildcard distinct from `*`, so it gets a Unicode noncharacter that no
/// campaign tag, host, path or region contains.
type Glob = wildmatch::WildMatchPattern<'*', '\u{FFFF}'>;

/// Case-insensitive glob where '*' matches any run of characters (also none).
pub(super) fn glob_match(pattern: &str, value: &str) -> bool {
    Glob::new_case_insensitive(pattern.trim()).matches(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::time;

    #[test]
    fn globs() {
        assert!(glob_match("google", "Google"));
        assert!(glob_match("*.google.*", "www.google.co.uk"));
        assert!(!glob_match("*.google.*", "google.com"));
        assert!(glob_match("brand*", "brand"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("/promo/*", "/promo/spring"));
        assert!(!glob_match("/promo/*", "/about"));
        assert!(glob_match("МОСКВА", "москва"));
        assert!(glob_match(" a?c ", "A?C"));
        assert!(!glob_match("a?c", "abc"));
        assert!(glob_match("**x", "x"));
    }

    #[test]
    fn windows() {
        assert!(in_window(
            time(9, 0, 0, 0),
            time(9, 0, 0, 0),
            time(21, 0, 0, 0)
        ));
        assert!(!in_window(
            time(21, 0, 0, 0),
            time(9, 0, 0, 0),
            time(21, 0, 0, 0)
        ));
        assert!(in_window(
            time(23, 30, 0, 0),
            time(22, 0, 0, 0),
            time(6, 0, 0, 0)
        ));
        assert!(in_window(
            time(0, 10, 0, 0),
            time(22, 0, 0, 0),
            time(6, 0, 0, 0)
        ));
        assert!(!in_window(
            time(12, 0, 0, 0),
            time(22, 0, 0, 0),
            time(6, 0, 0, 0)
        ));
    }
}
