//! Session ids: 128 random bits as 32 lowercase hex digits (URL-safe).
//!
//! A dynamic session (a pool lease) is just the random part; the lease table owns its state.
//! A session without a lease (default, static or reserve number) carries what it shows in the
//! id itself: `<random>.<d|s|r>.<site>.<number>`. Heartbeat and release on such ids answer from
//! the id and the config alone, so they need no server memory at all (nothing to bound or
//! expire) and never touch the lease table; the id is checked against the config, so a forged
//! one can only name a number the site shows anyway.

/// What a visitor was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dynamic,
    Static,
    Default,
    Reserve,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dynamic => "dynamic",
            Self::Static => "static",
            Self::Default => "default",
            Self::Reserve => "reserve",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Self::Dynamic => "",
            Self::Static => "s",
            Self::Default => "d",
            Self::Reserve => "r",
        }
    }
}

/// A parsed session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRef<'a> {
    /// Look it up in the lease table.
    Dynamic(&'a str),
    /// Everything is in the id.
    Fixed {
        kind: Kind,
        site: &'a str,
        number: &'a str,
    },
}

/// Longest id accepted (site ids and numbers are short).
const MAX_ID_LEN: usize = 160;

/// A new random id for a lease.
pub fn random() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A new id for a session that shows a fixed number.
pub fn fixed(kind: Kind, site: &str, number: &str) -> String {
    format!("{}.{}.{site}.{number}", random(), kind.tag())
}

/// Parses an id; `None` for anything malformed.
pub fn parse(id: &str) -> Option<SessionRef<'_>> {
    let valid = id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        return None;
    }
    let mut parts = id.split('.');
    let random = parts.next()?;
    if random.len() != 32 || !random.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let Some(tag) = parts.next() else {
        return Some(SessionRef::Dynamic(id));
    };
    let kind = match tag {
        "s" => Kind::Static,
        "d" => Kind::Default,
        "r" => Kind::Reserve,
        _ => return None,
    };
    let (site, number) = (parts.next()?, parts.next()?);
    if parts.next().is_some() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(SessionRef::Fixed { kind, site, number })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let id = random();
        assert_eq!(id.len(), 32);
        assert_eq!(parse(&id), Some(SessionRef::Dynamic(&id)));
        let id = fixed(Kind::Reserve, "demo-1", "74950000099");
        let expected = SessionRef::Fixed {
            kind: Kind::Reserve,
            site: "demo-1",
            number: "74950000099",
        };
        assert_eq!(parse(&id), Some(expected));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for id in [
            "",
            "abc",
            "zz",
            "0123456789abcdef0123456789abcdef.x.demo.1",
            "0123456789abcdef0123456789abcdef.d.demo.1a",
            "0123456789abcdef0123456789abcdef.d.demo",
            "../etc",
        ] {
            assert_eq!(parse(id), None, "{id}");
        }
    }
}
