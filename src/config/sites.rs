//! Validation of `[[sites]]`: ids, forwarding URIs, static numbers, pools, and the rule that
//! every tracking number has exactly one place across all sites. The website side lives in
//! `web.rs`, display rules in `rules.rs`.

use std::collections::HashMap;
use std::time::Duration;

use super::file::{PoolFile, SiteFile, StaticNumberFile};
use super::number::{check_e164, expand_entry};
use super::rules::{Targets, rules};
use super::validate::Problems;
use super::web::web;
use super::{NumberKind, PoolConfig, SiteConfig, StaticNumber, TrackingNumber, uri};

/// Most tracking numbers in one config (bounds memory for the number table).
const MAX_TRACKING_NUMBERS: usize = 1_000_000;

/// Every tracking number claimed so far, with the key path that claimed it.
#[derive(Debug, Default)]
struct NumberIndex {
    numbers: HashMap<String, TrackingNumber>,
    places: HashMap<String, String>,
}

impl NumberIndex {
    /// Claims one number for `path`; records a problem naming both places if already taken.
    fn claim(&mut self, p: &mut Problems, path: &str, number: TrackingNumber) {
        if let Some(other) = self.places.get(&number.number) {
            let message = format!("number {} is already used at {other}", number.number);
            p.push(path, message);
            return;
        }
        self.places.insert(number.number.clone(), path.to_owned());
        self.numbers.insert(number.number.clone(), number);
    }

    /// Claims a number written by hand (static, default, reserve) after checking its syntax.
    fn claim_checked(&mut self, p: &mut Problems, path: &str, number: TrackingNumber) {
        match check_e164(&number.number) {
            Ok(()) => self.claim(p, path, number),
            Err(message) => p.push(path, message),
        }
    }

    /// Claims an expanded pool entry; reports one line for all of its collisions.
    fn claim_all(&mut self, p: &mut Problems, path: &str, numbers: &[String], owner: &Owner) {
        if self.numbers.len() + numbers.len() > MAX_TRACKING_NUMBERS {
            p.push(
                path,
                format!("more than {MAX_TRACKING_NUMBERS} tracking numbers in total"),
            );
            return;
        }
        if let [number] = numbers {
            self.claim(p, path, owner.number(number, owner.pool_kind()));
            return;
        }
        let taken: Vec<&String> = numbers
            .iter()
            .filter(|n| self.places.contains_key(*n))
            .collect();
        if let Some(first) = taken.first() {
            let other = self.places.get(*first).map_or("", String::as_str);
            let message = format!(
                "{} of these {} numbers are already used, the first ({first}) at {other}",
                taken.len(),
                numbers.len()
            );
            p.push(path, message);
            return;
        }
        for number in numbers {
            self.claim(p, path, owner.number(number, owner.pool_kind()));
        }
    }
}

/// The site (and pool) a number is being claimed for.
struct Owner {
    site: String,
    forward_to: String,
    pool: String,
}

impl Owner {
    fn number(&self, digits: &str, kind: NumberKind) -> TrackingNumber {
        TrackingNumber {
            number: digits.to_owned(),
            site: self.site.clone(),
            forward_to: self.forward_to.clone(),
            kind,
        }
    }

    fn pool_kind(&self) -> NumberKind {
        NumberKind::Dynamic {
            pool: self.pool.clone(),
        }
    }
}

/// Checks all sites and builds the number table.
pub(super) fn sites(
    files: Vec<SiteFile>,
    p: &mut Problems,
) -> (Vec<SiteConfig>, HashMap<String, TrackingNumber>) {
    let mut index = NumberIndex::default();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut sites = Vec::with_capacity(files.len());
    for (i, file) in files.into_iter().enumerate() {
        let path = format!("sites[{i}]");
        let site = site(&path, file, &mut index, p);
        if let Some(first) = ids.get(&site.id) {
            p.push(
                format!("{path}.id"),
                format!("duplicate site id {:?} (also sites[{first}].id)", site.id),
            );
        } else if !site.id.is_empty() {
            ids.insert(site.id.clone(), i);
        }
        sites.push(site);
    }
    (sites, index.numbers)
}

fn site(path: &str, f: SiteFile, index: &mut NumberIndex, p: &mut Problems) -> SiteConfig {
    let web = web(path, &f, p);
    let id = required_id(&format!("{path}.id"), f.id, p);
    let forward_to = forward_to(&format!("{path}.forward_to"), f.forward_to, p);
    optional_text(&format!("{path}.name"), f.name.as_deref(), p);
    p.at_least(&format!("{path}.freeze_secs"), f.freeze_secs, 1);
    let quality_min_talk = f.quality_min_talk_secs.map(|secs| {
        let key = format!("{path}.quality_min_talk_secs");
        p.within(&key, secs, 0, super::tracking::MAX_QUALITY_TALK_SECS);
        Duration::from_secs(secs)
    });
    let mut owner = Owner {
        site: id.clone(),
        forward_to: forward_to.clone(),
        pool: String::new(),
    };
    let fallbacks = [
        ("default_number", &f.default_number, NumberKind::Default),
        ("reserve_number", &f.reserve_number, NumberKind::Reserve),
    ];
    for (key, number, kind) in fallbacks {
        if let Some(number) = number {
            let number = owner.number(number, kind);
            index.claim_checked(p, &format!("{path}.{key}"), number);
        }
    }
    let static_numbers: Vec<StaticNumber> = f
        .static_numbers
        .into_iter()
        .enumerate()
        .map(|(j, s)| static_number(&format!("{path}.static_numbers[{j}]"), s, &owner, index, p))
        .collect();
    let pools = pools(path, f.pools, &mut owner, index, p);
    overflow_code(path, &f.reserve_number, &pools, f.overflow_code, p);
    let targets = Targets {
        pools: &pools,
        static_numbers: &static_numbers,
    };
    let rules = rules(path, f.rules, &targets, p);
    SiteConfig {
        id,
        name: f.name,
        forward_to,
        forward_to_counted: f.forward_to_counted,
        quality_min_talk,
        default_number: f.default_number,
        reserve_number: f.reserve_number,
        freeze: Duration::from_secs(f.freeze_secs),
        static_numbers,
        pools,
        origins: web.origins,
        utc_offset: web.utc_offset,
        report_zone: report_zone(path, f.time_zone.as_deref(), web.utc_offset, p),
        lease_cooldown: web.lease_cooldown,
        last_holder: web.last_holder,
        adapt_freeze: f.adapt_freeze,
        heartbeat: web.heartbeat,
        overflow_code: f.overflow_code,
        rules,
        media: f.media,
        record: f.record,
        announce: f.announce,
        answer: f.answer,
        voicemail: super::voicemail::voicemail(
            &format!("{path}.voicemail"),
            f.voicemail,
            super::voicemail::relayed(f.media, f.record),
            p,
        ),
    }
}

/// Overflow codes are shown beside the reserve number when the pools run dry: both must exist.
fn overflow_code(
    path: &str,
    reserve: &Option<String>,
    pools: &[PoolConfig],
    on: bool,
    p: &mut Problems,
) {
    if on && reserve.is_none() {
        let message = "needs a reserve_number (the number shown with the code)";
        p.push(format!("{path}.overflow_code"), message);
    }
    if on && pools.is_empty() {
        let message = "needs at least one pool (codes are shown when the pools are exhausted)";
        p.push(format!("{path}.overflow_code"), message);
    }
}

/// The site's IANA `time_zone`, else its `utc_offset` as a fixed zone.
fn report_zone(
    path: &str,
    name: Option<&str>,
    offset: jiff::tz::Offset,
    p: &mut Problems,
) -> jiff::tz::TimeZone {
    match name {
        None => jiff::tz::TimeZone::fixed(offset),
        Some(name) => jiff::tz::TimeZone::get(name).unwrap_or_else(|_| {
            let message = format!("{name:?} is not an IANA time zone (\"Europe/Moscow\")");
            p.push(format!("{path}.time_zone"), message);
            jiff::tz::TimeZone::fixed(offset)
        }),
    }
}

/// A required `sip:`/`sips:` URI.
fn forward_to(path: &str, value: Option<String>, p: &mut Problems) -> String {
    let uri = required(path, value, p);
    if !uri.is_empty() {
        if let Err(message) = uri::check_sip_uri(&uri) {
            p.push(path, message);
        }
    }
    uri
}

fn static_number(
    path: &str,
    f: StaticNumberFile,
    owner: &Owner,
    index: &mut NumberIndex,
    p: &mut Problems,
) -> StaticNumber {
    let number_path = format!("{path}.number");
    let number = required(&number_path, f.number, p);
    let source = required(&format!("{path}.source"), f.source, p);
    optional_text(&format!("{path}.medium"), f.medium.as_deref(), p);
    optional_text(&format!("{path}.campaign"), f.campaign.as_deref(), p);
    let entry = StaticNumber {
        number,
        source,
        medium: f.medium,
        campaign: f.campaign,
        media: f.media,
        record: f.record,
        announce: f.announce,
        answer: f.answer,
    };
    if !entry.number.is_empty() {
        let number = owner.number(&entry.number, static_kind(&entry));
        index.claim_checked(p, &number_path, number);
    }
    entry
}

fn static_kind(entry: &StaticNumber) -> NumberKind {
    NumberKind::Static {
        source: entry.source.clone(),
        medium: entry.medium.clone(),
        campaign: entry.campaign.clone(),
    }
}

fn pools(
    site_path: &str,
    files: Vec<PoolFile>,
    owner: &mut Owner,
    index: &mut NumberIndex,
    p: &mut Problems,
) -> Vec<PoolConfig> {
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut pools = Vec::with_capacity(files.len());
    for (j, file) in files.into_iter().enumerate() {
        let path = format!("{site_path}.pools[{j}]");
        let id = required_id(&format!("{path}.id"), file.id, p);
        if let Some(first) = ids.get(&id) {
            let message = format!("duplicate pool id {id:?} (also {site_path}.pools[{first}].id)");
            p.push(format!("{path}.id"), message);
        } else if !id.is_empty() {
            ids.insert(id.clone(), j);
        }
        owner.pool.clone_from(&id);
        let numbers = pool_numbers(&path, &file.numbers, owner, index, p);
        let region = pool_region(&format!("{path}.region"), file.region, p);
        pools.push(PoolConfig {
            id,
            numbers,
            region,
        });
    }
    pools
}

fn pool_numbers(
    path: &str,
    entries: &[String],
    owner: &Owner,
    index: &mut NumberIndex,
    p: &mut Problems,
) -> Vec<String> {
    if entries.is_empty() {
        p.push(
            format!("{path}.numbers"),
            "a pool needs at least one number",
        );
    }
    let mut numbers = Vec::new();
    for (k, entry) in entries.iter().enumerate() {
        let entry_path = format!("{path}.numbers[{k}]");
        match expand_entry(entry) {
            Ok(expanded) => {
                index.claim_all(p, &entry_path, &expanded, owner);
                numbers.extend(expanded);
            }
            Err(message) => p.push(entry_path, message),
        }
    }
    numbers
}

/// An optional region, compared lowercase.
fn pool_region(path: &str, value: Option<String>, p: &mut Problems) -> Option<String> {
    let region = value?;
    p.non_blank(path, &region)
        .then(|| region.trim().to_lowercase())
}

/// A required string; missing or blank is a problem, and yields "".
pub(super) fn required(path: &str, value: Option<String>, p: &mut Problems) -> String {
    match value {
        Some(value) => {
            p.non_blank(path, &value);
            value
        }
        None => {
            p.push(path, "required key is missing");
            String::new()
        }
    }
}

/// A required id made of `[a-z0-9_-]`.
pub(super) fn required_id(path: &str, value: Option<String>, p: &mut Problems) -> String {
    let id = required(path, value, p);
    let valid = id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid {
        p.push(
            path,
            format!("{id:?} may only contain a-z, 0-9, '_' and '-'"),
        );
    }
    id
}

fn optional_text(path: &str, value: Option<&str>, p: &mut Problems) {
    if let Some(value) = value {
        p.non_blank(path, value);
    }
}
