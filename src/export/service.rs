//! The delivery service of one destination: a named background service that reads due
//! events from the outbox, sends them with at most `concurrency` requests in flight, and
//! settles each attempt through the store writer (delivered, retry later, dead letter).
//!
//! Invariants:
//! - Per subject (call or lead) one request at a time, in `seq` order: the store only hands
//!   out an event whose earlier events are settled, and subjects in flight are skipped.
//! - An event is marked delivered only after the receiver accepted it; a crash in between
//!   sends it again with the same id (receivers deduplicate by `webhook-id`).
//! - The service wakes when the writer rings the outbox, when a request finishes, when the
//!   next retry is due, and at least every [`IDLE_POLL`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::Client;
use super::{Destination, Verdict, retry};
use crate::config::exports::DeliveryPolicy;
use crate::store::outbox::delivery::{self, Settled, Settlement};
use crate::store::outbox::{Outbox, OutboxEvent};
use crate::store::{BackendReader, StoreCommand, StoreError, StoreReader, StoreSender};

/// Longest sleep without looking at the outbox (and refreshing the backlog gauges).
pub const IDLE_POLL: Duration = Duration::from_secs(5);

/// How often delivered events older than `keep_delivered_days` are deleted (first at start;
/// one delete covers every destination, so with several services it runs a few times an hour).
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Everything one destination's service needs.
pub struct DeliveryService {
    pub destination: Arc<dyn Destination>,
    pub policy: DeliveryPolicy,
    /// The node's SQLite file (the claim path on SQLite).
    pub reader: StoreReader,
    /// The configured backend's reads (the backlog gauges: every node's events on PostgreSQL).
    pub reads: BackendReader,
    pub store: StoreSender,
    pub outbox: Arc<Outbox>,
    pub client: Client,
}

/// What one claim found: requests to send (each a group of events) and when the next
/// pending event is due.
struct Claim {
    requests: Vec<Vec<OutboxEvent>>,
    next_due: Option<Timestamp>,
}

/// A request that came back: its subjects and how each event settles.
struct Flown {
    subjects: Vec<String>,
    settled: Vec<Settled>,
}

/// The service's moving parts between two wake-ups.
#[derive(Default)]
struct Flights {
    /// Requests in flight (at most `concurrency`).
    sending: JoinSet<Flown>,
    /// Settlement batches waiting for their commit; each returns the subjects it frees.
    settling: JoinSet<Vec<String>>,
    /// Subjects in flight or settling: none of their events may be claimed.
    busy: HashSet<String>,
    /// Settlements of finished requests not yet handed to the writer, with their subjects.
    unsettled: Vec<Settled>,
    unsettled_subjects: Vec<String>,
}

impl Flights {
    fn landed(&mut self, done: Result<Flown, tokio::task::JoinError>) {
        if let Ok(flown) = done {
            self.unsettled.extend(flown.settled);
            self.unsettled_subjects.extend(flown.subjects);
        }
    }

    fn freed(&mut self, done: Result<Vec<String>, tokio::task::JoinError>) {
        if let Ok(subjects) = done {
            for s in subjects {
                self.busy.remove(&s);
            }
        }
    }
}

impl DeliveryService {
    /// Runs until `stop` is cancelled, then lets requests in flight finish (up to the request
    /// timeout) and settles them; what is not settled stays pending and is sent again after a
    /// restart (with the same id).
    ///
    /// A finished request frees its concurrency slot at once; its settlements are handed to
    /// the writer in batches (one transaction for every request that finished meanwhile) and
    /// its subjects stay busy until that commit, so an event is never claimed twice.
    pub async fn run(self, stop: CancellationToken) {
        let this = Arc::new(self);
        let mut f = Flights::default();
        let mut not_before = Instant::now();
        let mut gauges_at = Instant::now();
        let mut prune_at = Instant::now();
        tracing::info!(
            destination = this.destination.id(),
            "export delivery started"
        );
        loop {
            let rung = this.outbox.rung();
            tokio::pin!(rung);
            rung.as_mut().enable();
            let mut wake = Instant::now() + IDLE_POLL;
            let free = this.policy.concurrency.saturating_sub(f.sending.len());
            if free > 0 && Instant::now() >= not_before {
                if let Some(next) = this.launch(&mut f, free).await {
                    wake = wake.min(next);
                    if !this.destination.linger().is_zero() && !f.sending.is_empty() {
                        not_before = Instant::now() + this.destination.linger();
                    }
                }
            }
            wake = wake.max(not_before);
            if Instant::now() >= gauges_at {
                this.publish_backlog().await;
                gauges_at = Instant::now() + IDLE_POLL;
            }
            if Instant::now() >= prune_at {
                this.prune().await;
                prune_at = Instant::now() + PRUNE_EVERY;
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                Some(done) = f.sending.join_next(), if !f.sending.is_empty() => {
                    f.landed(done);
                    while let Some(done) = f.sending.try_join_next() {
                        f.landed(done);
                    }
                    this.hand_over(&mut f);
                }
                Some(done) = f.settling.join_next(), if !f.settling.is_empty() => f.freed(done),
                () = &mut rung => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
        this.drain(f).await;
        tracing::info!(
            destination = this.destination.id(),
            "export delivery stopped"
        );
    }

    /// Claims due events and sends them; returns when to look again (None: read failed).
    async fn launch(self: &Arc<Self>, f: &mut Flights, free: usize) -> Option<Instant> {
        match self.claim(free, &f.busy).await {
            Ok(claim) => {
                for events in claim.requests {
                    f.busy.extend(events.iter().map(|e| e.subject.clone()));
                    f.sending.spawn(self.clone().fly(events));
                }
                Some(until(claim.next_due))
            }
            Err(error) => {
                tracing::warn!(%error, destination = self.destination.id(), "cannot read the outbox");
                None
            }
        }
    }

    /// Hands the finished requests' settlements to the writer as one command.
    fn hand_over(self: &Arc<Self>, f: &mut Flights) {
        if f.unsettled.is_empty() {
            return;
        }
        let settled = std::mem::take(&mut f.unsettled);
        let subjects = std::mem::take(&mut f.unsettled_subjects);
        let this = self.clone();
        f.settling.spawn(async move {
            this.settle(settled).await;
            subjects
        });
    }

    /// At shutdown: requests in flight get the request timeout to finish, then everything
    /// finished is settled.
    async fn drain(self: &Arc<Self>, mut f: Flights) {
        let grace = self.policy.timeout + Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, async {
            while let Some(done) = f.sending.join_next().await {
                f.landed(done);
            }
        })
        .await;
        f.sending.abort_all();
        self.hand_over(&mut f);
        while f.settling.join_next().await.is_some() {}
    }

    /// Reads due events, dead-letters the ones the destination refuses, and groups the rest
    /// into at most `free` requests.
    async fn claim(&self, free: usize, busy: &HashSet<String>) -> Result<Claim, StoreError> {
        let id = self.destination.id().to_owned();
        let limit = free.saturating_mul(self.destination.max_batch().max(1));
        let skip = busy.clone();
        let (events, next_due) = match self.outbox.postgres() {
            // Claimed for this node: subjects in flight are still claimed, never handed out.
            Some(claims) => claims.claim(&id, limit).await?,
            None => {
                self.reader
                    .read(move |conn| {
                        let due = delivery::due(conn, &id, Timestamp::now(), limit, &skip)?;
                        Ok((due, delivery::next_due(conn, &id)?))
                    })
                    .await?
            }
        };
        let now = Timestamp::now();
        let (refused, sendable): (Vec<_>, Vec<_>) = events
            .into_iter()
            .map(|e| (self.refusal(&e, now), e))
            .partition(|(reason, _)| reason.is_some());
        self.bury(refused, now).await;
        let sendable: Vec<OutboxEvent> = sendable.into_iter().map(|(_, e)| e).collect();
        let claimed: Vec<i64> = sendable.iter().map(|e| e.seq).collect();
        let requests = self.group(sendable, free);
        if let Some(claims) = self.outbox.postgres() {
            let sent: HashSet<i64> = requests.iter().flatten().map(|e| e.seq).collect();
            let unsent = claimed.into_iter().filter(|s| !sent.contains(s)).collect();
            claims.release(unsent).await?;
        }
        Ok(Claim { requests, next_due })
    }

    fn refusal(&self, event: &OutboxEvent, now: Timestamp) -> Option<String> {
        retry::expired(&self.policy, event, now).or_else(|| self.destination.refuse(event, now))
    }

    /// Dead letters without a request.
    async fn bury(&self, refused: Vec<(Option<String>, OutboxEvent)>, now: Timestamp) {
        if refused.is_empty() {
            return;
        }
        let settled = refused
            .into_iter()
            .map(|(reason, e)| Settled {
                seq: e.seq,
                at: now,
                attempted: false,
                outcome: Settlement::Dead {
                    error: reason.unwrap_or_default(),
                },
            })
            .collect();
        self.settle(settled).await;
    }

    /// Groups events into requests of at most `max_batch` that `same_request` accepts.
    fn group(&self, events: Vec<OutboxEvent>, free: usize) -> Vec<Vec<OutboxEvent>> {
        let max = self.destination.max_batch().max(1);
        let mut groups: Vec<Vec<OutboxEvent>> = Vec::new();
        for event in events {
            let open = groups.iter().position(|g| {
                g.len() < max
                    && g.first()
                        .is_some_and(|f| self.destination.same_request(f, &event))
            });
            match open {
                Some(i) => groups[i].push(event),
                None if groups.len() < free => groups.push(vec![event]),
                None => {}
            }
        }
        groups
    }

    /// One request: send and judge. Returns how its events settle.
    async fn fly(self: Arc<Self>, events: Vec<OutboxEvent>) -> Flown {
        let verdict = match self.destination.request(&events, Timestamp::now()) {
            Err(error) => Verdict::Dead { error },
            Ok(request) => match self.client.send(&request).await {
                Ok(answer) => self.destination.judge(&events, &answer),
                Err(error) => Verdict::Retry { error, after: None },
            },
        };
        let at = Timestamp::now();
        let settled: Vec<Settled> = events
            .iter()
            .map(|e| Settled {
                seq: e.seq,
                at,
                attempted: true,
                outcome: retry::settle(&self.policy, e, verdict.clone(), at, rand::random()),
            })
            .collect();
        self.count(&events, &settled, at);
        Flown {
            subjects: events.into_iter().map(|e| e.subject).collect(),
            settled,
        }
    }

    async fn settle(&self, settled: Vec<Settled>) {
        let request = self
            .store
            .request(|done| StoreCommand::OutboxSettle { settled, done });
        if let Err(error) = request.await {
            tracing::warn!(%error, destination = self.destination.id(), "delivery not recorded; the events will be sent again");
        }
    }

    fn count(&self, events: &[OutboxEvent], settled: &[Settled], at: Timestamp) {
        let id = self.destination.id().to_owned();
        for (event, s) in events.iter().zip(settled) {
            match &s.outcome {
                Settlement::Delivered { .. } => {
                    metrics::counter!("calltrack_export_delivered_total", "destination" => id.clone()).increment(1);
                    let age = at.duration_since(event.created_at).as_secs_f64().max(0.0);
                    metrics::histogram!("calltrack_export_delivery_seconds", "destination" => id.clone()).record(age);
                }
                Settlement::Retry { error, .. } => {
                    metrics::counter!("calltrack_export_retries_total", "destination" => id.clone()).increment(1);
                    tracing::debug!(destination = %id, event = %event.id, %error, "delivery failed, will retry");
                }
                Settlement::Dead { error } => {
                    metrics::counter!("calltrack_export_dead_total", "destination" => id.clone())
                        .increment(1);
                    tracing::warn!(destination = %id, event = %event.id, %error, "event dead-lettered");
                }
            }
        }
    }

    /// Deletes delivered events settled more than `keep_delivered` ago.
    async fn prune(&self) {
        let keep = jiff::SignedDuration::try_from(self.policy.keep_delivered);
        let Some(before) = keep.ok().and_then(|k| Timestamp::now().checked_sub(k).ok()) else {
            return;
        };
        let request = self
            .store
            .request(|done| StoreCommand::OutboxPrune { before, done });
        if let Err(error) = request.await {
            tracing::warn!(%error, "delivered outbox events not pruned");
        }
    }

    /// Queue depth and the oldest pending event's age, as gauges.
    async fn publish_backlog(&self) {
        let id = self.destination.id().to_owned();
        let query = id.clone();
        let backlog = self
            .reads
            .read_operator(move |r| r.outbox_backlog(&query))
            .await;
        if let Ok(b) = backlog {
            let oldest = b.oldest_pending.map_or(0.0, |t| {
                Timestamp::now().duration_since(t).as_secs_f64().max(0.0)
            });
            metrics::gauge!("calltrack_export_pending", "destination" => id.clone())
                .set(b.pending as f64);
            metrics::gauge!("calltrack_export_dead", "destination" => id.clone())
                .set(b.dead as f64);
            metrics::gauge!("calltrack_export_oldest_pending_seconds", "destination" => id)
                .set(oldest);
        }
    }
}

/// The instant `at` (wall clock) falls on, or later than now if it is past.
fn until(at: Option<Timestamp>) -> Instant {
    let now = Instant::now();
    let Some(at) = at else {
        return now + IDLE_POLL;
    };
    match Duration::try_from(at.duration_since(Timestamp::now())) {
        Ok(ahead) if !ahead.is_zero() => now + ahead,
        // Due already: it is in flight or behind one; a finished flight wakes the loop.
        _ => now + IDLE_POLL,
    }
}
