//! Bounded storage: a periodic job trims the event log (by age and size, never an event a
//! consumer group has not acked before the hard limit), the de-dup records, finished outbox
//! records, idempotency records and channel state, on whichever bus is configured, then
//! gives the freed space of the SQLite file back. Every removal is counted in
//! `omnibridge_retention_trimmed_total{kind}` and logged at `info`.
//!
//! [`RetentionJob::run_once`] takes the current time as an argument, so tests move time
//! instead of waiting.

use std::sync::Arc;
use std::time::Duration;

use omnibridge_sdk::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::bus::{BusError, EventLog, LogTrim};
use crate::config::RetentionSettings;
use crate::metrics::Metrics;
use crate::store::{PruneBefore, Store, StoreError};

/// De-dup records are kept at least this long unless `dedup_min_age_secs` says otherwise (a
/// warning at start): WhatsApp redelivers a failed webhook for up to 7 days.
pub const DEDUP_FLOOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// Idempotency records are kept at least this long, whatever `max_age_secs` says: clients
/// retry a request with the same `Idempotency-Key` for up to a day.
pub const IDEMPOTENCY_FLOOR: Duration = Duration::from_secs(24 * 3600);

/// How long each kind of record is kept, with the floors applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Events (acked by every group), finished outbox records, channel state.
    pub max_age: Duration,
    /// Size budget of the event log; `None`: no budget.
    pub max_log_bytes: Option<u64>,
    /// Hard limit for events a consumer group has not acked (at least `max_age`).
    pub unacked_max_age: Duration,
    /// De-dup records (at least `max_age` and `dedup_min_age_secs`).
    pub dedup_max_age: Duration,
    /// Idempotency records (at least `max_age` and [`IDEMPOTENCY_FLOOR`]).
    pub idempotency_max_age: Duration,
    /// Time between runs.
    pub interval: Duration,
}

impl RetentionPolicy {
    /// The policy `[storage.retention]` asks for; warns when de-dup records would be kept
    /// less than [`DEDUP_FLOOR`].
    pub fn from_settings(settings: &RetentionSettings) -> Self {
        let max_age = Duration::from_secs(settings.max_age_secs);
        let dedup_min = Duration::from_secs(settings.dedup_min_age_secs);
        if dedup_min < DEDUP_FLOOR {
            tracing::warn!(
                dedup_min_age_secs = settings.dedup_min_age_secs,
                "storage.retention.dedup_min_age_secs is below 7 days: a provider redelivery \
                 after that (WhatsApp retries for up to 7 days) becomes a second event"
            );
        }
        Self {
            max_age,
            max_log_bytes: (settings.max_log_bytes > 0).then_some(settings.max_log_bytes),
            unacked_max_age: Duration::from_secs(settings.unacked_max_age_secs).max(max_age),
            dedup_max_age: dedup_min.max(max_age),
            idempotency_max_age: IDEMPOTENCY_FLOOR.max(max_age),
            interval: Duration::from_secs(settings.interval_secs.max(1)),
        }
    }

    /// The bus's and the store's cut-offs at `now`.
    pub fn cutoffs(&self, now: Timestamp) -> (LogTrim, PruneBefore) {
        let before = |age: Duration| {
            chrono::Duration::from_std(age)
                .ok()
                .and_then(|age| now.checked_sub_signed(age))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
        };
        let log = LogTrim {
            events_before_ms: before(self.max_age).timestamp_millis(),
            unacked_before_ms: before(self.unacked_max_age).timestamp_millis(),
            max_log_bytes: self.max_log_bytes,
            dedup_before_ms: before(self.dedup_max_age).timestamp_millis(),
        };
        let store = PruneBefore {
            outbox: before(self.max_age),
            idempotency: before(self.idempotency_max_age),
            channel_state: before(self.max_age),
        };
        (log, store)
    }
}

/// What one run removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Events removed from the log.
    pub events: u64,
    /// De-dup records.
    pub dedup: u64,
    /// Finished outbox records.
    pub outbox: u64,
    /// Idempotency records.
    pub idempotency: u64,
    /// Channel state entries.
    pub channel_state: u64,
}

impl RetentionReport {
    /// Each count with its metric label.
    pub fn by_kind(&self) -> [(&'static str, u64); 5] {
        [
            ("events", self.events),
            ("dedup", self.dedup),
            ("outbox", self.outbox),
            ("idempotency", self.idempotency),
            ("channel_state", self.channel_state),
        ]
    }
}

/// Why a run did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// Trimming the bus failed.
    #[error("trimming the event log: {0}")]
    Bus(#[from] BusError),
    /// Pruning the store failed.
    #[error("pruning the store: {0}")]
    Store(#[from] StoreError),
}

/// The periodic retention job.
pub struct RetentionJob {
    bus: Arc<dyn EventLog>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    policy: RetentionPolicy,
}

impl RetentionJob {
    /// A job applying `policy` to `bus` and `store`, counting into `metrics`.
    pub fn new(
        bus: Arc<dyn EventLog>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        policy: RetentionPolicy,
    ) -> Self {
        Self {
            bus,
            store,
            metrics,
            policy,
        }
    }

    /// One run as of `now`: trims the bus, prunes the store, reclaims the file's free space,
    /// counts and logs what went.
    pub async fn run_once(&self, now: Timestamp) -> Result<RetentionReport, RetentionError> {
        let (log, before) = self.policy.cutoffs(now);
        let trimmed = self.bus.trim(log).await?;
        let pruned = self.store.prune(before).await?;
        let report = RetentionReport {
            events: trimmed.events,
            dedup: trimmed.dedup,
            outbox: pruned.outbox,
            idempotency: pruned.idempotency,
            channel_state: pruned.channel_state,
        };
        for (kind, count) in report.by_kind() {
            self.metrics.count_trimmed(kind, count);
        }
        self.store.reclaim_space().await?;
        if report != RetentionReport::default() {
            tracing::info!(
                events = report.events,
                dedup = report.dedup,
                outbox = report.outbox,
                idempotency = report.idempotency,
                channel_state = report.channel_state,
                "retention: trimmed old records"
            );
        }
        Ok(report)
    }

    /// Runs at start and then every `interval` until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.policy.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let run = self.run_once(chrono::Utc::now());
            tokio::select! {
                () = shutdown.cancelled() => break,
                result = run => {
                    if let Err(error) = result {
                        tracing::warn!(%error, "retention run failed; retrying at the next interval");
                    }
                }
            }
        }
        tracing::debug!("retention job stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_age_secs: u64, dedup_min_age_secs: u64) -> RetentionSettings {
        RetentionSettings {
            enabled: true,
            max_age_secs,
            max_log_bytes: 0,
            unacked_max_age_secs: 10,
            dedup_min_age_secs,
            interval_secs: 0,
        }
    }

    #[test]
    fn floors_apply() {
        let policy = RetentionPolicy::from_settings(&settings(30, 604_800));
        assert_eq!(policy.max_age, Duration::from_secs(30));
        assert_eq!(policy.dedup_max_age, DEDUP_FLOOR);
        assert_eq!(policy.idempotency_max_age, IDEMPOTENCY_FLOOR);
        assert_eq!(
            policy.unacked_max_age,
            Duration::from_secs(30),
            "never below max_age"
        );
        assert_eq!(policy.max_log_bytes, None, "0 means no budget");
        assert_eq!(policy.interval, Duration::from_secs(1));

        let long = RetentionPolicy::from_settings(&settings(90 * 86_400, 604_800));
        assert_eq!(long.dedup_max_age, Duration::from_secs(90 * 86_400));
        assert_eq!(long.idempotency_max_age, Duration::from_secs(90 * 86_400));
    }

    #[test]
    fn cutoffs_are_now_minus_each_age() {
        let policy = RetentionPolicy::from_settings(&settings(3600, 604_800));
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let (log, store) = policy.cutoffs(now);
        let ms = now.timestamp_millis();
        assert_eq!(log.events_before_ms, ms - 3_600_000);
        assert_eq!(log.unacked_before_ms, ms - 3_600_000);
        assert_eq!(log.dedup_before_ms, ms - 604_800_000);
        assert_eq!(store.idempotency.timestamp_millis(), ms - 86_400_000);
        assert_eq!(store.outbox.timestamp_millis(), ms - 3_600_000);
    }
}
