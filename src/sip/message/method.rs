//! SIP methods: the ones calltrack knows plus any extension token (RFC 3261 §7.1, §25.1).

use std::fmt;

/// A request method. Extension methods keep their exact spelling (methods are case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Prack,
    Update,
    Info,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    Extension(Box<str>),
}

const KNOWN: &[(&str, Method)] = &[
    ("INVITE", Method::Invite),
    ("ACK", Method::Ack),
    ("BYE", Method::Bye),
    ("CANCEL", Method::Cancel),
    ("OPTIONS", Method::Options),
    ("REGISTER", Method::Register),
    ("PRACK", Method::Prack),
    ("UPDATE", Method::Update),
    ("INFO", Method::Info),
    ("SUBSCRIBE", Method::Subscribe),
    ("NOTIFY", Method::Notify),
    ("REFER", Method::Refer),
    ("MESSAGE", Method::Message),
    ("PUBLISH", Method::Publish),
];

impl Method {
    /// Reads a method token; `None` when it has characters outside `token` (RFC 3261 §25.1).
    pub fn from_token(token: &str) -> Option<Method> {
        if token.is_empty() || !token.bytes().all(is_token_char) {
            return None;
        }
        let known = KNOWN.iter().find(|(name, _)| *name == token);
        Some(known.map_or_else(|| Method::Extension(token.into()), |(_, m)| m.clone()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Extension(name) => name,
            known => KNOWN
                .iter()
                .find(|(_, m)| m == known)
                .map_or("", |(name, _)| name),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `token` characters of RFC 3261 §25.1: alphanumerics and `-.!%*_+`'~`.
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

/// Lookup table behind [`is_token_char`]: one load per byte on the parser's hot path.
static TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_extension_methods() {
        assert_eq!(Method::from_token("INVITE"), Some(Method::Invite));
        assert_eq!(
            Method::from_token("invite"),
            Some(Method::Extension("invite".into()))
        );
        let weird = "!interesting-Method0123456789_*+`.%indeed'~";
        assert_eq!(
            Method::from_token(weird).map(|m| m.to_string()),
            Some(weird.to_string())
        );
        assert_eq!(Method::from_token("IN VITE"), None);
        assert_eq!(Method::from_token(""), None);
    }
}
