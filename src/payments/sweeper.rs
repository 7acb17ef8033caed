//! The payment sweeper: a periodic job (and once at start) that moves overdue intents to
//! `expired` (announcing `payment.expired`), resolves this process's settlements in doubt,
//! and resolves intents left `processing` longer than `stale_after_secs` by a crash or by
//! another instance ([`PaymentEngine::resolve`]). Every step is a compare-and-set, so
//! instances sharing a store may sweep at the same time.

use std::time::Duration;

use omnibridge_sdk::Timestamp;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::engine::PaymentEngine;
use super::error::PaymentError;
use super::outcome::Resolution;

/// Intents handled per kind and run.
const BATCH: usize = 200;

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Intents moved to `expired`.
    pub expired: usize,
    /// `processing` intents found paid.
    pub paid: usize,
    /// `processing` intents re-opened (definitely not charged).
    pub reopened: usize,
    /// `processing` intents whose outcome is still unknown.
    pub pending: usize,
}

impl PaymentEngine {
    /// One sweep at `now`.
    pub async fn sweep(&self, now: Timestamp) -> Result<SweepReport, PaymentError> {
        let mut report = SweepReport::default();
        for id in self.store().overdue_intents(now, BATCH).await? {
            if self.expire_if_overdue(&id, now).await? {
                report.expired += 1;
            }
        }
        let stale_after = chrono::Duration::seconds(
            i64::try_from(self.inner.reconcile.stale_after_secs).unwrap_or(i64::MAX),
        );
        let mut ids = self.in_doubt();
        for intent in self
            .store()
            .processing_intents(now - stale_after, BATCH)
            .await?
        {
            if !ids.contains(&intent.id) {
                ids.push(intent.id);
            }
        }
        for id in ids {
            let span = tracing::info_span!("payments.sweep", payment_intent_id = %id);
            match self.resolve(&id, now).instrument(span).await {
                Ok(Resolution::Paid(_)) => report.paid += 1,
                Ok(Resolution::Reopened(_)) => report.reopened += 1,
                Ok(Resolution::Pending) => report.pending += 1,
                Ok(Resolution::Busy | Resolution::Moved(_)) => {}
                Err(error) => {
                    tracing::warn!(%error, "could not resolve a processing intent; next sweep");
                    report.pending += 1;
                }
            }
        }
        if report != SweepReport::default() {
            tracing::info!(
                expired = report.expired,
                paid = report.paid,
                reopened = report.reopened,
                pending = report.pending,
                "payment sweep"
            );
        }
        Ok(report)
    }

    /// Moves `id` to `expired` if it is still unpaid (offered or waiting for approval) and overdue at `now`; `true` if this call
    /// did (and announced it).
    async fn expire_if_overdue(&self, id: &str, now: Timestamp) -> Result<bool, PaymentError> {
        let Some(intent) = self.store().intent(id).await? else {
            return Ok(false);
        };
        if !intent.state.is_open() || !intent.is_expired_at(now) {
            return Ok(false);
        }
        Ok(self.expire(&intent).await?.is_some())
    }

    /// Runs [`PaymentEngine::sweep`] at start and every `payments.reconcile.interval_ms`
    /// until `stop`.
    pub async fn run_sweeper(self, stop: CancellationToken) {
        let every = Duration::from_millis(self.inner.reconcile.interval_ms.max(10));
        loop {
            if let Err(error) = self.sweep(chrono::Utc::now()).await {
                tracing::warn!(%error, "payment sweep failed; retrying at the next run");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
