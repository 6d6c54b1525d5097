//! Header and URI parameters (`;name=value;flag`), read lazily from the raw text: shared by
//! the URI grammar and the core headers.

use super::method::is_token_char;

/// `;name=value;flag` parameters (RFC 3261 §7.3.1, §19.1.1), read lazily from the raw text
/// that follows the first `;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    pub fn new(raw: &'a str) -> Params<'a> {
        Params { raw: raw.trim() }
    }

    /// The raw text, without the leading `;`.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// `(name, value)` pairs, whitespace around `=` removed.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        let raw = self.raw;
        raw.split(';')
            .filter(|p| !raw.is_empty() || !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim())),
                None => (p.trim(), None),
            })
    }

    /// `Some(Some(value))`, `Some(None)` for a flag, `None` when absent; names are
    /// case-insensitive.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every name is a non-empty token and every value non-empty (`;;` and `;=x` fail).
    pub fn is_well_formed(&self) -> bool {
        self.raw.is_empty()
            || self.iter().all(|(name, value)| {
                is_token(name) && value.is_none_or(|v| !v.is_empty() && is_param_value(v))
            })
    }
}

pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// A parameter value: a token, a quoted string, or an IPv6 reference (RFC 5118 §4.5).
fn is_param_value(v: &str) -> bool {
    (v.starts_with('"') && v.ends_with('"') && v.len() >= 2)
        || v.bytes().all(|b| is_token_char(b) || b"[]:".contains(&b))
}
