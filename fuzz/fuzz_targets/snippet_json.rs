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
use time::OffsetDateTime;

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
    let mut fields = VisitFields::from_page(&body.page_url, body.referrer.as_deref());
    fields.ga_client_id = body.ga_client_id;
    fields.ga_session_id = body.ga_session_id;
    fields.ym_client_id = body.ym_client_id;
    let visit = Visit::from(fields);
    let again = visit.to_fields();
    assert!(
        again
            .landing_page
            .as_ref()
            .is_none_or(|p| p.len() <= calltrack::lease::visit::MAX_URL_BYTES)
    );
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    for site in &config().sites {
        let _ = display::choose(site, &visit, now);
    }
});
