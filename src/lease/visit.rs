//! STUB (replaced at merge): the visit data bound to a lease; the real file belongs to the
//! config/display engineer and adds `from_page` and `is_direct_or_organic`.

/// What the snippet learned about one website visit (see the issue 3 contract).
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
    /// "desktop" | "mobile" | "tablet"
    pub device: Option<String>,
}
