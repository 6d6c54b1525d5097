//! The validated routing config: outbound gateways, distribution schemes, schedules and the
//! routes that pick a scheme for a call. Checked in `routing_check.rs` / `schedule_check.rs`;
//! turned into a plan for one call by `call::distribution::select`.

use std::time::Duration;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

use crate::config::dialing::{Credentials, FailoverRules, Strategy};
use crate::sip::message::{Host, SipUri};

/// `[[gateways]]`, `[[schemes]]`, `[[schedules]]`, `[[routes]]`, all checked against each other.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutingConfig {
    pub gateways: Vec<GatewayConfig>,
    pub schemes: Vec<SchemeConfig>,
    pub schedules: Vec<ScheduleConfig>,
    /// In file order; the first match wins.
    pub routes: Vec<RouteConfig>,
}

impl RoutingConfig {
    pub fn gateway(&self, id: &str) -> Option<&GatewayConfig> {
        self.gateways.iter().find(|g| g.id == id)
    }

    pub fn scheme(&self, id: &str) -> Option<&SchemeConfig> {
        self.schemes.iter().find(|s| s.id == id)
    }

    pub fn schedule(&self, id: &str) -> Option<&ScheduleConfig> {
        self.schedules.iter().find(|s| s.id == id)
    }

    /// Host names (lowercase) of gateways and URI targets, with the port to resolve them for.
    pub fn host_names(&self) -> Vec<(String, u16)> {
        let gateways = self.gateways.iter().map(|g| g.uri.as_str());
        let targets = self
            .schemes
            .iter()
            .flat_map(|s| {
                s.steps
                    .iter()
                    .flat_map(|step| &step.targets)
                    .chain(&s.fallback)
            })
            .filter_map(|t| match &t.dest {
                TargetDest::Uri(uri) => Some(uri.as_str()),
                TargetDest::Number { .. } => None,
            });
        gateways.chain(targets).filter_map(host_name).collect()
    }
}

fn host_name(uri: &str) -> Option<(String, u16)> {
    let uri = SipUri::parse(uri).ok()?;
    match uri.host {
        Host::Name(name) => Some((name.to_ascii_lowercase(), uri.port.unwrap_or(5060))),
        Host::Ip(_) => None,
    }
}

/// `[[gateways]]`: where phone-number targets are sent (`sip:NUMBER@host:port;params`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    pub id: String,
    /// A `sip:` URI without a user part, e.g. `sip:gw.example:5060;transport=tcp`.
    pub uri: String,
    pub auth: Option<Credentials>,
}

/// `[[schemes]]`: how a call reaches people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeConfig {
    pub id: String,
    /// Never empty.
    pub steps: Vec<StepConfig>,
    pub fallback: Option<TargetConfig>,
    pub failover: FailoverRules,
    /// Calls taking this scheme count towards quality calls.
    pub counted: bool,
    /// `media`: overrides the site's choice for calls this scheme takes.
    pub media: Option<crate::config::MediaMode>,
    /// `record`: overrides the site's choice for calls this scheme takes.
    pub record: Option<bool>,
    /// A menu scheme (`strategy = "menu"`): `steps` is empty then.
    pub menu: Option<crate::config::menu::MenuConfig>,
    /// `announce`: the prompt played before bridging (a built-in name or a WAV path).
    pub announce: Option<String>,
    /// `answer`: how the caller is answered before a prompt.
    pub answer: Option<crate::config::voice::AnswerMode>,
    /// `voicemail`: a message is recorded once every step and the fallback failed.
    pub voicemail: Option<crate::config::voicemail::VoicemailConfig>,
}

/// `[[schemes.steps]]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepConfig {
    pub strategy: Strategy,
    /// Per-target ring timeout of this step; `None`: `[calls] ring_timeout_secs`.
    pub ring_timeout: Option<Duration>,
    pub step_timeout: Option<Duration>,
    pub sticky: bool,
    /// Never empty.
    pub targets: Vec<TargetConfig>,
}

/// `[[schemes.steps.targets]]` (and a scheme's fallback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    pub dest: TargetDest,
    /// At least 1.
    pub weight: u32,
    /// Overrides the step's ring timeout.
    pub ring_timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetDest {
    /// A checked `sip:` URI, as written.
    Uri(String),
    /// A phone number sent through the gateway with this id (which exists).
    Number { number: String, gateway: String },
}

impl TargetDest {
    /// How the target is named in logs, CDRs and `calltrack route`.
    pub fn label(&self) -> String {
        match self {
            TargetDest::Uri(uri) => uri.clone(),
            TargetDest::Number { number, gateway } => format!("{number}@{gateway}"),
        }
    }
}

/// `[[schedules]]`: working hours per weekday in a time zone, and holidays.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleConfig {
    pub id: String,
    /// The IANA name as written.
    pub time_zone_name: String,
    pub time_zone: TimeZone,
    /// Open intervals `[start, end)` in minutes since midnight, Monday first; sorted,
    /// non-overlapping, `start < end <= 1440`. An empty day is closed.
    pub week: [Vec<(u16, u16)>; 7],
    /// Closed all day (dates in the schedule's time zone).
    pub holidays: Vec<Date>,
}

impl ScheduleConfig {
    /// Whether the schedule is open at this instant, judged on the local wall clock.
    pub fn is_open(&self, at: jiff::Timestamp) -> bool {
        let local = at.to_zoned(self.time_zone.clone());
        if self.holidays.contains(&local.date()) {
            return false;
        }
        let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute()))
            .unwrap_or(u16::MAX);
        let day = &self.week[weekday_index(local.weekday())];
        day.iter()
            .any(|&(start, end)| start <= minute && minute < end)
    }
}

/// Monday = 0 .. Sunday = 6.
pub(crate) fn weekday_index(day: Weekday) -> usize {
    usize::from(day.to_monday_zero_offset().unsigned_abs())
}

/// `[[routes]]`: conditions (all given must match) and the scheme they pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// The key path, e.g. `routes[2]`, for plans, logs and the dry run.
    pub path: String,
    pub site: Option<String>,
    pub number: Option<String>,
    pub pool: Option<String>,
    /// Compared case-insensitively with the attributed source.
    pub source: Option<String>,
    /// Lowercase; compared with the visitor's region, else the number's pool region.
    pub region: Option<String>,
    pub scheme: String,
    pub after_hours: Option<AfterHours>,
}

/// Outside the schedule's open hours the route takes `scheme` instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterHours {
    pub schedule: String,
    pub scheme: String,
}
