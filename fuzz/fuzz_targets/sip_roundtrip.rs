//! Fuzz target: any bytes through the SIP parser, the screen (validation, response building)
//! and the typed header accessors must not panic; a message the screen accepts (one calltrack
//! would act on and forward), encoded again with `MessageBuilder`, must parse back to the same
//! start line, headers and body.
#![no_main]

use bytes::Bytes;
use calltrack::sip::message::{
    FramingIssue, HeaderName, Limits, MessageBuilder, Screened, SipMessage, StartLine, Uri,
    response_to, screen,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(data), &limits) {
        touch_accessors(&msg);
    }
    match screen(Bytes::copy_from_slice(data), &limits, &["100rel", "timer"]) {
        Screened::Reject(msg, rejection) => {
            // What the core does with a rejected request: answer it statelessly.
            let answer = response_to(&msg, rejection.status, rejection.reason, Some("t"), None);
            let answer = answer.finish();
            assert!(SipMessage::parse(answer.as_bytes().clone(), &limits).is_ok());
        }
        Screened::Request(msg) | Screened::Response(msg) => {
            if msg.framing() == FramingIssue::None {
                round_trip(&msg, &limits);
            }
        }
        Screened::Discard(_) => {}
    }
});

/// Every typed read the proxy performs on a received message.
fn touch_accessors(msg: &SipMessage) {
    let _ = msg.top_via().map(|v| (v.branch(), v.has_rfc3261_branch()));
    let _ = msg.from().map(|f| f.tag().map(str::len));
    let _ = msg.to().map(|t| t.tag().map(str::len));
    let _ = msg.cseq();
    let _ = msg.contact();
    let _ = msg.max_forwards();
    let _ = msg.call_id();
    if let Some(uri) = msg.request_uri() {
        let _ = Uri::parse(uri).map(|u| u.user().map(str::len));
    }
    for field in msg.headers() {
        let _ = msg.field_str(field);
    }
    let _ = msg.values(&HeaderName::Via).count();
    let _ = msg.wire_bytes();
}

/// Encodes the message again, field by field, and checks the parser reads back what it read.
fn round_trip(msg: &SipMessage, limits: &Limits) {
    let mut b = match msg.start_line() {
        StartLine::Request { method, .. } => {
            MessageBuilder::request(method, msg.request_uri().unwrap_or_default())
        }
        StartLine::Response { code, .. } => {
            MessageBuilder::response(*code, msg.reason().unwrap_or_default())
        }
    };
    for field in msg.headers() {
        if field.name != HeaderName::ContentLength {
            b.raw_header(msg.field_name(field), msg.field_value(field));
        }
    }
    let encoded = b.body(None, msg.body());
    let again = SipMessage::parse(encoded.as_bytes().clone(), limits);
    let Ok(again) = again else {
        // Only a message grown past the size cap by the rewrite may fail to parse again.
        assert!(
            encoded.as_bytes().len() > limits.max_message_bytes
                || msg.headers().len() + 1 > limits.max_headers,
            "re-encoded message does not parse: {again:?}\n{:?}",
            String::from_utf8_lossy(encoded.as_bytes())
        );
        return;
    };
    assert_eq!(again.start_line_summary(), msg.start_line_summary());
    assert_eq!(again.body(), msg.body(), "body differs");
    let fields = |m: &SipMessage| -> Vec<(HeaderName, Vec<u8>, Vec<u8>)> {
        m.headers()
            .iter()
            .filter(|f| f.name != HeaderName::ContentLength)
            .map(|f| (f.name, m.field_name(f).to_vec(), m.field_value(f).to_vec()))
            .collect()
    };
    assert_eq!(fields(&again), fields(msg), "headers differ");
}

trait Summary {
    fn start_line_summary(&self) -> (Option<String>, Option<String>, Option<u16>, Vec<u8>);
}

impl Summary for SipMessage {
    fn start_line_summary(&self) -> (Option<String>, Option<String>, Option<u16>, Vec<u8>) {
        (
            self.method().map(|m| m.as_str().to_owned()),
            self.request_uri().map(str::to_owned),
            self.status(),
            self.reason().unwrap_or_default().to_vec(),
        )
    }
}
