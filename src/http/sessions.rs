//! The snippet API: create a session (lease a number or show a fixed one), heartbeat, release.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Gauges;
use super::agent;
use super::client::ClientIp;
use super::errors::{ApiError, ApiJson};
use super::session_id::{self, Kind, SessionRef};
use super::state::SessionApi;
use crate::config::{Config, SharedConfig, SiteConfig};
use crate::display::{self, Choice, Reason};
use crate::lease::visit::{MAX_ID_BYTES, clean_visitor_text};
use crate::lease::{
    CodeRequest, GrantRequest, Lease, LeaseError, LeaseTable, OverflowCode, Visit, VisitFields,
};

/// Longest accepted visitor id and analytics ids.
const MAX_ID_CHARS: usize = 128;

/// `POST /v1/sites/{site}/sessions` body; only `page_url` is required.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateSession {
    pub visitor_id: Option<String>,
    pub page_url: String,
    pub referrer: Option<String>,
    pub ga_client_id: Option<String>,
    pub ga_session_id: Option<String>,
    pub ym_client_id: Option<String>,
}

/// The answer to create and heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SessionView {
    pub session_id: String,
    /// E.164 digits without '+'.
    pub number: String,
    /// The number formatted for people.
    pub display: String,
    /// dynamic | static | default | reserve
    pub kind: String,
    /// RFC 3339; `None` for sessions without a lease.
    pub lease_expires_at: Option<String>,
    /// How often the snippet should heartbeat.
    pub heartbeat_secs: u64,
    /// Why this number (create only): `bot`, `direct`, `rule`, `pool`, `no_pools` or
    /// `pool_exhausted` (see [`display::Reason`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The overflow code to show beside the reserve number (`overflow_code = true` and every
    /// pool exhausted): a caller who enters it is attributed to this visit. The snippet then
    /// heartbeats the session as it does a lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl SessionView {
    fn fixed(site: &SiteConfig, kind: Kind, number: &str, session_id: String) -> SessionView {
        SessionView {
            session_id,
            number: number.to_owned(),
            display: display::format_number(number),
            kind: kind.as_str().to_owned(),
            lease_expires_at: None,
            heartbeat_secs: site.heartbeat.as_secs(),
            reason: None,
            code: None,
        }
    }

    fn because(mut self, reason: Reason) -> SessionView {
        self.reason = Some(reason.as_str().to_owned());
        self
    }

    fn leased(site: &SiteConfig, lease: &Lease) -> SessionView {
        SessionView {
            session_id: lease.session_id.clone(),
            number: lease.number.clone(),
            display: display::format_number(&lease.number),
            kind: Kind::Dynamic.as_str().to_owned(),
            lease_expires_at: Some(lease.expires_at.to_string()),
            heartbeat_secs: site.heartbeat.as_secs(),
            reason: None,
            code: None,
        }
    }

    /// The reserve number with the session's overflow code.
    fn coded(site: &SiteConfig, reserve: &str, held: &OverflowCode) -> SessionView {
        SessionView {
            session_id: held.session_id.clone(),
            number: reserve.to_owned(),
            display: display::format_number(reserve),
            kind: Kind::Reserve.as_str().to_owned(),
            lease_expires_at: Some(held.expires_at.to_string()),
            heartbeat_secs: site.heartbeat.as_secs(),
            reason: None,
            code: Some(held.code.clone()),
        }
    }

    /// The view of a dynamic session id: its lease, or its overflow code.
    fn of_session(config: &Config, session: Session) -> Option<SessionView> {
        match session {
            Session::Lease(lease) => Some(SessionView::leased(config.site(&lease.site)?, &lease)),
            Session::Code(held) => {
                let site = config.site(&held.site)?;
                let reserve = site.reserve_number.as_deref()?;
                Some(SessionView::coded(site, reserve, &held))
            }
        }
    }
}

/// What a dynamic session id names: a pool lease or an overflow code.
enum Session {
    Lease(Lease),
    Code(OverflowCode),
}

/// Heartbeat (or release, with `release`) of a dynamic session: its lease, else its code.
fn touch(leases: &LeaseTable, id: &str, now: Timestamp, release: bool) -> Option<Session> {
    let lease = if release {
        leases.release(id, now)
    } else {
        leases.heartbeat(id, now)
    };
    if let Some(lease) = lease {
        return Some(Session::Lease(lease));
    }
    let codes = leases.codes();
    let held = if release {
        codes.release(id, now)
    } else {
        codes.heartbeat(id, now)
    };
    held.map(Session::Code)
}

/// `POST /v1/sites/{site}/sessions`
#[utoipa::path(
    post,
    path = "/v1/sites/{site}/sessions",
    tag = "snippet",
    params(("site" = String, Path, description = "The site id from the config")),
    request_body = CreateSession,
    responses(
        (status = 201, description = "The number to show (a pool lease or a fixed number)", body = SessionView),
        (status = 404, description = "No such site", body = super::openapi::ErrorBody),
        (status = 422, description = "A field is invalid", body = super::openapi::ErrorBody),
        (status = 429, description = "Rate limited", body = super::openapi::ErrorBody),
        (status = 503, description = "The site has no number to show", body = super::openapi::ErrorBody),
    )
)]
pub async fn create(
    State(api): State<SessionApi>,
    Path(site_id): Path<String>,
    ClientIp(peer): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateSession>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let config = api.config.load_full();
    let site = config
        .site(&site_id)
        .ok_or_else(|| ApiError::UnknownSite(site_id.clone()))?;
    check_body(&body)?;
    let ip = super::client::resolve(peer, &headers, &config.http.trusted_proxies);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let now = Timestamp::now();
    let view = if agent::is_bot(user_agent) {
        shown_fixed(site, Kind::Default, site.default_number.as_deref())?.because(Reason::Bot)
    } else {
        // The one place visitor input enters: every value is cleaned here (lease/visit.rs).
        let mut visit = VisitFields::from_page(&body.page_url, body.referrer.as_deref())
            .with_analytics_ids(
                body.ga_client_id.as_deref(),
                body.ga_session_id.as_deref(),
                body.ym_client_id.as_deref(),
            );
        visit.region = api.geo.region(ip);
        visit.device = Some(agent::device(user_agent).to_owned());
        let visit = Visit::from(visit);
        let choice = display::choose_with_reason(site, &visit, now);
        let visitor_id = body
            .visitor_id
            .as_deref()
            .and_then(|v| clean_visitor_text(v, MAX_ID_BYTES));
        decide(&api.leases, site, choice, visitor_id, visit, now)?
    };
    api.gauges.sessions_created.fetch_add(1, Ordering::Relaxed);
    Ok((StatusCode::CREATED, Json(view)))
}

/// The create-session body as the handler reads it: JSON into [`CreateSession`], then the
/// field checks. Public for the fuzz target (`fuzz/fuzz_targets/snippet_json.rs`).
pub fn parse_create_body(body: &[u8]) -> Result<CreateSession, ApiError> {
    let parsed: CreateSession = serde_json::from_slice(body).map_err(|e| ApiError::Rejected {
        status: StatusCode::BAD_REQUEST,
        code: "bad_json",
        message: e.to_string(),
    })?;
    check_body(&parsed)?;
    Ok(parsed)
}

fn check_body(body: &CreateSession) -> Result<(), ApiError> {
    if body.page_url.trim().is_empty() {
        return Err(ApiError::InvalidField {
            field: "page_url",
            message: "must not be empty",
        });
    }
    let ids = [
        &body.visitor_id,
        &body.ga_client_id,
        &body.ga_session_id,
        &body.ym_client_id,
    ];
    if ids.iter().any(|id| {
        id.as_ref()
            .is_some_and(|id| id.chars().count() > MAX_ID_CHARS)
    }) {
        return Err(ApiError::InvalidField {
            field: "visitor_id",
            message: "ids may have at most 128 characters",
        });
    }
    Ok(())
}

/// Leases from the candidate pools in order; all exhausted shows the reserve number.
fn decide(
    leases: &LeaseTable,
    site: &SiteConfig,
    (choice, reason): (Choice, Reason),
    visitor_id: Option<String>,
    visit: Visit,
    now: Timestamp,
) -> Result<SessionView, ApiError> {
    let pools = match choice {
        Choice::Default => {
            return Ok(
                shown_fixed(site, Kind::Default, site.default_number.as_deref())?.because(reason),
            );
        }
        Choice::Static(number) => {
            return Ok(shown_fixed(site, Kind::Static, Some(&number))?.because(reason));
        }
        Choice::Pools(pools) => pools,
    };
    for pool in &pools {
        let request = GrantRequest {
            session_id: session_id::random(),
            site: site.id.clone(),
            pool: pool.clone(),
            visitor_id: visitor_id.clone(),
            visit: visit.clone(),
        };
        match leases.grant(request, now) {
            Ok(lease) => return Ok(SessionView::leased(site, &lease).because(reason)),
            Err(LeaseError::Exhausted) => {}
            Err(LeaseError::UnknownPool) => {
                tracing::warn!(site = %site.id, %pool, "display rule names an unknown pool");
            }
            Err(LeaseError::Unavailable(error)) => {
                tracing::warn!(site = %site.id, %pool, %error, "lease backend down: default number shown");
                let default = site.default_number.as_deref();
                return Ok(shown_fixed(site, Kind::Default, default)?.because(reason));
            }
        }
    }
    if let Some(first) = pools.first() {
        leases.count_exhausted(&site.id, first);
        tracing::warn!(site = %site.id, pool = %first, "pool exhausted: reserve number shown");
    }
    let shown = match site.reserve_number.as_deref() {
        Some(reserve) if site.overflow_code => {
            match overflow_code(leases, site, visitor_id, visit, now) {
                Some(held) => Ok(SessionView::coded(site, reserve, &held)),
                None => shown_fixed(site, Kind::Reserve, Some(reserve)),
            }
        }
        Some(reserve) => shown_fixed(site, Kind::Reserve, Some(reserve)),
        None => shown_fixed(site, Kind::Default, site.default_number.as_deref()),
    };
    Ok(shown?.because(Reason::PoolExhausted))
}

/// An overflow code for the visit (the visitor's own again, if it still holds one), or `None`
/// when the site's codes have run out (the reserve number is shown without one).
fn overflow_code(
    leases: &LeaseTable,
    site: &SiteConfig,
    visitor_id: Option<String>,
    visit: Visit,
    now: Timestamp,
) -> Option<OverflowCode> {
    let request = CodeRequest {
        session_id: session_id::random(),
        site: site.id.clone(),
        visitor_id,
        visit,
        freeze: site.freeze,
        cooldown: site.lease_cooldown,
    };
    match leases.codes().issue(request, now, &mut rand::rng()) {
        Ok(held) => {
            metrics::counter!("calltrack_overflow_codes_issued_total", "site" => site.id.clone())
                .increment(1);
            Some(held)
        }
        Err(error) => {
            tracing::warn!(site = %site.id, %error, "reserve number shown without a code");
            None
        }
    }
}

fn shown_fixed(
    site: &SiteConfig,
    kind: Kind,
    number: Option<&str>,
) -> Result<SessionView, ApiError> {
    let number = number.ok_or_else(|| ApiError::NoNumber(site.id.clone()))?;
    let id = session_id::fixed(kind, &site.id, number);
    Ok(SessionView::fixed(site, kind, number, id))
}

/// `POST /v1/sessions/{session_id}/heartbeat`: extends the lease; 404 when unknown or expired.
#[utoipa::path(
    post,
    path = "/v1/sessions/{session_id}/heartbeat",
    tag = "snippet",
    params(("session_id" = String, Path, description = "From session creation")),
    responses(
        (status = 200, description = "The lease, extended", body = SessionView),
        (status = 404, description = "Unknown or expired: create a new session", body = super::openapi::ErrorBody),
    )
)]
pub async fn heartbeat(
    State(config): State<SharedConfig>,
    State(leases): State<Arc<LeaseTable>>,
    State(gauges): State<Arc<Gauges>>,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let view = match session_id::parse(&id).ok_or(ApiError::UnknownSession)? {
        SessionRef::Dynamic(id) => {
            let session =
                touch(&leases, id, Timestamp::now(), false).ok_or(ApiError::UnknownSession)?;
            SessionView::of_session(&config.load(), session).ok_or(ApiError::UnknownSession)?
        }
        SessionRef::Fixed { kind, site, number } => {
            let config = config.load();
            let site = fixed_site(&config, kind, site, number)?;
            SessionView::fixed(site, kind, number, id.clone())
        }
    };
    gauges.heartbeats.fetch_add(1, Ordering::Relaxed);
    Ok(Json(view))
}

/// `DELETE /v1/sessions/{session_id}`: the page was left, the freeze starts.
#[utoipa::path(
    delete,
    path = "/v1/sessions/{session_id}",
    tag = "snippet",
    params(("session_id" = String, Path, description = "From session creation")),
    responses(
        (status = 204, description = "Released; the number stays with the visitor for the freeze time"),
        (status = 404, description = "Unknown or expired", body = super::openapi::ErrorBody),
    )
)]
pub async fn release(
    State(config): State<SharedConfig>,
    State(leases): State<Arc<LeaseTable>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match session_id::parse(&id).ok_or(ApiError::UnknownSession)? {
        SessionRef::Dynamic(id) => {
            touch(&leases, id, Timestamp::now(), true).ok_or(ApiError::UnknownSession)?;
        }
        SessionRef::Fixed { kind, site, number } => {
            fixed_site(&config.load(), kind, site, number)?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/sessions/{session_id}/release`: the same as `DELETE`, for `navigator.sendBeacon`
/// (which can only POST) when the page is left.
#[utoipa::path(
    post,
    path = "/v1/sessions/{session_id}/release",
    tag = "snippet",
    params(("session_id" = String, Path, description = "From session creation")),
    responses(
        (status = 204, description = "Released; the number stays with the visitor for the freeze time"),
        (status = 404, description = "Unknown or expired", body = super::openapi::ErrorBody),
    )
)]
pub async fn release_beacon(
    config: State<SharedConfig>,
    leases: State<Arc<LeaseTable>>,
    id: Path<String>,
) -> Result<StatusCode, ApiError> {
    release(config, leases, id).await
}

/// The site of a fixed-number session id, if the config still shows that number that way.
pub(super) fn fixed_site<'c>(
    config: &'c Config,
    kind: Kind,
    site: &str,
    number: &str,
) -> Result<&'c SiteConfig, ApiError> {
    let site = config.site(site).ok_or(ApiError::UnknownSession)?;
    let shown = match kind {
        Kind::Default => site.default_number.as_deref() == Some(number),
        Kind::Reserve => site.reserve_number.as_deref() == Some(number),
        Kind::Static => site.static_numbers.iter().any(|s| s.number == number),
        Kind::Dynamic => false,
    };
    if shown {
        Ok(site)
    } else {
        Err(ApiError::UnknownSession)
    }
}
