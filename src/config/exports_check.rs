//! Checks of `[exports]`: every problem with its key path; secrets given as `env:NAME` are
//! read from the environment here, so a missing variable is a config error.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use url::Url;

use super::exports::{
    Bitrix24Config, Bitrix24File, DeliveryPolicy, EventKind, ExportsConfig, ExportsFile, Ga4Config,
    Ga4File, MetricaConfig, MetricaFile, Secret, Send, ValueFrom, WebhookConfig, WebhookFile,
};
use super::validate::Problems;

const GA4_ENDPOINT: &str = "https://www.google-analytics.com";
const METRICA_ENDPOINT: &str = "https://api-metrika.yandex.net";
/// GA4 event names: letters, digits and underscores, starting with a letter, at most 40.
const GA4_NAME_MAX: usize = 40;

pub(super) fn exports(f: &ExportsFile, site_names: &[&str], p: &mut Problems) -> ExportsConfig {
    let sites = f.webhooks.iter().map(|d| ("webhooks", &d.sites));
    let sites = sites.chain(f.ga4.iter().map(|d| ("ga4", &d.sites)));
    let sites = sites.chain(f.metrica.iter().map(|d| ("metrica", &d.sites)));
    let sites = sites.chain(f.bitrix24.iter().map(|d| ("bitrix24", &d.sites)));
    let mut index = std::collections::HashMap::<&str, usize>::new();
    for (kind, names) in sites {
        let i = index.entry(kind).or_default();
        for (j, name) in names.iter().enumerate() {
            if !site_names.contains(&name.as_str()) {
                p.push(
                    format!("exports.{kind}[{i}].sites[{j}]"),
                    format!("{name:?} is not a configured site"),
                );
            }
        }
        *i += 1;
    }
    let config = ExportsConfig {
        policy: policy(f, p),
        webhooks: indexed(&f.webhooks, "exports.webhooks", p, webhook),
        ga4: indexed(&f.ga4, "exports.ga4", p, ga4),
        metrica: indexed(&f.metrica, "exports.metrica", p, metrica),
        bitrix24: indexed(&f.bitrix24, "exports.bitrix24", p, bitrix24),
    };
    unique_ids(f, p);
    config
}

pub(super) fn policy(f: &ExportsFile, p: &mut Problems) -> DeliveryPolicy {
    p.within("exports.max_attempts", f.max_attempts, 1, 1000);
    p.within("exports.max_age_hours", f.max_age_hours, 1, 24 * 365);
    p.within("exports.retry_min_ms", f.retry_min_ms, 1, 3_600_000);
    p.within("exports.retry_max_secs", f.retry_max_secs, 1, 86_400);
    p.within("exports.concurrency", f.concurrency, 1, 256);
    p.within("exports.timeout_secs", f.timeout_secs, 1, 300);
    p.within(
        "exports.keep_delivered_days",
        f.keep_delivered_days,
        1,
        3650,
    );
    DeliveryPolicy {
        max_attempts: f.max_attempts.max(1),
        max_age: Duration::from_secs(f.max_age_hours.min(24 * 365) * 3600),
        retry_min: Duration::from_millis(f.retry_min_ms.max(1)),
        retry_max: Duration::from_secs(f.retry_max_secs.clamp(1, 86_400)),
        concurrency: f.concurrency.clamp(1, 256),
        timeout: Duration::from_secs(f.timeout_secs.clamp(1, 300)),
        keep_delivered: Duration::from_secs(f.keep_delivered_days.min(3650) * 86_400),
    }
}

fn indexed<F, C>(
    files: &[F],
    key: &str,
    p: &mut Problems,
    check: impl Fn(&F, &str, &mut Problems) -> C,
) -> Vec<C> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| check(f, &format!("{key}[{i}]"), p))
        .collect()
}

fn unique_ids(f: &ExportsFile, p: &mut Problems) {
    let ids = f.webhooks.iter().map(|d| ("webhooks", &d.id));
    let ids = ids.chain(f.ga4.iter().map(|d| ("ga4", &d.id)));
    let ids = ids.chain(f.metrica.iter().map(|d| ("metrica", &d.id)));
    let ids = ids.chain(f.bitrix24.iter().map(|d| ("bitrix24", &d.id)));
    let mut seen = HashSet::new();
    let mut index = std::collections::HashMap::<&str, usize>::new();
    for (kind, id) in ids {
        let i = index.entry(kind).or_default();
        let path = format!("exports.{kind}[{i}].id");
        *i += 1;
        if !id_shape(id) {
            p.push(
                &path,
                format!("{id:?}: use 1-64 letters, digits, '-' or '_'"),
            );
        } else if !seen.insert(id.as_str()) {
            p.push(&path, format!("{id:?} names another destination already"));
        }
    }
}

fn id_shape(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn webhook(f: &WebhookFile, at: &str, p: &mut Problems) -> WebhookConfig {
    WebhookConfig {
        id: f.id.clone(),
        url: http_url(&f.url, &format!("{at}.url"), p),
        events: events(&f.events, &format!("{at}.events"), p),
        sites: f.sites.clone(),
        secret: signing_key(&f.secret, &format!("{at}.secret"), p),
    }
}

fn ga4(f: &Ga4File, at: &str, p: &mut Problems) -> Ga4Config {
    let mid = f.measurement_id.trim();
    if !mid.starts_with("G-")
        || mid.len() < 4
        || !mid[2..].bytes().all(|b| b.is_ascii_alphanumeric())
    {
        p.push(
            format!("{at}.measurement_id"),
            format!("{mid:?} is not a GA4 measurement id (G-XXXXXXX)"),
        );
    }
    let name = &f.event_name;
    let name_ok = name.len() <= GA4_NAME_MAX
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !name_ok {
        p.push(
            format!("{at}.event_name"),
            format!("{name:?}: GA4 names are 1-40 letters, digits or '_', starting with a letter"),
        );
    }
    Ga4Config {
        id: f.id.clone(),
        measurement_id: mid.to_owned(),
        api_secret: secret(&f.api_secret, &format!("{at}.api_secret"), p),
        event_name: name.clone(),
        send: send(&f.send, &format!("{at}.send"), p),
        value_from: value_from(f, at, p),
        sites: f.sites.clone(),
        endpoint: endpoint(
            f.endpoint.as_deref(),
            GA4_ENDPOINT,
            &format!("{at}.endpoint"),
            p,
        ),
    }
}

fn value_from(f: &Ga4File, at: &str, p: &mut Problems) -> ValueFrom {
    let fixed = match f.value {
        Some(v) if !(v.is_finite() && (0.0..1e12).contains(&v)) => {
            p.push(format!("{at}.value"), format!("{v} is not an amount"));
            None
        }
        Some(v) => Some((v * 100.0).round() as i64),
        None => None,
    };
    match f.value_from.as_str() {
        "deal" => ValueFrom::Deal,
        "fixed" => ValueFrom::Fixed(fixed),
        other => {
            p.push(
                format!("{at}.value_from"),
                format!("{other:?}: use \"deal\" or \"fixed\""),
            );
            ValueFrom::Fixed(fixed)
        }
    }
}

fn metrica(f: &MetricaFile, at: &str, p: &mut Problems) -> MetricaConfig {
    if f.counter_id == 0 {
        p.push(format!("{at}.counter_id"), "must be the counter's id");
    }
    p.within(&format!("{at}.every_secs"), f.every_secs, 10, 86_400);
    let tracker = f.call_tracker_url.as_deref();
    if let Some(text) = tracker {
        http_url(text, &format!("{at}.call_tracker_url"), p);
    }
    MetricaConfig {
        id: f.id.clone(),
        counter_id: f.counter_id,
        oauth_token: secret(&f.oauth_token, &format!("{at}.oauth_token"), p),
        every: Duration::from_secs(f.every_secs.clamp(10, 86_400)),
        send: send(&f.send, &format!("{at}.send"), p),
        sites: f.sites.clone(),
        call_tracker_url: tracker.map(str::to_owned),
        endpoint: endpoint(
            f.endpoint.as_deref(),
            METRICA_ENDPOINT,
            &format!("{at}.endpoint"),
            p,
        ),
    }
}

fn bitrix24(f: &Bitrix24File, at: &str, p: &mut Problems) -> Bitrix24Config {
    let path = format!("{at}.webhook_url");
    let url = secret(&f.webhook_url, &path, p);
    let mut text = url.expose().to_owned();
    if !text.is_empty() {
        secret_url(&text, &path, p);
        if !text.ends_with('/') {
            text.push('/');
        }
    }
    if f.user_id == 0 {
        p.push(format!("{at}.user_id"), "must be a Bitrix24 user id");
    }
    for (source, status) in &f.crm_sources {
        let ok = (1..=50).contains(&status.len())
            && status
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-:".contains(&b));
        if !ok {
            p.push(
                format!("{at}.crm_sources.{source}"),
                format!(
                    "{status:?} is not a CRM source STATUS_ID (1-50 letters, digits, '_', '-', ':')"
                ),
            );
        }
    }
    Bitrix24Config {
        id: f.id.clone(),
        webhook_url: Secret::new(text),
        user_id: f.user_id,
        create_crm: f.create_crm,
        show_card: f.show_card,
        crm_sources: f
            .crm_sources
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect(),
        sites: f.sites.clone(),
    }
}

fn events(names: &[String], path: &str, p: &mut Problems) -> Vec<EventKind> {
    if names.is_empty() {
        return EventKind::ALL.to_vec();
    }
    let mut kinds = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        match EventKind::parse(name) {
            Some(kind) => kinds.push(kind),
            None => p.push(format!("{path}[{i}]"), format!("{name:?} is not an event type; use one of call.ringing, call.answered, call.ended, call.updated, call.scored, lead.created")),
        }
    }
    kinds
}

fn send(text: &str, path: &str, p: &mut Problems) -> Send {
    match text {
        "all" => Send::All,
        "first_time" => Send::FirstTime,
        "quality" => Send::Quality,
        "target" => Send::Target,
        other => {
            p.push(
                path,
                format!("{other:?}: use \"all\", \"first_time\", \"quality\" or \"target\""),
            );
            Send::All
        }
    }
}

/// A credential as written, or from `env:NAME`.
pub(super) fn secret(text: &str, path: &str, p: &mut Problems) -> Secret {
    let value = match text.strip_prefix("env:") {
        Some(name) => match std::env::var(name) {
            Ok(value) => value,
            Err(_) => {
                p.push(path, format!("environment variable {name} is not set"));
                return Secret::new(String::new());
            }
        },
        None => text.to_owned(),
    };
    if value.trim().is_empty() {
        p.push(path, "must not be empty");
    }
    Secret::new(value.trim())
}

/// A Standard Webhooks secret: `whsec_` and base64; the key is the decoded bytes.
fn signing_key(text: &str, path: &str, p: &mut Problems) -> Secret {
    let written = secret(text, path, p);
    let Some(b64) = written.expose().strip_prefix("whsec_") else {
        if !written.expose().is_empty() {
            p.push(
                path,
                "must be \"whsec_\" followed by base64 (Standard Webhooks)",
            );
        }
        return Secret::new(String::new());
    };
    match base64::engine::general_purpose::STANDARD.decode(b64) {
        Ok(key) if key.len() >= 16 => Secret::new(b64),
        Ok(_) => {
            p.push(path, "the key must be at least 16 bytes");
            Secret::new(String::new())
        }
        Err(e) => {
            p.push(
                path,
                format!("the part after \"whsec_\" is not base64: {e}"),
            );
            Secret::new(String::new())
        }
    }
}

/// A service's base URL, without a trailing `/`.
fn endpoint(text: Option<&str>, default: &str, path: &str, p: &mut Problems) -> String {
    http_url(text.unwrap_or(default), path, p)
        .trim_end_matches('/')
        .to_owned()
}

/// Checks an http(s) URL that carries a secret (a Bitrix24 webhook): the problem names the
/// key and what is wrong, never the URL.
fn secret_url(text: &str, path: &str, p: &mut Problems) {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        Ok(_) => p.push(
            path,
            "must be an http or https URL (not shown: it carries the secret)",
        ),
        Err(e) => p.push(
            path,
            format!("is not a URL: {e} (not shown: it carries the secret)"),
        ),
    }
}

/// A checked http(s) URL, kept as written (trailing `/` trimmed for bases).
pub(super) fn http_url(text: &str, path: &str, p: &mut Problems) -> String {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        Ok(_) => p.push(path, format!("{text:?} must be an http or https URL")),
        Err(e) => p.push(path, format!("{text:?} is not a URL: {e}")),
    }
    text.to_owned()
}
