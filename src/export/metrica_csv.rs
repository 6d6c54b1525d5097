//! The CSV of a Yandex Metrica calls upload (`offline_conversions/upload_calls`): one header
//! line naming the columns, one line per call.
//!
//! Columns (Metrica's "Sending call data"): the visitor id (`ClientId`, or `Yclid` for a
//! click without a client id; one id type per upload), `DateTime` (the call's start, Unix
//! seconds UTC), `StaticCall` (1 static number, 0 pool), `PhoneNumber` (the caller, `+` and
//! digits), `TalkDuration` and `HoldDuration` (seconds talking and waiting for an answer),
//! `CallMissed` (1 missed), `Tag` (the call's tags, then the keyword tags said in it), `FirstTimeCaller` (1 first call),
//! `URL` (the visit's landing page), `CallTrackerURL` (the call in calltrack), `Price` and
//! `Currency` (the call's won deal; empty without one).

use crate::call::record::rfc3339;
use crate::store::deal::DealStatus;
use crate::store::outbox::CallFact;

/// Which visitor id an upload carries (Metrica's `client_id_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdType {
    /// The Metrica client id the snippet read (`_ym_uid`).
    ClientId,
    /// The Yandex Direct click id (`yclid`) of a visit without a client id.
    Yclid,
}

impl IdType {
    /// The id type of `call`: its client id if it has one, else its yclid.
    pub fn of(call: &CallFact) -> Option<IdType> {
        let a = &call.attribution;
        if a.ym_client_id.as_deref().is_some_and(|id| !id.is_empty()) {
            Some(IdType::ClientId)
        } else if a.yclid.as_deref().is_some_and(|id| !id.is_empty()) {
            Some(IdType::Yclid)
        } else {
            None
        }
    }

    /// The CSV column.
    pub fn column(self) -> &'static str {
        match self {
            IdType::ClientId => "ClientId",
            IdType::Yclid => "Yclid",
        }
    }

    /// The `client_id_type` query value.
    pub fn query_value(self) -> &'static str {
        match self {
            IdType::ClientId => "CLIENT_ID",
            IdType::Yclid => "YCLID",
        }
    }

    fn value(self, call: &CallFact) -> &str {
        let a = &call.attribution;
        let id = match self {
            IdType::ClientId => a.ym_client_id.as_deref(),
            IdType::Yclid => a.yclid.as_deref(),
        };
        id.unwrap_or_default()
    }
}

/// The columns after the id column, in order.
pub const COLUMNS: [&str; 12] = [
    "DateTime",
    "StaticCall",
    "PhoneNumber",
    "TalkDuration",
    "HoldDuration",
    "CallMissed",
    "Tag",
    "FirstTimeCaller",
    "URL",
    "CallTrackerURL",
    "Price",
    "Currency",
];

/// What a row needs beyond the call.
#[derive(Debug, Clone, Copy)]
pub struct RowContext<'a> {
    /// `CallTrackerURL` prefix (the call id is appended); None leaves the column empty.
    pub call_tracker_url: Option<&'a str>,
}

/// The whole CSV for `calls`, all of `id_type` (calls without that id are an error).
pub fn write(id_type: IdType, calls: &[CallFact], ctx: RowContext<'_>) -> Result<Vec<u8>, String> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let header = std::iter::once(id_type.column()).chain(COLUMNS);
    out.write_record(header).map_err(|e| e.to_string())?;
    for call in calls {
        if IdType::of(call) != Some(id_type) {
            return Err(format!("call {} has no {}", call.id, id_type.column()));
        }
        out.write_record(row(id_type, call, ctx)?)
            .map_err(|e| e.to_string())?;
    }
    out.into_inner().map_err(|e| e.to_string())
}

/// One call's cells, in header order.
pub fn row(id_type: IdType, call: &CallFact, ctx: RowContext<'_>) -> Result<Vec<String>, String> {
    let started = rfc3339::parse(&call.started_at)
        .map_err(|e| format!("call {}: started_at {:?}: {e}", call.id, call.started_at))?;
    let (price, currency) = won_deal(call);
    Ok(vec![
        id_type.value(call).to_owned(),
        started.as_second().to_string(),
        flag(call.number_kind == "static"),
        phone(&call.caller),
        call.talk_secs.unwrap_or(0).to_string(),
        call.wait_secs.unwrap_or(0).to_string(),
        flag(missed(call)),
        call.tags
            .iter()
            .chain(call.speech_tags.iter().filter(|t| !call.tags.contains(t)))
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        flag(call.first_time_caller),
        call.attribution.landing_page.clone().unwrap_or_default(),
        ctx.call_tracker_url
            .map(|prefix| format!("{prefix}{}", call.id))
            .unwrap_or_default(),
        price,
        currency,
    ])
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_owned()
}

/// Missed: the call says so, or (an older payload) nobody answered it.
fn missed(call: &CallFact) -> bool {
    call.missed
        .unwrap_or_else(|| call.disposition.as_deref() != Some("answered"))
}

/// The caller as Metrica wants it: `+` and digits (a number that is not digits, like
/// `anonymous`, is left out).
fn phone(caller: &str) -> String {
    let digits = caller.strip_prefix('+').unwrap_or(caller);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{digits}")
    } else {
        String::new()
    }
}

/// `Price` and `Currency` of the call's won deal (a decimal with a dot), or both empty.
fn won_deal(call: &CallFact) -> (String, String) {
    let Some(deal) = call.deal.as_ref().filter(|d| d.status == DealStatus::Won) else {
        return (String::new(), String::new());
    };
    let amount = match &deal.amount {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return (String::new(), String::new()),
    };
    (amount, deal.currency.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(extra: serde_json::Value) -> CallFact {
        let mut base = serde_json::json!({
            "id": "c1", "call_id": "x@carrier", "site": "shop",
            "tracking_number": "74950000101", "number_kind": "dynamic",
            "caller": "79161112233", "destination": "sip:sales@pbx",
            "started_at": "2026-12-05T10:00:00.000Z", "ended_at": "2026-12-05T10:01:10.000Z",
            "wait_secs": 10, "talk_secs": 60, "disposition": "answered",
            "first_time_caller": true, "quality": true, "missed": false,
            "attribution": {"ym_client_id": "170000000000000001",
                            "landing_page": "https://shop.example/landing?utm_source=yandex"}
        });
        let (serde_json::Value::Object(base_map), serde_json::Value::Object(extra)) =
            (&mut base, extra)
        else {
            panic!("objects")
        };
        base_map.extend(extra);
        serde_json::from_value(base).unwrap()
    }

    const CTX: RowContext<'static> = RowContext {
        call_tracker_url: Some("https://ct.example/dashboard/#call="),
    };

    fn csv_text(id_type: IdType, calls: &[CallFact]) -> String {
        String::from_utf8(write(id_type, calls, CTX).unwrap()).unwrap()
    }

    #[test]
    fn the_header_names_every_column_after_the_id() {
        let text = csv_text(IdType::ClientId, &[]);
        assert_eq!(
            text,
            "ClientId,DateTime,StaticCall,PhoneNumber,TalkDuration,HoldDuration,CallMissed,\
             Tag,FirstTimeCaller,URL,CallTrackerURL,Price,Currency\n"
        );
        assert!(csv_text(IdType::Yclid, &[]).starts_with("Yclid,DateTime,"));
    }

    #[test]
    fn an_answered_first_time_call_from_a_pool_number() {
        let text = csv_text(IdType::ClientId, &[call(serde_json::json!({}))]);
        let line = text.lines().nth(1).unwrap();
        assert_eq!(
            line,
            "170000000000000001,1796464800,0,+79161112233,60,10,0,,1,\
             https://shop.example/landing?utm_source=yandex,\
             https://ct.example/dashboard/#call=c1,,"
        );
    }

    #[test]
    fn a_missed_repeat_call_to_a_static_number_with_tags() {
        let c = call(serde_json::json!({
            "number_kind": "static", "first_time_caller": false, "missed": true,
            "disposition": "no_answer", "talk_secs": 0, "wait_secs": 25,
            "tags": ["spam?", "callback, please"], "speech_tags": ["spam?", "price"]
        }));
        let cells = row(IdType::ClientId, &c, CTX).unwrap();
        assert_eq!(cells[2], "1", "StaticCall");
        assert_eq!((cells[4].as_str(), cells[5].as_str()), ("0", "25"));
        assert_eq!(cells[6], "1", "CallMissed");
        assert_eq!(cells[7], "spam?, callback, please, price");
        assert_eq!(cells[8], "0", "FirstTimeCaller");
        let text = csv_text(IdType::ClientId, &[c]);
        assert!(
            text.contains(r#","spam?, callback, please, price","#),
            "a tag with a comma is quoted: {text}"
        );
    }

    #[test]
    fn missed_falls_back_to_the_disposition() {
        let c = call(serde_json::json!({"missed": null, "disposition": "busy"}));
        assert_eq!(row(IdType::ClientId, &c, CTX).unwrap()[6], "1");
    }

    #[test]
    fn the_price_comes_from_a_won_deal_only() {
        let won = call(serde_json::json!({
            "deal": {"amount": "1500.50", "currency": "RUB", "status": "won"}
        }));
        let cells = row(IdType::ClientId, &won, CTX).unwrap();
        assert_eq!((cells[11].as_str(), cells[12].as_str()), ("1500.50", "RUB"));
        let open = call(serde_json::json!({
            "deal": {"amount": "900", "currency": "RUB", "status": "open"}
        }));
        let cells = row(IdType::ClientId, &open, CTX).unwrap();
        assert_eq!((cells[11].as_str(), cells[12].as_str()), ("", ""));
    }

    #[test]
    fn yclid_is_the_id_only_without_a_client_id() {
        let both = call(serde_json::json!({
            "attribution": {"ym_client_id": "17", "yclid": "998877"}
        }));
        assert_eq!(IdType::of(&both), Some(IdType::ClientId));
        let click = call(serde_json::json!({"attribution": {"yclid": "998877"}}));
        assert_eq!(IdType::of(&click), Some(IdType::Yclid));
        assert_eq!(row(IdType::Yclid, &click, CTX).unwrap()[0], "998877");
        let none = call(serde_json::json!({"attribution": {}}));
        assert_eq!(IdType::of(&none), None);
        assert!(write(IdType::ClientId, &[click], CTX).is_err());
    }

    #[test]
    fn odd_callers_and_no_tracker_url_leave_cells_empty() {
        let c = call(serde_json::json!({"caller": "anonymous"}));
        let cells = row(
            IdType::ClientId,
            &c,
            RowContext {
                call_tracker_url: None,
            },
        )
        .unwrap();
        assert_eq!(cells[3], "");
        assert_eq!(cells[10], "");
        assert_eq!(phone("+74951234567"), "+74951234567");
    }
}
