//! HTTP Digest authentication as a SIP client (RFC 3261 §22.2, RFC 2617, RFC 7616, RFC 8760):
//! parse a `WWW-Authenticate` / `Proxy-Authenticate` challenge and compute the matching
//! `Authorization` / `Proxy-Authorization` value. Sans-IO: the cnonce is passed in.

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("not a Digest challenge")]
    NotDigest,
    #[error("challenge without {0}")]
    Missing(&'static str),
    #[error("unsupported algorithm {0}")]
    Algorithm(String),
    #[error("unsupported qop {0}")]
    Qop(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    fn parse(token: &str) -> Result<Algorithm, DigestError> {
        match token.to_ascii_uppercase().as_str() {
            "MD5" => Ok(Algorithm::Md5),
            "MD5-SESS" => Ok(Algorithm::Md5Sess),
            "SHA-256" => Ok(Algorithm::Sha256),
            "SHA-256-SESS" => Ok(Algorithm::Sha256Sess),
            _ => Err(DigestError::Algorithm(token.to_string())),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex(&Md5::digest(data.as_bytes())),
            Algorithm::Sha256 | Algorithm::Sha256Sess => hex(&Sha256::digest(data.as_bytes())),
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    fn strength(self) -> u8 {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => 0,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 1,
        }
    }
}

/// A parsed Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered `qop=auth` (we never use `auth-int`).
    pub qop_auth: bool,
}

impl Challenge {
    /// Parses one challenge header value (`Digest realm="...", nonce="...", ...`).
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let value = value.trim_start();
        let scheme_len = value.find(char::is_whitespace).unwrap_or(value.len());
        if !value[..scheme_len].eq_ignore_ascii_case("digest") {
            return Err(DigestError::NotDigest);
        }
        let params = auth_params(&value[scheme_len..]);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let algorithm = get("algorithm").map_or(Ok(Algorithm::Md5), |a| Algorithm::parse(&a))?;
        let qop_auth = match get("qop") {
            None => false,
            Some(list)
                if list
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth")) =>
            {
                true
            }
            Some(list) => return Err(DigestError::Qop(list)),
        };
        Ok(Challenge {
            realm: get("realm").ok_or(DigestError::Missing("realm"))?,
            nonce: get("nonce").ok_or(DigestError::Missing("nonce"))?,
            opaque: get("opaque"),
            algorithm,
            qop_auth,
        })
    }

    /// The strongest challenge we can answer among several headers (RFC 8760 §2.4: a server
    /// may offer SHA-256 and MD5 side by side).
    pub fn best<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
        values
            .into_iter()
            .filter_map(|v| Challenge::parse(v).ok())
            .max_by_key(|c| c.algorithm.strength())
    }
}

/// What the answer is computed over. `Debug` never shows the password.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The Request-URI, written into `uri=` as it is.
    pub uri: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    /// Fresh client nonce (only used with qop or a -sess algorithm).
    pub cnonce: &'a str,
    /// Nonce count: how many requests used this nonce, starting at 1.
    pub nc: u32,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The `response=` value (RFC 7616 §3.4.1; RFC 2069 form without qop).
pub fn response(c: &Challenge, r: &Request<'_>) -> String {
    let alg = c.algorithm;
    let mut ha1 = alg.hash(&format!("{}:{}:{}", r.username, c.realm, r.password));
    if alg.is_sess() {
        ha1 = alg.hash(&format!("{ha1}:{}:{}", c.nonce, r.cnonce));
    }
    let ha2 = alg.hash(&format!("{}:{}", r.method, r.uri));
    if c.qop_auth {
        let nc = format!("{:08x}", r.nc);
        alg.hash(&format!("{ha1}:{}:{nc}:{}:auth:{ha2}", c.nonce, r.cnonce))
    } else {
        alg.hash(&format!("{ha1}:{}:{ha2}", c.nonce))
    }
}

/// The full `Authorization` / `Proxy-Authorization` header value.
pub fn authorization(c: &Challenge, r: &Request<'_>) -> String {
    let mut v = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
        quote(r.username),
        quote(&c.realm),
        quote(&c.nonce),
        quote(r.uri),
        response(c, r),
        c.algorithm.as_str()
    );
    if c.qop_auth || c.algorithm.is_sess() {
        v.push_str(&format!(", cnonce=\"{}\"", quote(r.cnonce)));
    }
    if let Some(opaque) = &c.opaque {
        v.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
    }
    if c.qop_auth {
        v.push_str(&format!(", qop=auth, nc={:08x}", r.nc));
    }
    v
}

/// `name=value` / `name="quoted, value"` pairs separated by commas.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim_start_matches([' ', '\t', ',']);
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq].trim().to_string();
        let after = rest[eq + 1..].trim_start();
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted),
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            }
        };
        out.push((name, value));
        rest = tail.trim_start_matches([' ', '\t', ',']);
    }
    out
}

/// Reads a quoted-string body (after the opening quote); returns it and what follows.
fn unquote(s: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '"' => return (value, &s[i + 1..]),
            _ => value.push(ch),
        }
    }
    (value, "")
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "digest_tests.rs"]
mod tests;
