//! STUB (replaced at merge): the visit a lease carries (simple version for the HTTP branch).

/// What is known about one website visit.
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
    pub device: Option<String>,
}

impl Visit {
    /// Reads utm_*, gclid, yclid from the page URL's query (percent-decoded) and sets landing_page.
    pub fn from_page(page_url: &str, referrer: Option<&str>) -> Visit {
        let mut visit = Visit {
            referrer: referrer.filter(|r| !r.is_empty()).map(str::to_owned),
            landing_page: Some(page_url.to_owned()),
            ..Visit::default()
        };
        let Ok(url) = url::Url::parse(page_url) else {
            return visit;
        };
        for (key, value) in url.query_pairs() {
            let slot = match key.as_ref() {
                "utm_source" => &mut visit.utm_source,
                "utm_medium" => &mut visit.utm_medium,
                "utm_campaign" => &mut visit.utm_campaign,
                "utm_term" => &mut visit.utm_term,
                "utm_content" => &mut visit.utm_content,
                "gclid" => &mut visit.gclid,
                "yclid" => &mut visit.yclid,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        visit
    }

    /// Direct or organic: no utm_source, no gclid/yclid, and no referrer or a search-engine/self referrer.
    pub fn is_direct_or_organic(&self, site_host: Option<&str>) -> bool {
        if self.utm_source.is_some() || self.gclid.is_some() || self.yclid.is_some() {
            return false;
        }
        let Some(referrer) = &self.referrer else {
            return true;
        };
        let host = url::Url::parse(referrer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let search = ["google.", "yandex.", "bing.", "duckduckgo.", "mail.ru"];
        site_host == Some(host.as_str()) || search.iter().any(|s| host.contains(s))
    }
}
