//! [`Visit`]: what is known about one website visit (campaign tags, click ids, referrer, region),
//! read from the page URL the snippet reports, and whether the visit needs tracking at all.

use url::Url;

/// Longest kept query value (utm_*, gclid, yclid), in bytes; longer values are cut.
pub const MAX_VALUE_BYTES: usize = 256;
/// Longest kept landing page or referrer URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

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

/// One website visit as the snippet reports it; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Visit {
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub referrer: Option<String>,
    pub landing_page: Option<String>,
    pub gclid: Option<String>,
    pub yclid: Option<String>,
    pub ga_client_id: Option<String>,
    pub ga_session_id: Option<String>,
    pub ym_client_id: Option<String>,
    pub region: Option<String>,
    pub user_agent: Option<String>,
    /// "desktop", "mobile" or "tablet".
    pub device: Option<String>,
}

impl Visit {
    /// Reads utm_*, gclid, yclid from the page URL's query (percent-decoded) and sets landing_page.
    ///
    /// Keys match case-insensitively and the first non-empty value wins; values are trimmed,
    /// stripped of control characters (they end up in SIP headers) and cut at
    /// [`MAX_VALUE_BYTES`]. An unparsable URL still becomes the landing page.
    pub fn from_page(page_url: &str, referrer: Option<&str>) -> Visit {
        let mut visit = Visit {
            landing_page: clean(page_url, MAX_URL_BYTES),
            referrer: referrer.and_then(|r| clean(r, MAX_URL_BYTES)),
            ..Visit::default()
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

    /// Direct or organic: no utm_source, no gclid/yclid, and no referrer or a search-engine/self referrer.
    ///
    /// `site_host` is the site's own host; "www." is ignored on both sides. A referrer that is not
    /// a URL with a host counts as no referrer.
    pub fn is_direct_or_organic(&self, site_host: Option<&str>) -> bool {
        if self.utm_source.is_some() || self.gclid.is_some() || self.yclid.is_some() {
            return false;
        }
        let Some(host) = self.referrer_host() else {
            return true;
        };
        is_search_engine(&host) || site_host.is_some_and(|site| same_host(&host, site))
    }

    /// The referrer URL's host, lowercase.
    pub fn referrer_host(&self) -> Option<String> {
        host_of(self.referrer.as_deref()?)
    }

    /// The landing page URL's host, lowercase.
    pub fn landing_host(&self) -> Option<String> {
        host_of(self.landing_page.as_deref()?)
    }

    /// The landing page's path ("/promo/spring"); a landing page given as a bare path is one.
    pub fn landing_path(&self) -> Option<String> {
        let page = self.landing_page.as_deref()?;
        if page.starts_with('/') {
            let end = page.find(['?', '#']).unwrap_or(page.len());
            return page.get(..end).map(str::to_owned);
        }
        Url::parse(page).ok().map(|url| url.path().to_owned())
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

/// Trimmed, without control characters, cut at `max_bytes` on a character boundary; empty is None.
fn clean(value: &str, max_bytes: usize) -> Option<String> {
    let mut kept: String = value.trim().chars().filter(|c| !c.is_control()).collect();
    if kept.is_empty() {
        return None;
    }
    if kept.len() > max_bytes {
        let mut end = max_bytes;
        while !kept.is_char_boundary(end) {
            end -= 1;
        }
        kept.truncate(end);
    }
    Some(kept)
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
        assert_eq!(visit.utm_source.as_deref(), Some("Google"));
        assert_eq!(visit.utm_campaign.as_deref(), Some("spring sale"));
        assert_eq!(visit.utm_term.as_deref(), Some("red shoes"));
        assert_eq!(visit.gclid.as_deref(), Some("abc"));
        assert_eq!(visit.referrer, None);
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
        let source = visit.utm_source.unwrap_or_default();
        assert!(source.len() <= MAX_VALUE_BYTES && source.len() >= MAX_VALUE_BYTES - 1);
        assert_eq!(visit.utm_medium.as_deref(), Some("aVia: x"));
    }

    #[test]
    fn unparsable_page_is_still_the_landing_page() {
        let visit = Visit::from_page("/relative?utm_source=x", None);
        assert_eq!(visit.utm_source, None);
        assert_eq!(visit.landing_path().as_deref(), Some("/relative"));
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
