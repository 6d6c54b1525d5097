//! Fuzz target: the snippet API's create-session body (`POST /v1/sites/{site}/sessions`)
//! through JSON decoding and field checks, then everything the handler derives from it
//! without I/O: the visit read from the page URL and referrer, and the display choice.
#![no_main]

use std::sync::OnceLock;

use calltrack::config::Config;
use calltrack::display;
use calltrack::http::sessions::parse_create_body;
use calltrack::lease::{Visit, VisitFields};
use libfuzzer_sys::fuzz_target;
use jiff::{SignedDuration, Timestamp};

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        Config::from_toml_str(include_str!("../../config/example.toml"))
            .unwrap_or_else(|e| panic!("config/example.toml must parse: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = parse_create_body(data) else {
        return;
    };
    let fields = VisitFields::from_page(&body.page_url, body.referrer.as_deref())
        .with_analytics_ids(
            body.ga_client_id.as_deref(),
            body.ga_session_id.as_deref(),
            body.ym_client_id.as_deref(),
        );
    let visit = Visit::from(fields);
    let again = visit.to_fields();
    for id in [&again.ga_client_id, &again.ga_session_id, &again.ym_client_id] {
        assert!(id.as_ref().is_none_or(|v| {
            v.len() <= calltrack::lease::visit::MAX_ID_BYTES && !v.chars().any(char::is_control)
        }));
    }
    assert!(
        again
            .landing_page
            .as_ref()
            .is_none_or(|p| p.len() <= calltrack::lease::visit::MAX_URL_BYTES)
    );
    let now = Timestamp::UNIX_EPOCH + SignedDuration::from_hours(24 * 20_000);
    for site in &config().sites {
        let _ = display::choose(site, &visit, now);
    }
});
