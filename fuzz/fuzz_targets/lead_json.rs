//! Fuzz target: the snippet API's lead body (`POST /v1/sessions/{id}/leads`) through JSON
//! decoding and every field check, as JSON and as the `text/plain` a beacon sends. Whatever
//! passes must hold the documented bounds: phone all digits, email lower-case with one '@',
//! every text within its limit, at most 50 free fields, phone or email present.
#![no_main]

use calltrack::call::attribution::Attribution;
use calltrack::http::leads::{
    MAX_EMAIL_CHARS, MAX_FIELD_NAME_CHARS, MAX_FIELDS, MAX_MESSAGE_CHARS, MAX_NAME_CHARS,
    MAX_PHONE_DIGITS, clean_lead, parse_lead_body,
};
use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let content_type = if data.first().is_some_and(|b| b % 2 == 0) {
        "application/json"
    } else {
        "text/plain;charset=UTF-8"
    };
    let Ok(body) = parse_lead_body(Some(content_type), data) else {
        return;
    };
    let Ok(lead) = clean_lead(body, Attribution::default(), Timestamp::UNIX_EPOCH) else {
        return;
    };
    assert!(lead.phone.is_some() || lead.email.is_some());
    assert!(lead.phone.as_ref().is_none_or(|p| {
        p.len() <= MAX_PHONE_DIGITS && p.bytes().all(|b| b.is_ascii_digit())
    }));
    assert!(lead.email.as_ref().is_none_or(|e| {
        e.chars().count() <= MAX_EMAIL_CHARS
            && *e == e.to_lowercase()
            && e.matches('@').count() == 1
    }));
    assert!(lead.name.as_ref().is_none_or(|n| n.chars().count() <= MAX_NAME_CHARS));
    assert!(lead.message.as_ref().is_none_or(|m| m.chars().count() <= MAX_MESSAGE_CHARS));
    assert!(lead.fields.len() <= MAX_FIELDS);
    for (name, value) in &lead.fields {
        assert!(!name.is_empty() && name.chars().count() <= MAX_FIELD_NAME_CHARS);
        assert!(!value.is_empty() && value.chars().count() <= MAX_MESSAGE_CHARS);
    }
});
