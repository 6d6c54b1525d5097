//! The outbox table (migration V11).

/// Version 11: one row per event and destination. Times are Unix milliseconds except
/// `occurred_at` (RFC 3339, shown as is). `kept` is what a destination asked to keep from its
/// answer (see `OutboxEvent::kept`).
pub const V11_OUTBOX: &str = "
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    destination     TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    occurred_at     TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    payload         TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    settled_at      INTEGER,
    kept            TEXT
);
CREATE INDEX outbox_pending ON outbox (destination, seq) WHERE state = 'pending';
CREATE INDEX outbox_due ON outbox (destination, next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_subject ON outbox (destination, subject, seq);
CREATE INDEX outbox_state ON outbox (destination, state, seq);
CREATE INDEX outbox_open ON outbox (destination, state) WHERE state != 'delivered';
";
