//! The pool usage service: samples every pool once a minute (see [`super::usage`]) and hands
//! the samples, with the cut-off for pruning old ones, to a [`PoolUsageSink`] (the store
//! implements it through its one writer; the lease room never imports the store).
//!
//! The wall clock is a parameter (`clock`), so tests run it on tokio's paused clock with a
//! virtual `now`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::shutdown::Every;

use super::LeaseTable;
use super::usage::{PoolUsageSample, UsageSampler};

/// How often the pools are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(60);
/// How long one write may wait for its commit before the sampler goes on (it stays queued).
const RECORD_WAIT: Duration = Duration::from_secs(30);

/// Where pool usage samples are kept.
pub trait PoolUsageSink: Send + Sync + 'static {
    type Error: std::fmt::Display + Send;

    /// Stores `samples` and deletes samples taken before `prune_before`; resolves once
    /// durable.
    fn record(
        &self,
        samples: Vec<PoolUsageSample>,
        prune_before: Timestamp,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Runs until `stop` is cancelled: a sample at once, then one every minute.
pub async fn run_usage_sampler<S, C>(
    table: Arc<LeaseTable>,
    sink: S,
    retention: Duration,
    clock: C,
    stop: CancellationToken,
) where
    S: PoolUsageSink,
    C: Fn() -> Timestamp + Send,
{
    let retention = SignedDuration::try_from(retention).unwrap_or(SignedDuration::MAX);
    let mut sampler = UsageSampler::default();
    let mut every = Every::new(SAMPLE_EVERY, stop);
    while every.tick().await {
        let now = clock();
        let samples = sampler.sample(&table, now);
        if samples.is_empty() {
            continue;
        }
        let prune_before = now.checked_sub(retention).unwrap_or(Timestamp::MIN);
        match tokio::time::timeout(RECORD_WAIT, sink.record(samples, prune_before)).await {
            Ok(Ok(())) => tracing::trace!("pool usage sampled"),
            Ok(Err(error)) => tracing::warn!(%error, "cannot store pool usage"),
            Err(_) => tracing::warn!("pool usage not confirmed in time (the store is busy)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::lease::{GrantRequest, PoolSpec, Visit};

    const T0: Timestamp = Timestamp::constant(1772366400, 0);

    /// Each `record` call: the samples and the prune cut-off.
    type Recorded = Vec<(Vec<PoolUsageSample>, Timestamp)>;

    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Recorded>>);

    impl PoolUsageSink for Kept {
        type Error = std::convert::Infallible;

        async fn record(
            &self,
            samples: Vec<PoolUsageSample>,
            prune_before: Timestamp,
        ) -> Result<(), Self::Error> {
            self.0.lock().unwrap().push((samples, prune_before));
            Ok(())
        }
    }

    /// A virtual wall clock: T0 plus the time passed on tokio's (paused) clock.
    fn virtual_clock() -> impl Fn() -> Timestamp + Send {
        let start = tokio::time::Instant::now();
        move || T0 + SignedDuration::try_from(start.elapsed()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn samples_every_minute_and_prunes_past_the_retention() {
        let table = Arc::new(LeaseTable::new(vec![PoolSpec {
            site: "shop".into(),
            pool: "web".into(),
            numbers: vec!["74950000001".into()],
            freeze: Duration::from_secs(600),
            cooldown: Duration::from_secs(60),
        }]));
        let kept = Kept::default();
        let stop = CancellationToken::new();
        let service = tokio::spawn(run_usage_sampler(
            table.clone(),
            kept.clone(),
            Duration::from_secs(86_400),
            virtual_clock(),
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(30)).await;
        let req = GrantRequest {
            session_id: "a".into(),
            site: "shop".into(),
            pool: "web".into(),
            visitor_id: None,
            visit: Visit::default(),
        };
        table
            .grant(req, T0 + SignedDuration::from_secs(30))
            .unwrap();
        tokio::time::sleep(Duration::from_secs(100)).await;
        stop.cancel();
        service.await.unwrap();

        let kept = kept.0.lock().unwrap();
        let minutes: Vec<_> = kept.iter().map(|(s, _)| s[0].at).collect();
        assert_eq!(
            minutes,
            [0, 60, 120].map(|s| T0 + SignedDuration::from_secs(s)),
            "one sample a minute"
        );
        let exhausted: Vec<_> = kept.iter().map(|(s, _)| s[0].exhausted).collect();
        assert_eq!(
            exhausted,
            [false, true, true],
            "the one number leased at 30 s"
        );
        assert_eq!(kept[2].1, T0 + SignedDuration::from_secs(120 - 86_400));
    }
}
