//! [`Visit`]: what is known about one website visit (campaign tags, click ids, referrer, region),
//! read from the page URL the snippet reports, and whether the visit needs tracking at all.
//!
//! A [`Visit`] is immutable and packed: every field's text lives in one boxed string and a
//! field is a span of it, so a lease pays 48 bytes plus its text instead of 24 bytes per
//! field plus one allocation per value. [`VisitFields`] is the same data as plain
//! `Option<String>` fields: build a visit with it, and it is the serde form, so the JSON the
//! store keeps is unchanged (older JSON with a `user_agent` key still loads; the key is
//! ignored, nothing downstream read it).

use std::fmt;

use url::Url;

/// Longest kept query value (utm_*, gclid, yclid), in bytes; longer values are cut.
pub const MAX_VALUE_BYTES: usize = 256;
/// Longest kept visitor or analytics id (visitor_id, ga_client_id, ga_session_id,
/// ym_client_id), in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest kept landing page or referrer URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Most text one packed visit keeps, all fields together (spans are `u16`); what does not
/// fit is cut. The caps above and the HTTP layer's id limits keep real visits far below it.
pub const MAX_VISIT_BYTES: usize = u16::MAX as usize;

/// Brand labels of search engines that run one domain per country: `google.com`, `google.co.uk`,
/// `yandex.com.tr`.
const SEARCH_BRANDS: &[&str] = &[
    "google",
    "yandex",
    "bing",
    "yahoo",
    "baidu",
    "duckduckgo",
    "ecosia",
    "qwant",
    "startpage",
    "naver",
    "seznam",
];

/// Search engine domains, matched with their subdomains.
const SEARCH_DOMAINS: &[&str] = &[
    "ya.ru",
    "mail.ru",
    "rambler.ru",
    "search.brave.com",
    "ask.com",
];

macro_rules! visit_fields {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// One website visit as plain fields, every one optional: the way to build a
        /// [`Visit`], and its serde form.
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct VisitFields {
            $($(#[$doc])* pub $name: Option<String>,)*
        }

        /// Field positions in a packed [`Visit`].
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        enum Slot {
            $($name,)*
        }

        impl VisitFields {
            fn values(&self) -> [Option<&str>; FIELDS] {
                [$(self.$name.as_deref()),*]
            }
        }

        impl From<&Visit> for VisitFields {
            fn from(visit: &Visit) -> VisitFields {
                VisitFields {
                    $($name: visit.$name().map(str::to_owned),)*
                }
            }
        }

        impl Visit {
            $($(#[$doc])* pub fn $name(&self) -> Option<&str> {
                self.get(Slot::$name)
            })*
        }
    };
}

/// How many fields a visit has.
const FIELDS: usize = 14;

visit_fields! {
    utm_source,
    utm_medium,
    utm_campaign,
    utm_term,
    utm_content,
    referrer,
    landing_page,
    gclid,
    yclid,
    ga_client_id,
    ga_session_id,
    ym_client_id,
    region,
    /// "desktop", "mobile" or "tablet".
    device,
}

/// One website visit, packed and immutable; read a field with its accessor
/// (`visit.utm_source()`), build one from [`VisitFields`].
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "VisitFields", into = "VisitFields")]
pub struct Visit {
    /// Every present field's text, in field order.
    text: Box<str>,
    /// `ends[i]`: where field `i`'s text ends in `text`; it starts where field `i - 1` ends.
    ends: [u16; FIELDS],
    /// Bit `i` set: field `i` is present (maybe empty).
    present: u16,
}

impl From<VisitFields> for Visit {
    fn from(fields: VisitFields) -> Visit {
        let values = fields.values();
        let total: usize = values.iter().flatten().map(|v| v.len()).sum();
        let mut text = String::with_capacity(total.min(MAX_VISIT_BYTES));
        let (mut ends, mut present) = ([0; FIELDS], 0);
        for (i, value) in values.into_iter().enumerate() {
            if let Some(value) = value {
                text.push_str(cut(value, MAX_VISIT_BYTES - text.len()));
                present |= 1 << i;
            }
            ends[i] = u16::try_from(text.len()).unwrap_or(u16::MAX);
        }
        Visit {
            text: text.into_boxed_str(),
            ends,
            present,
        }
    }
}

impl From<Visit> for VisitFields {
    fn from(visit: Visit) -> VisitFields {
        VisitFields::from(&visit)
    }
}

impl fmt::Debug for Visit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&VisitFields::from(self), f)
    }
}

impl VisitFields {
    /// Reads utm_*, gclid, yclid from the page URL's query (percent-decoded) and sets landing_page.
    ///
    /// Keys match case-insensitively and the first non-empty value wins; values are trimmed,
    /// stripped of control characters (they end up in SIP headers) and cut at
    /// [`MAX_VALUE_BYTES`]. An unparsable URL still becomes the landing page.
    pub fn from_page(page_url: &str, referrer: Option<&str>) -> VisitFields {
        let mut visit = VisitFields {
            landing_page: clean(page_url, MAX_URL_BYTES),
            referrer: referrer.and_then(|r| clean(r, MAX_URL_BYTES)),
            ..VisitFields::default()
        };
        if let Ok(url) = Url::parse(page_url.trim()) {
            for (key, value) in url.query_pairs() {
                if let Some(slot) = visit.query_slot(&key) {
                    if slot.is_none() {
                        *slot = clean(&value, MAX_VALUE_BYTES);
                    }
                }
            }
        }
        visit
    }

    /// Sets the analytics ids the snippet reports (GA client and session id, Metrica client
    /// id), cleaned like every visitor value (see [`clean_visitor_text`]) and cut at
    /// [`MAX_ID_BYTES`]: the lease, the SIP stamp and the CDR then hold the same value.
    pub fn with_analytics_ids(
        mut self,
        ga_client_id: Option<&str>,
        ga_session_id: Option<&str>,
        ym_client_id: Option<&str>,
    ) -> VisitFields {
        let id = |v: Option<&str>| v.and_then(|v| clean_visitor_text(v, MAX_ID_BYTES));
        self.ga_client_id = id(ga_client_id);
        self.ga_session_id = id(ga_session_id);
        self.ym_client_id = id(ym_client_id);
        self
    }

    fn query_slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        let slot = match key.to_ascii_lowercase().as_str() {
            "utm_source" => &mut self.utm_source,
            "utm_medium" => &mut self.utm_medium,
            "utm_campaign" => &mut self.utm_campaign,
            "utm_term" => &mut self.utm_term,
            "utm_content" => &mut self.utm_content,
            "gclid" => &mut self.gclid,
            "yclid" => &mut self.yclid,
            _ => return None,
        };
        Some(slot)
    }
}

impl Visit {
    /// [`VisitFields::from_page`], packed.
    pub fn from_page(page_url: &str, referrer: Option<&str>) -> Visit {
        VisitFields::from_page(page_url, referrer).into()
    }

    /// The visit as plain fields.
    pub fn to_fields(&self) -> VisitFields {
        VisitFields::from(self)
    }

    /// Direct or organic: no utm_source, no gclid/yclid, and no referrer or a search-engine/self referrer.
    ///
    /// `site_host` is the site's own host; "www." is ignored on both sides. A referrer that is not
    /// a URL with a host counts as no referrer.
    pub fn is_direct_or_organic(&self, site_host: Option<&str>) -> bool {
        if self.utm_source().is_some() || self.gclid().is_some() || self.yclid().is_some() {
            return false;
        }
        let Some(host) = self.referrer_host() else {
            return true;
        };
        is_search_engine(&host) || site_host.is_some_and(|site| same_host(&host, site))
    }

    /// The referrer URL's host, lowercase.
    pub fn referrer_host(&self) -> Option<String> {
        host_of(self.referrer()?)
    }

    /// The landing page URL's host, lowercase.
    pub fn landing_host(&self) -> Option<String> {
        host_of(self.landing_page()?)
    }

    /// The landing page's path ("/promo/spring"); a landing page given as a bare path is one.
    pub fn landing_path(&self) -> Option<String> {
        let page = self.landing_page()?;
        if page.starts_with('/') {
            let end = page.find(['?', '#']).unwrap_or(page.len());
            return page.get(..end).map(str::to_owned);
        }
        Url::parse(page).ok().map(|url| url.path().to_owned())
    }

    /// Bytes of text this visit keeps on the heap.
    pub fn text_bytes(&self) -> usize {
        self.text.len()
    }

    fn get(&self, slot: Slot) -> Option<&str> {
        let i = slot as usize;
        if self.present & (1 << i) == 0 {
            return None;
        }
        let start = i.checked_sub(1).map_or(0, |p| usize::from(self.ends[p]));
        self.text.get(start..usize::from(self.ends[i]))
    }
}

/// The longest prefix of `value` of at most `max_bytes`, on a character boundary.
fn cut(value: &str, max_bytes: usize) -> &str {
    let mut end = max_bytes.min(value.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// Visitor text as calltrack keeps it everywhere (lease, SIP stamp, CDR, exports): control
/// characters removed (NUL, CR, LF, TAB, DEL, C1...), whitespace runs folded into one space,
/// trimmed, cut at `max_bytes` on a character boundary; nothing left is `None`. The SIP
/// stamp's header rules leave such a value unchanged, so every copy is the same.
pub fn clean_visitor_text(value: &str, max_bytes: usize) -> Option<String> {
    let visible: String = value.chars().filter(|c| !c.is_control()).collect();
    let mut kept = String::with_capacity(visible.len().min(max_bytes));
    for word in visible.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if kept.len() >= max_bytes {
            break;
        }
        if !kept.is_empty() {
            kept.push(' ');
        }
        kept.push_str(word);
    }
    let end = cut(&kept, max_bytes).trim_end().len();
    kept.truncate(end);
    (!kept.is_empty()).then_some(kept)
}

fn clean(value: &str, max_bytes: usize) -> Option<String> {
    clean_visitor_text(value, max_bytes)
}

fn host_of(url: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    let host = url.host_str()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn same_host(a: &str, b: &str) -> bool {
    let bare = |h: &str| {
        let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
        h.strip_prefix("www.").map(str::to_owned).unwrap_or(h)
    };
    bare(a) == bare(b)
}

/// A known search engine: a brand label followed by a top-level domain (optionally "co."/"com."
/// plus a country code), or one of the listed domains or their subdomains.
pub(crate) fn is_search_engine(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    let labels: Vec<&str> = host.split('.').collect();
    let branded = labels.iter().enumerate().any(|(i, label)| {
        let tail = &labels[i + 1..];
        SEARCH_BRANDS.contains(label)
            && (tail.len() == 1 || (tail.len() == 2 && matches!(tail[0], "co" | "com")))
    });
    branded
        || SEARCH_DOMAINS.iter().any(|domain| {
            host == *domain
                || host
                    .strip_suffix(domain)
                    .is_some_and(|rest| rest.ends_with('.'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_decodes_the_query() {
        let visit = Visit::from_page(
            "https://shop.example/promo/?utm_source=Google&utm_medium=cpc&utm_campaign=spring%20sale&utm_term=&UTM_TERM=red+shoes&gclid=abc",
            Some(""),
        );
        assert_eq!(visit.utm_source(), Some("Google"));
        assert_eq!(visit.utm_campaign(), Some("spring sale"));
        assert_eq!(visit.utm_term(), Some("red shoes"));
        assert_eq!(visit.gclid(), Some("abc"));
        assert_eq!(visit.referrer(), None);
        assert_eq!(visit.landing_path().as_deref(), Some("/promo/"));
        assert_eq!(visit.landing_host().as_deref(), Some("shop.example"));
    }

    #[test]
    fn caps_values_and_strips_control_characters() {
        let long = "я".repeat(200);
        let visit = Visit::from_page(
            &format!("https://a.example/?utm_source={long}&utm_medium=a%0D%0AVia:%20x"),
            None,
        );
        let source = visit.utm_source().unwrap_or_default();
        assert!(source.len() <= MAX_VALUE_BYTES && source.len() >= MAX_VALUE_BYTES - 1);
        assert_eq!(visit.utm_medium(), Some("aVia: x"));
    }

    #[test]
    fn analytics_ids_are_cleaned_and_bounded() {
        let long = "9".repeat(300);
        let fields = VisitFields::default().with_analytics_ids(
            Some(" GA1.2\u{0}.34\r\n56 "),
            Some(&long),
            Some("\u{7}\u{1b}\t"),
        );
        assert_eq!(fields.ga_client_id.as_deref(), Some("GA1.2.3456"));
        assert_eq!(fields.ga_session_id.map(|s| s.len()), Some(MAX_ID_BYTES));
        assert_eq!(fields.ym_client_id, None);
        assert_eq!(
            clean_visitor_text("spring \u{a0}  sale\u{85}", 64).as_deref(),
            Some("spring sale")
        );
    }

    #[test]
    fn unparsable_page_is_still_the_landing_page() {
        let visit = Visit::from_page("/relative?utm_source=x", None);
        assert_eq!(visit.utm_source(), None);
        assert_eq!(visit.landing_path().as_deref(), Some("/relative"));
    }

    #[test]
    fn packs_and_unpacks_every_field() {
        let fields = VisitFields {
            utm_source: Some("google".into()),
            utm_term: Some(String::new()),
            landing_page: Some("https://shop.example/ß".into()),
            device: Some("mobile".into()),
            ..VisitFields::default()
        };
        let visit = Visit::from(fields.clone());
        assert_eq!(visit.to_fields(), fields);
        assert_eq!(visit.utm_term(), Some(""));
        assert_eq!(visit.utm_medium(), None);
        assert_eq!(visit.device(), Some("mobile"));
        assert_eq!(size_of::<Visit>(), 48);
        assert_eq!(Visit::from(VisitFields::default()), Visit::default());
    }

    #[test]
    fn packed_text_is_capped_on_a_char_boundary() {
        let fields = VisitFields {
            landing_page: Some("я".repeat(MAX_VISIT_BYTES)),
            device: Some("desktop".into()),
            ..VisitFields::default()
        };
        let visit = Visit::from(fields);
        let page = visit.landing_page().unwrap_or_default();
        assert!(page.len() >= MAX_VISIT_BYTES - 1 && page.chars().all(|c| c == 'я'));
        assert!(visit.device().is_some_and(|d| "desktop".starts_with(d)));
        assert_eq!(visit.text_bytes(), MAX_VISIT_BYTES);
    }

    #[test]
    fn json_is_the_plain_fields_and_old_user_agent_key_still_loads() {
        let old = r#"{"utm_source":"google","utm_medium":null,"user_agent":"Mozilla/5.0","device":"desktop"}"#;
        let visit: Visit = serde_json::from_str(old).unwrap();
        assert_eq!(visit.utm_source(), Some("google"));
        assert_eq!(visit.device(), Some("desktop"));
        let json = serde_json::to_value(&visit).unwrap();
        assert_eq!(json["utm_source"], "google");
        assert_eq!(json["landing_page"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<Visit>(json).unwrap(), visit);
    }

    #[test]
    fn search_engines() {
        for host in [
            "www.google.com",
            "google.co.uk",
            "yandex.ru",
            "yandex.com.tr",
            "www.bing.com",
            "duckduckgo.com",
            "go.mail.ru",
            "ya.ru",
            "search.yahoo.com",
            "www.ecosia.org",
            "m.baidu.com",
        ] {
            assert!(is_search_engine(host), "{host}");
        }
        for host in [
            "google.evil.example",
            "googleusercontent.com",
            "notmail.ru",
            "facebook.com",
        ] {
            assert!(!is_search_engine(host), "{host}");
        }
    }

    #[test]
    fn direct_organic_and_paid() {
        let visit = |page: &str, referrer: Option<&str>| Visit::from_page(page, referrer);
        let site = Some("shop.example");
        assert!(visit("https://shop.example/", None).is_direct_or_organic(site));
        let organic = visit("https://shop.example/", Some("https://www.google.com/"));
        assert!(organic.is_direct_or_organic(site));
        let internal = visit("https://shop.example/b", Some("https://www.shop.example/a"));
        assert!(internal.is_direct_or_organic(site));
        let referral = visit("https://shop.example/", Some("https://blog.example/post"));
        assert!(!referral.is_direct_or_organic(site));
        let tagged = visit("https://shop.example/?utm_source=newsletter", None);
        assert!(!tagged.is_direct_or_organic(site));
        let paid = visit(
            "https://shop.example/?gclid=x",
            Some("https://www.google.com/"),
        );
        assert!(!paid.is_direct_or_organic(site));
        let yclid = visit("https://shop.example/?yclid=1", None);
        assert!(!yclid.is_direct_or_organic(None));
    }
}
