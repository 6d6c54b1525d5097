//! How targets are rung, as the config states it and routing obeys it: ring strategies,
//! failover rules and digest credentials. The config owns these types (it validates them);
//! `routing` re-exports them for the dialer.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Hunt: one target at a time, in order.
    Sequential,
    /// Ring all at once; the first 2xx wins, the others are cancelled.
    Parallel,
    /// One target at a time, starting from the next target in rotation (weighted).
    RoundRobin,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Sequential => "sequential",
            Strategy::Parallel => "parallel",
            Strategy::RoundRobin => "round_robin",
        }
    }
}

/// Digest credentials toward a PBX or gateway (RFC 3261 §22, RFC 8760). `Debug` never shows
/// the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// Answer only challenges of this realm (`None`: any realm).
    pub realm: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realm", &self.realm)
            .finish()
    }
}

/// Which final answers move the call on, and which end it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverRules {
    /// Statuses that move on to the next target / step (default: 408, 480, 486, 487
    /// (our own CANCEL after a target's ring timeout) and every 5xx). Any other final status
    /// ends the call and is relayed to the caller (e.g. 404, 603).
    pub failover_statuses: Vec<StatusMatch>,
    /// A target that never answers (Timer B, unreachable, its ring timeout) moves on.
    pub failover_on_timeout: bool,
    /// When the last target of the last step answers with one of these, the call ends with
    /// it instead of ringing the fallback (default: 486, 600, 603).
    pub final_statuses: Vec<u16>,
}

impl Default for FailoverRules {
    fn default() -> Self {
        FailoverRules {
            failover_statuses: vec![
                StatusMatch::Code(408),
                StatusMatch::Code(480),
                StatusMatch::Code(486),
                StatusMatch::Code(487),
                StatusMatch::Class(5),
            ],
            failover_on_timeout: true,
            final_statuses: vec![486, 600, 603],
        }
    }
}

impl FailoverRules {
    pub fn fails_over(&self, status: u16) -> bool {
        self.failover_statuses.iter().any(|m| m.matches(status))
    }
}

/// A status code, or a whole class ("5xx" is `Class(5)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Code(u16),
    Class(u16),
}

impl StatusMatch {
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Code(code) => code == status,
            StatusMatch::Class(class) => status / 100 == class,
        }
    }
}
