//! Attribution: the visit or ad source bound to a call at ring time, and the headers that tell
//! the PBX about it. Pure data and pure functions.

use serde::{Deserialize, Serialize};

use crate::lease::Visit;

use crate::call::lease_lookup::Holder;

/// What kind of number the caller dialled, as recorded and stamped (`X-CT-Number-Kind`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberKindTag {
    /// A static number bound to one ad source.
    Static,
    /// A pool number held by a visitor session at ring time.
    Dynamic,
    /// The default number (direct and organic visitors, tracking off).
    Default,
    /// The reserve number, shown while the pool was exhausted.
    Reserve,
    /// The reserve number, and the caller entered the overflow code shown to a visitor session
    /// while the pools were exhausted: attributed to that visit.
    OverflowCode,
    /// A pool number nobody held at ring time (lease long expired, number printed elsewhere).
    #[default]
    Unattributed,
}

impl NumberKindTag {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Dynamic => "dynamic",
            Self::Default => "default",
            Self::Reserve => "reserve",
            Self::OverflowCode => "overflow_code",
            Self::Unattributed => "unattributed",
        }
    }
}

impl std::str::FromStr for NumberKindTag {
    type Err = crate::call::record::UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Static,
            Self::Dynamic,
            Self::Default,
            Self::Reserve,
            Self::OverflowCode,
            Self::Unattributed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| crate::call::record::UnknownVariant {
            kind: "number kind",
            value: s.to_string(),
        })
    }
}

/// Everything known about where a call came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    pub site: String,
    pub number_kind: NumberKindTag,
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub term: Option<String>,
    pub content: Option<String>,
    pub referrer: Option<String>,
    pub landing_page: Option<String>,
    pub gclid: Option<String>,
    pub yclid: Option<String>,
    pub ga_client_id: Option<String>,
    pub ga_session_id: Option<String>,
    pub ym_client_id: Option<String>,
    pub region: Option<String>,
    pub session_id: Option<String>,
    /// The visitor's device class (`desktop`, `mobile`, `tablet`), from the snippet's
    /// User-Agent; unknown for calls to static, default and reserve numbers.
    pub device: Option<String>,
}

/// The attribution of the number's holder at ring time.
pub fn attribute(site: &str, holder: Holder) -> Attribution {
    let base = |number_kind| Attribution {
        site: site.to_string(),
        number_kind,
        ..Attribution::default()
    };
    match holder {
        Holder::Static {
            source,
            medium,
            campaign,
        } => Attribution {
            source: Some(source),
            medium,
            campaign,
            ..base(NumberKindTag::Static)
        },
        Holder::Lease(lease) => of_visit(
            site,
            &lease.visit,
            &lease.session_id,
            NumberKindTag::Dynamic,
        ),
        Holder::Code(held) => of_visit(
            site,
            &held.visit,
            &held.session_id,
            NumberKindTag::OverflowCode,
        ),
        Holder::Nobody => base(NumberKindTag::Unattributed),
        Holder::Default => base(NumberKindTag::Default),
        Holder::Reserve => base(NumberKindTag::Reserve),
    }
}

/// A visit's attribution: the lease's (a pool number) or the overflow code's.
fn of_visit(site: &str, v: &Visit, session_id: &str, number_kind: NumberKindTag) -> Attribution {
    Attribution {
        site: site.to_string(),
        number_kind,
        source: v.utm_source().map(str::to_owned),
        medium: v.utm_medium().map(str::to_owned),
        campaign: v.utm_campaign().map(str::to_owned),
        term: v.utm_term().map(str::to_owned),
        content: v.utm_content().map(str::to_owned),
        referrer: v.referrer().map(str::to_owned),
        landing_page: v.landing_page().map(str::to_owned),
        gclid: v.gclid().map(str::to_owned),
        yclid: v.yclid().map(str::to_owned),
        ga_client_id: v.ga_client_id().map(str::to_owned),
        ga_session_id: v.ga_session_id().map(str::to_owned),
        ym_client_id: v.ym_client_id().map(str::to_owned),
        region: v.region().map(str::to_owned),
        session_id: Some(session_id.to_owned()),
        device: v.device().map(str::to_owned),
    }
}

/// How attribution headers are written on the B-leg INVITE.
#[derive(Debug, Clone, Copy)]
pub struct StampRules<'a> {
    /// Header-name prefix, e.g. `X-CT-`.
    pub prefix: &'a str,
    /// Add `Diversion` (RFC 5806) carrying the tracking number.
    pub diversion: bool,
    pub tracking_number: &'a str,
    /// `host:port` calltrack advertises, for the Diversion URI.
    pub host: &'a str,
}

/// Longest value stamped into a header; website input beyond this is cut.
const MAX_HEADER_VALUE: usize = 128;

/// The attribution headers for the PBX: Source, Medium, Campaign, Term, Session (only when
/// known), Number-Kind and First-Call always, and optionally Diversion.
pub fn stamp(
    attr: &Attribution,
    first_call: bool,
    rules: &StampRules<'_>,
) -> Vec<(String, String)> {
    let p = rules.prefix;
    let mut headers: Vec<(String, String)> = [
        ("Source", &attr.source),
        ("Medium", &attr.medium),
        ("Campaign", &attr.campaign),
        ("Term", &attr.term),
        ("Session", &attr.session_id),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        let value = header_safe(value.as_deref()?);
        (!value.is_empty()).then(|| (format!("{p}{name}"), value))
    })
    .collect();
    headers.push((
        format!("{p}Number-Kind"),
        attr.number_kind.as_str().to_string(),
    ));
    headers.push((
        format!("{p}First-Call"),
        if first_call { "1" } else { "0" }.to_string(),
    ));
    if rules.diversion {
        let value = format!(
            "<sip:{}@{}>;reason=unconditional",
            rules.tracking_number, rules.host
        );
        headers.push(("Diversion".to_string(), value));
    }
    headers
}

/// Website input made safe for a SIP header value: no control characters (no CR/LF header
/// injection), whitespace runs folded, at most [`MAX_HEADER_VALUE`] bytes on a char boundary.
fn header_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_HEADER_VALUE));
    for word in value
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        let extra = usize::from(!out.is_empty()) + word.len();
        if out.len() + extra > MAX_HEADER_VALUE {
            let room = MAX_HEADER_VALUE.saturating_sub(out.len() + usize::from(!out.is_empty()));
            let cut = (0..=room.min(word.len()))
                .rev()
                .find(|i| word.is_char_boundary(*i))
                .unwrap_or(0);
            if cut > 0 {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&word[..cut]);
            }
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(diversion: bool) -> StampRules<'static> {
        StampRules {
            prefix: "X-CT-",
            diversion,
            tracking_number: "74950000101",
            host: "10.0.0.1:5060",
        }
    }

    #[test]
    fn stamps_known_fields_kind_and_first_call() {
        let attr = Attribution {
            site: "demo".into(),
            number_kind: NumberKindTag::Dynamic,
            source: Some("google".into()),
            campaign: Some("brand".into()),
            term: Some("shoes".into()),
            session_id: Some("s1".into()),
            ..Attribution::default()
        };
        let h = stamp(&attr, true, &rules(true));
        let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "X-CT-Source",
                "X-CT-Campaign",
                "X-CT-Term",
                "X-CT-Session",
                "X-CT-Number-Kind",
                "X-CT-First-Call",
                "Diversion"
            ]
        );
        assert_eq!(h[4].1, "dynamic");
        assert_eq!(h[5].1, "1");
        assert_eq!(
            h[6].1,
            "<sip:74950000101@10.0.0.1:5060>;reason=unconditional"
        );
    }

    #[test]
    fn website_input_cannot_inject_headers() {
        let attr = Attribution {
            source: Some("evil\r\nX-CT-Source: forged\u{7f}".into()),
            medium: Some("\r\n".into()),
            campaign: Some("я".repeat(100)),
            ..Attribution::default()
        };
        let h = stamp(&attr, false, &rules(false));
        assert_eq!(
            h[0],
            ("X-CT-Source".into(), "evil X-CT-Source: forged".into())
        );
        assert!(
            h.iter().all(|(n, _)| n != "X-CT-Medium"),
            "empty after cleaning: left out"
        );
        let campaign = &h[1].1;
        assert!(campaign.len() <= MAX_HEADER_VALUE && campaign.chars().all(|c| c == 'я'));
        assert!(h.iter().all(|(_, v)| !v.contains(['\r', '\n'])));
    }
}
