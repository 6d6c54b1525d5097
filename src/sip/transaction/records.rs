//! The records of completed transactions (`record`), one queue per kind, and their indexes:
//! by transaction id (for the TU's calls: `send_ack`, `respond`, `abandon`, `state`), by
//! key fingerprint (server and client, RFC 3261 §17.2.3 / §17.1.3 matching) and, for server
//! INVITEs, by the dialog key of their 2xx ACKs. The indexes hold 4-byte handles that resolve
//! through the records themselves (`record_index`), so a record is kept once and indexed in
//! about 8 bytes per key (issue 12); the layer's map of live transactions holds none of them.

use std::time::Instant;

use super::TxId;
use super::fifo::RecordQueue;
use super::fingerprint::Fingerprint;
use super::record::{
    ClientInviteRecord, ClientNonInviteRecord, RecordKind, RecordRef, Retired, SEQ_BITS,
    ServerInviteRecord, ServerNonInviteRecord,
};
use super::record_index::RecordIndex;

/// The records, one queue per kind, and the indexes into them.
#[derive(Debug, Default)]
pub(crate) struct Records {
    queues: Queues,
    by_id: RecordIndex,
    /// Server INVITE and non-INVITE records by key.
    server: RecordIndex,
    /// Client INVITE and non-INVITE records by key.
    client: RecordIndex,
    /// Server INVITE records by the dialog key of the ACK for their 2xx.
    acks: RecordIndex,
}

#[derive(Debug, Default)]
struct Queues {
    server_invite: RecordQueue<ServerInviteRecord>,
    server_non_invite: RecordQueue<ServerNonInviteRecord>,
    client_invite: RecordQueue<ClientInviteRecord>,
    client_non_invite: RecordQueue<ClientNonInviteRecord>,
}

/// Which key of a record an index is by.
#[derive(Clone, Copy)]
enum By {
    Id,
    Key,
    Ack,
}

/// The index hash of a transaction id: ids count up, and an odd multiplier keeps them
/// distinct in the low bits (the bucket) while mixing them into the high ones (the control
/// byte).
fn id_hash(id: TxId) -> u64 {
    id.as_u64().wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Queues {
    fn resolve(&self, handle: u32) -> RecordRef {
        let kind = RecordRef::kind_of(handle);
        let low = handle & SEQ_BITS;
        let seq = match kind {
            RecordKind::ServerInvite => self.server_invite.full_seq(low, SEQ_BITS),
            RecordKind::ServerNonInvite => self.server_non_invite.full_seq(low, SEQ_BITS),
            RecordKind::ClientInvite => self.client_invite.full_seq(low, SEQ_BITS),
            RecordKind::ClientNonInvite => self.client_non_invite.full_seq(low, SEQ_BITS),
        };
        RecordRef { kind, seq }
    }

    /// The id, key and ACK key of the record at `at`, if it is live.
    fn keys(&self, at: RecordRef) -> Option<(TxId, Fingerprint, Option<Fingerprint>)> {
        match at.kind {
            RecordKind::ServerInvite => self
                .server_invite
                .get(at.seq)
                .map(|r| (r.id, r.key, r.ack_key)),
            RecordKind::ServerNonInvite => self
                .server_non_invite
                .get(at.seq)
                .map(|r| (r.id, r.key, None)),
            RecordKind::ClientInvite => self.client_invite.get(at.seq).map(|r| (r.id, r.key, None)),
            RecordKind::ClientNonInvite => self
                .client_non_invite
                .get(at.seq)
                .map(|r| (r.id, r.key, None)),
        }
    }

    /// The hash a handle's record is indexed under in an index `by` it.
    fn hash(&self, handle: u32, by: By) -> u64 {
        let Some((id, key, ack)) = self.keys(self.resolve(handle)) else {
            return 0;
        };
        match by {
            By::Id => id_hash(id),
            By::Key => key.hash(),
            By::Ack => ack.map_or(0, |k| k.hash()),
        }
    }

    fn id_is(&self, handle: u32, id: TxId) -> bool {
        self.keys(self.resolve(handle)).is_some_and(|k| k.0 == id)
    }

    fn key_is(&self, handle: u32, key: Fingerprint) -> bool {
        self.keys(self.resolve(handle)).is_some_and(|k| k.1 == key)
    }

    fn ack_is(&self, handle: u32, key: Fingerprint) -> bool {
        self.keys(self.resolve(handle))
            .is_some_and(|k| k.2 == Some(key))
    }

    fn push(&mut self, now: Instant, deadline: Instant, retired: Retired) -> RecordRef {
        let (kind, seq) = match retired {
            Retired::ServerInvite(r) => (
                RecordKind::ServerInvite,
                self.server_invite.push(now, deadline, r),
            ),
            Retired::ServerNonInvite(r) => (
                RecordKind::ServerNonInvite,
                self.server_non_invite.push(now, deadline, r),
            ),
            Retired::ClientInvite(r) => (
                RecordKind::ClientInvite,
                self.client_invite.push(now, deadline, r),
            ),
            Retired::ClientNonInvite(r) => (
                RecordKind::ClientNonInvite,
                self.client_non_invite.push(now, deadline, r),
            ),
        };
        RecordRef { kind, seq }
    }

    fn remove(&mut self, at: RecordRef) -> Option<Retired> {
        match at.kind {
            RecordKind::ServerInvite => {
                self.server_invite.remove(at.seq).map(Retired::ServerInvite)
            }
            RecordKind::ServerNonInvite => self
                .server_non_invite
                .remove(at.seq)
                .map(Retired::ServerNonInvite),
            RecordKind::ClientInvite => {
                self.client_invite.remove(at.seq).map(Retired::ClientInvite)
            }
            RecordKind::ClientNonInvite => self
                .client_non_invite
                .remove(at.seq)
                .map(Retired::ClientNonInvite),
        }
    }

    fn pop_due(&mut self, now: Instant) -> Option<(RecordRef, Retired)> {
        let at = |kind, seq| RecordRef { kind, seq };
        if let Some((seq, r)) = self.server_invite.pop_due(now) {
            return Some((at(RecordKind::ServerInvite, seq), Retired::ServerInvite(r)));
        }
        if let Some((seq, r)) = self.server_non_invite.pop_due(now) {
            let kind = RecordKind::ServerNonInvite;
            return Some((at(kind, seq), Retired::ServerNonInvite(r)));
        }
        if let Some((seq, r)) = self.client_invite.pop_due(now) {
            return Some((at(RecordKind::ClientInvite, seq), Retired::ClientInvite(r)));
        }
        let (seq, r) = self.client_non_invite.pop_due(now)?;
        let kind = RecordKind::ClientNonInvite;
        Some((at(kind, seq), Retired::ClientNonInvite(r)))
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.server_invite.next_deadline(),
            self.server_non_invite.next_deadline(),
            self.client_invite.next_deadline(),
            self.client_non_invite.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn len(&self) -> usize {
        self.server_invite.len()
            + self.server_non_invite.len()
            + self.client_invite.len()
            + self.client_non_invite.len()
    }
}

impl Records {
    /// Queues a retired transaction to expire at `deadline` and indexes it (taking over any
    /// key an older record held).
    pub(crate) fn push(&mut self, now: Instant, deadline: Instant, retired: Retired) -> RecordRef {
        let (id, key, ack) = (retired.id(), retired.key(), retired.ack_key());
        let client = matches!(
            retired,
            Retired::ClientInvite(_) | Retired::ClientNonInvite(_)
        );
        let at = self.queues.push(now, deadline, retired);
        let handle = at.handle();
        let q = &self.queues;
        let rehash = |by| move |h| q.hash(h, by);
        self.by_id
            .insert(id_hash(id), handle, |h| q.id_is(h, id), rehash(By::Id));
        let keys = if client {
            &mut self.client
        } else {
            &mut self.server
        };
        keys.insert(key.hash(), handle, |h| q.key_is(h, key), rehash(By::Key));
        if let Some(ack) = ack {
            let same = |h| q.ack_is(h, ack);
            self.acks.insert(ack.hash(), handle, same, rehash(By::Ack));
        }
        at
    }

    /// The record of transaction `id`.
    pub(crate) fn by_id(&self, id: TxId) -> Option<RecordRef> {
        let q = &self.queues;
        let handle = self.by_id.find(id_hash(id), |h| q.id_is(h, id))?;
        Some(q.resolve(handle))
    }

    /// The server record with key `key`.
    pub(crate) fn server(&self, key: Fingerprint) -> Option<RecordRef> {
        let q = &self.queues;
        let handle = self.server.find(key.hash(), |h| q.key_is(h, key))?;
        Some(q.resolve(handle))
    }

    /// The client record with key `key`.
    pub(crate) fn client(&self, key: Fingerprint) -> Option<RecordRef> {
        let q = &self.queues;
        let handle = self.client.find(key.hash(), |h| q.key_is(h, key))?;
        Some(q.resolve(handle))
    }

    /// The server INVITE record whose 2xx an ACK with dialog key `key` acknowledges.
    pub(crate) fn ack(&self, key: Fingerprint) -> Option<RecordRef> {
        let q = &self.queues;
        let handle = self.acks.find(key.hash(), |h| q.ack_is(h, key))?;
        Some(q.resolve(handle))
    }

    /// Unindexes ACK key `key`: a newer INVITE transaction took it over.
    pub(crate) fn forget_ack(&mut self, key: Fingerprint) {
        let q = &self.queues;
        self.acks.remove_key(key.hash(), |h| q.ack_is(h, key));
    }

    /// The transaction id of a live record.
    pub(crate) fn id_of(&self, at: RecordRef) -> Option<TxId> {
        self.queues.keys(at).map(|k| k.0)
    }

    /// Takes a record out ahead of its deadline, with its index entries.
    pub(crate) fn remove(&mut self, at: RecordRef) -> Option<Retired> {
        let retired = self.queues.remove(at)?;
        self.unindex(at, &retired);
        Some(retired)
    }

    /// The oldest record whose lifetime ran out at `now`, taken out with its index entries.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Retired> {
        let (at, retired) = self.queues.pop_due(now)?;
        self.unindex(at, &retired);
        Some(retired)
    }

    fn unindex(&mut self, at: RecordRef, retired: &Retired) {
        let handle = at.handle();
        self.by_id.remove(id_hash(retired.id()), handle);
        let keys = if at.kind.is_client() {
            &mut self.client
        } else {
            &mut self.server
        };
        keys.remove(retired.key().hash(), handle);
        if let Some(ack) = retired.ack_key() {
            self.acks.remove(ack.hash(), handle);
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.queues.next_deadline()
    }

    /// Records queued (live ones).
    pub(crate) fn len(&self) -> usize {
        self.queues.len()
    }

    pub(crate) fn server_invite(&self, at: RecordRef) -> Option<&ServerInviteRecord> {
        let r = self.queues.server_invite.get(at.seq);
        r.filter(|_| at.kind == RecordKind::ServerInvite)
    }

    pub(crate) fn server_non_invite(&self, at: RecordRef) -> Option<&ServerNonInviteRecord> {
        let r = self.queues.server_non_invite.get(at.seq);
        r.filter(|_| at.kind == RecordKind::ServerNonInvite)
    }

    pub(crate) fn client_invite_mut(&mut self, at: RecordRef) -> Option<&mut ClientInviteRecord> {
        let r = self.queues.client_invite.get_mut(at.seq);
        r.filter(|_| at.kind == RecordKind::ClientInvite)
    }

    /// Entries in the indexes (by id, by key, by ACK key), for tests.
    #[cfg(test)]
    pub(crate) fn index_len(&self) -> usize {
        self.by_id.len() + self.server.len() + self.client.len() + self.acks.len()
    }
}
