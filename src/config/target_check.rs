//! Validation of one scheme target (`uri`, or `number` + `gateway`; also a scheme's fallback)
//! and of a scheme's failover codes (`failover_on`, `final_statuses`).

use std::collections::HashSet;

use crate::config::dialing::{FailoverRules, StatusMatch};

use super::routing::{TargetConfig, TargetDest};
use super::routing_check::timeout;
use super::routing_file::TargetFile;
use super::uri;
use super::validate::Problems;

/// A target (or a fallback, whose keys are named `keys` = [uri, number, gateway]).
pub(super) fn target(
    path: &str,
    keys: [&str; 3],
    f: TargetFile,
    gateways: &HashSet<&str>,
    p: &mut Problems,
) -> TargetConfig {
    let [uri_key, number_key, gateway_key] = keys;
    let weight = f.weight.unwrap_or(1);
    p.at_least(&format!("{path}.weight"), weight, 1);
    let ring_timeout = timeout(&format!("{path}.ring_timeout_secs"), f.ring_timeout_secs, p);
    let dest = match (f.uri, f.number, f.gateway) {
        (Some(uri), None, None) => {
            let uri_path = format!("{path}.{uri_key}");
            if let Err(message) = uri::check_sip_uri(&uri) {
                p.push(uri_path, message);
            }
            TargetDest::Uri(uri)
        }
        (None, Some(number), Some(gateway)) => {
            check_dial_number(&format!("{path}.{number_key}"), &number, p);
            if !gateways.contains(gateway.as_str()) {
                let message = format!("unknown gateway {gateway:?} (see [[gateways]])");
                p.push(format!("{path}.{gateway_key}"), message);
            }
            TargetDest::Number { number, gateway }
        }
        (None, Some(_), None) => {
            p.push(
                format!("{path}.{gateway_key}"),
                format!("required with {number_key}"),
            );
            TargetDest::Uri(String::new())
        }
        (None, None, Some(_)) => {
            p.push(
                format!("{path}.{number_key}"),
                format!("required with {gateway_key}"),
            );
            TargetDest::Uri(String::new())
        }
        (None, None, None) => {
            let message = format!("needs {uri_key}, or {number_key} and {gateway_key}");
            p.push(path, message);
            TargetDest::Uri(String::new())
        }
        (Some(_), _, _) => {
            let message =
                format!("give either {uri_key} or {number_key} + {gateway_key}, not both");
            p.push(path, message);
            TargetDest::Uri(String::new())
        }
    };
    TargetConfig {
        dest,
        weight,
        ring_timeout,
    }
}

/// A number dialled through a gateway: an optional '+' and 2 to 20 digits.
fn check_dial_number(path: &str, number: &str, p: &mut Problems) {
    let digits = number.strip_prefix('+').unwrap_or(number);
    let ok = (2..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        p.push(
            path,
            format!("{number:?} is not a phone number (an optional '+' and 2 to 20 digits)"),
        );
    }
}

pub(super) fn failover(
    path: &str,
    failover_on: Option<Vec<String>>,
    final_statuses: Option<Vec<u16>>,
    p: &mut Problems,
) -> FailoverRules {
    let mut rules = FailoverRules::default();
    if let Some(list) = failover_on {
        rules.failover_on_timeout = list.iter().any(|s| s.trim() == "timeout");
        rules.failover_statuses = list
            .iter()
            .enumerate()
            .filter(|(_, s)| s.trim() != "timeout")
            .filter_map(|(k, s)| match status_match(s) {
                Some(m) => Some(m),
                None => {
                    let message = format!(
                        "{s:?} is not \"timeout\", a status 300..=699 (\"486\") or a class (\"5xx\")"
                    );
                    p.push(format!("{path}.failover_on[{k}]"), message);
                    None
                }
            })
            .collect();
    }
    if let Some(list) = final_statuses {
        for (k, &status) in list.iter().enumerate() {
            p.within(&format!("{path}.final_statuses[{k}]"), status, 300, 699);
        }
        rules.final_statuses = list;
    }
    rules
}

/// "486" or "5xx" (case-insensitive), failure statuses only (3xx..6xx).
fn status_match(text: &str) -> Option<StatusMatch> {
    let text = text.trim().to_ascii_lowercase();
    if let Some(class) = text.strip_suffix("xx") {
        let class: u16 = class.parse().ok()?;
        return (3..=6)
            .contains(&class)
            .then_some(StatusMatch::Class(class));
    }
    if text.len() != 3 {
        return None;
    }
    let code: u16 = text.parse().ok()?;
    (300..=699)
        .contains(&code)
        .then_some(StatusMatch::Code(code))
}
