//! The admin API's query and body checks and the secret mask.
use super::*;
use serde_json::json;

fn problems(result: Result<impl std::fmt::Debug, ApiError>) -> Vec<String> {
    match result.unwrap_err() {
        ApiError::Invalid { problems, .. } => problems,
        other => panic!("not a 400: {other:?}"),
    }
}

#[test]
fn replay_bodies_name_one_event_or_a_time() {
    let by_id = parse_replay(&json!({"destination": "crm", "id": "evt_1"})).unwrap();
    assert_eq!(
        by_id,
        Replay::Id {
            destination: "crm".into(),
            id: "evt_1".into()
        }
    );
    let since = parse_replay(&json!({"destination": "crm", "since": "2026-12-05T09:00:00+03:00"}));
    assert!(matches!(since, Ok(Replay::Since { since, .. }) if since.as_second() == 1_796_450_400));
}

#[test]
fn bad_replay_bodies_list_every_problem() {
    let all = problems(parse_replay(
        &json!({"since": "yesterday", "id": 7, "x": 1}),
    ));
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(all.iter().any(|p| p.starts_with("id: must be")));
    assert!(all.iter().any(|p| p.contains("unknown field \"x\"")));
    assert!(all.iter().any(|p| p == "destination: required"));
    assert!(
        all.iter()
            .any(|p| p.contains("\"yesterday\" is not an RFC 3339"))
    );
    assert!(all.iter().any(|p| p.contains("not both")));
    let neither = problems(parse_replay(&json!({"destination": "crm"})));
    assert_eq!(neither, ["give id (one event) or since (RFC 3339)"]);
    assert_eq!(problems(parse_replay(&json!([1]))).len(), 1);
}

#[test]
fn list_queries_are_checked() {
    let f = parse_list_query("destination=crm&state=dead&limit=5&cursor=9&payload=true").unwrap();
    assert_eq!(f.destination.as_deref(), Some("crm"));
    assert_eq!(f.state, Some(DeliveryState::Dead));
    assert_eq!((f.limit, f.before, f.payload), (5, Some(9), true));
    assert_eq!(parse_list_query("").unwrap().limit, DEFAULT_LIMIT);
    let all = problems(parse_list_query(
        "state=lost&limit=0&cursor=x&payload=maybe&since=1",
    ));
    assert_eq!(all.len(), 5, "{all:?}");
}

#[test]
fn secrets_are_masked_out_of_errors() {
    let mask = Mask(vec!["abc123secret".into()]);
    assert_eq!(
        mask.apply("HTTP 401: bad token abc123secret"),
        "HTTP 401: bad token <redacted>"
    );
}
