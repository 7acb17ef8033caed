//! Dispatches due outbox records to their channels. One step ([`OutboxWorker::try_dispatch_next`])
//! is exposed so tests drain the outbox instead of sleeping; [`OutboxWorker::run`] loops it.

use std::sync::Arc;
use std::time::Duration;

use omnibridge_sdk::{
    ChannelError, ChannelKind, Content, Delivery, EventBody, InboundEvent, Message,
    OutboundMessage, Participant, Role,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::send::{self, Sent};
use super::{Outbox, RetryPolicy};
use crate::channels::window::{self, Window};
use crate::channels::{ChannelHandle, ChannelRegistry, options, shape};
use crate::ingest::{Ingest, IngestError, SentRecord};
use crate::metrics::Metrics;
use crate::store::{OutboxOutcome, OutboxRecord, Store, StoreError};

/// How long a leased record is ours before another worker may take it.
const LEASE: Duration = Duration::from_secs(60);
/// Records leased per step.
const BATCH: usize = 32;

/// What one dispatch step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DispatchOutcome {
    /// Records the channel accepted.
    pub sent: usize,
    /// Records scheduled for another try.
    pub retried: usize,
    /// Records given up on.
    pub dead: usize,
}

impl DispatchOutcome {
    /// Whether the step found nothing due.
    pub fn is_idle(&self) -> bool {
        *self == Self::default()
    }
}

/// Why a dispatch step failed as a whole (the backends, not a channel).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Appending an event failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// Sends outbox records through their channels.
#[derive(Clone)]
pub struct OutboxWorker {
    store: Arc<dyn Store>,
    ingest: Ingest,
    channels: Arc<ChannelRegistry>,
    metrics: Arc<Metrics>,
    policy: RetryPolicy,
    media: Option<Arc<dyn crate::media::MediaStore>>,
}

impl OutboxWorker {
    /// Loads outbound attachments from `media` at send time.
    pub fn with_media(mut self, media: Arc<dyn crate::media::MediaStore>) -> Self {
        self.media = Some(media);
        self
    }

    /// A worker over these parts.
    pub fn new(
        store: Arc<dyn Store>,
        ingest: Ingest,
        channels: Arc<ChannelRegistry>,
        metrics: Arc<Metrics>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            store,
            ingest,
            channels,
            metrics,
            policy,
            media: None,
        }
    }

    /// Leases what is due and dispatches it: the records of one conversation one after the
    /// other (oldest first, so its messages keep their order), different conversations at the
    /// same time (their writes then share group commits). The next lease waits for the whole
    /// step, so order also holds across steps.
    pub async fn try_dispatch_next(&self) -> Result<DispatchOutcome, DispatchError> {
        let due = self
            .store
            .lease_due_outbound(chrono::Utc::now(), LEASE, BATCH)
            .await?;
        let lanes = by_conversation(due)
            .into_iter()
            .map(|records| self.dispatch_in_order(records));
        let mut outcome = DispatchOutcome::default();
        let mut first_error = None;
        for lane in futures_util::future::join_all(lanes).await {
            let (done, error) = lane;
            outcome.sent += done.sent;
            outcome.retried += done.retried;
            outcome.dead += done.dead;
            if first_error.is_none() {
                first_error = error;
            }
        }
        match first_error {
            // Records left unfinished stay leased and are tried again when the lease ends.
            Some(error) => Err(error),
            None => Ok(outcome),
        }
    }

    /// Dispatches one conversation's records in order; stops at the first backend error.
    async fn dispatch_in_order(
        &self,
        records: Vec<OutboxRecord>,
    ) -> (DispatchOutcome, Option<DispatchError>) {
        let mut outcome = DispatchOutcome::default();
        for record in records {
            match self.dispatch(record).await {
                Ok(OutboxOutcome::Sent) => outcome.sent += 1,
                Ok(OutboxOutcome::Retry { .. }) => outcome.retried += 1,
                Ok(OutboxOutcome::Dead { .. }) => outcome.dead += 1,
                Err(error) => return (outcome, Some(error)),
            }
        }
        (outcome, None)
    }

    /// Dispatches until `stop`, waking on new records or every 200 ms for retries.
    pub async fn run(self, outbox: Outbox, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        while !stop.is_cancelled() {
            let idle = match self.try_dispatch_next().await {
                Ok(outcome) => {
                    backoff = Duration::from_millis(200);
                    outcome.is_idle()
                }
                Err(error) => {
                    tracing::warn!(%error, "Outbox step failed; retrying.");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    true
                }
            };
            if idle {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = outbox.woken() => {}
                    () = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }

    async fn dispatch(&self, record: OutboxRecord) -> Result<OutboxOutcome, DispatchError> {
        let span = tracing::info_span!(
            "outbound",
            outbound_id = %record.id,
            conversation_id = %record.conversation_id,
            channel = tracing::field::Empty,
            attempt = record.attempts + 1,
        );
        async move {
            let Some(conversation) = self.store.conversation(&record.conversation_id).await? else {
                return self
                    .give_up(
                        &record,
                        None,
                        "unknown_conversation",
                        "the conversation no longer exists",
                    )
                    .await;
            };
            let target = (
                conversation.channel_id.clone(),
                conversation.channel.clone(),
            );
            let Some(handle) = self.channels.get(&conversation.channel_id).cloned() else {
                return self
                    .give_up(
                        &record,
                        Some(&target),
                        "channel_not_configured",
                        "the conversation's channel is not configured",
                    )
                    .await;
            };
            tracing::Span::current().record("channel", handle.kind.as_str());
            let message: OutboundMessage = match serde_json::from_value(record.message.clone()) {
                Ok(mut message) => {
                    if let Err((code, reason)) = self.load_attachments(&mut message).await {
                        return self.give_up(&record, Some(&target), code, &reason).await;
                    }
                    message
                }
                Err(error) => {
                    return self
                        .give_up(&record, Some(&target), "corrupt_record", &error.to_string())
                        .await;
                }
            };
            let now = chrono::Utc::now();
            let sent = match window::check(
                handle.channel.as_ref(),
                conversation.last_inbound_at,
                &message,
                now,
            ) {
                Window::Open => {
                    if shape::numbers_buttons(&message.buttons, handle.channel.capabilities()) {
                        // Before the send: the customer's "2" may come back at once.
                        options::remember(
                            self.store.as_ref(),
                            &handle.id,
                            &message.conversation.thread,
                            &message.buttons,
                        )
                        .await?;
                    }
                    send::free_form(&handle, &message, &self.metrics).await
                }
                Window::Template(template) => {
                    tracing::info!(
                        template,
                        "Reply window closed; sending the stand-in template."
                    );
                    send::as_template(&handle, &message, &self.metrics).await
                }
                Window::Closed(reason) => {
                    return self
                        .give_up(&record, Some(&target), Window::CODE, &reason)
                        .await;
                }
            };
            match sent {
                Ok(sent) => self.succeed(&record, &handle, &message, sent).await,
                Err(error) => self.fail(&record, &target, error).await,
            }
        }
        .instrument(span)
        .await
    }

    /// Fills in the attachments' bytes from the media store; an attachment that is gone is
    /// a permanent failure.
    async fn load_attachments(
        &self,
        message: &mut OutboundMessage,
    ) -> Result<(), (&'static str, String)> {
        for attachment in &mut message.attachments {
            let Some(media) = &self.media else {
                return Err(("media_unavailable", "no media store is configured".into()));
            };
            match media.get(&attachment.media_id).await {
                Ok(Some((_, bytes))) => attachment.bytes = Some(bytes),
                Ok(None) => {
                    return Err((
                        "media_gone",
                        format!("the attachment {} is no longer stored", attachment.media_id),
                    ));
                }
                Err(error) => return Err(("media_unavailable", error.to_string())),
            }
        }
        Ok(())
    }

    async fn succeed(
        &self,
        record: &OutboxRecord,
        handle: &ChannelHandle,
        message: &OutboundMessage,
        sent: Sent,
    ) -> Result<OutboxOutcome, DispatchError> {
        let receipt = sent.receipt;
        let record_sent = SentRecord {
            id: record.id.clone(),
            channel_id: handle.id.clone(),
            provider_ids: sent.provider_ids,
        };
        let mut sent = Message::new(Content::text(message.text.clone()));
        sent.outbound_id = Some(record.id.clone());
        sent.buttons.clone_from(&message.buttons);
        sent.subject.clone_from(&message.subject);
        let mut sent_event =
            InboundEvent::new(message.conversation.clone(), EventBody::MessageSent(sent))
                .with_sender(Participant::with_role(Role::Agent))
                .with_dedup_key(format!("sent:{}", record.id));
        sent_event
            .provider_message_id
            .clone_from(&receipt.provider_message_id);
        let delivery = InboundEvent::delivery(
            message.conversation.clone(),
            Delivery::new(receipt.status).for_outbound(record.id.clone()),
        )
        .with_dedup_key(format!("delivery:{}:{:?}", record.id, receipt.status));
        self.ingest
            .accept_sent(
                &handle.id,
                &handle.kind,
                vec![sent_event, delivery],
                record_sent,
            )
            .await?;
        tracing::info!("Outbound message sent.");
        Ok(OutboxOutcome::Sent)
    }

    async fn fail(
        &self,
        record: &OutboxRecord,
        target: &(String, ChannelKind),
        error: ChannelError,
    ) -> Result<OutboxOutcome, DispatchError> {
        let attempts = record.attempts + 1;
        let delay = if error.is_retryable() {
            self.policy.next_delay(attempts, error.retry_after())
        } else {
            None
        };
        let Some(delay) = delay else {
            return self
                .give_up(record, Some(target), error.code(), &error.to_string())
                .await;
        };
        self.metrics.count_retry("outbound");
        let at = chrono::Utc::now()
            + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
        tracing::warn!(
            code = error.code(),
            delay_ms = delay.as_millis() as u64,
            "Send failed; will retry."
        );
        let outcome = OutboxOutcome::Retry {
            at,
            error: error.to_string(),
        };
        self.store
            .finish_outbound(&record.id, outcome.clone())
            .await?;
        Ok(outcome)
    }

    async fn give_up(
        &self,
        record: &OutboxRecord,
        target: Option<&(String, ChannelKind)>,
        code: &str,
        reason: &str,
    ) -> Result<OutboxOutcome, DispatchError> {
        self.metrics.count_dead_letter("outbound");
        tracing::warn!(code, "Outbound message dead-lettered.");
        let message = serde_json::from_value::<OutboundMessage>(record.message.clone());
        if let (Some((channel_id, kind)), Ok(message)) = (target, message) {
            let failed = InboundEvent::delivery(
                message.conversation.clone(),
                Delivery::failed(code, reason).for_outbound(record.id.clone()),
            )
            .with_dedup_key(format!("delivery:{}:failed", record.id));
            self.ingest.emit(channel_id, kind, failed).await?;
        }
        let outcome = OutboxOutcome::Dead {
            error: format!("{code}: {reason}"),
        };
        self.store
            .finish_outbound(&record.id, outcome.clone())
            .await?;
        Ok(outcome)
    }
}

/// Splits leased records (oldest first) into one lane per conversation, each keeping the
/// records' order; lanes come in the order of their first record.
fn by_conversation(records: Vec<OutboxRecord>) -> Vec<Vec<OutboxRecord>> {
    let mut lanes: Vec<Vec<OutboxRecord>> = Vec::new();
    for record in records {
        match lanes.iter_mut().find(|lane| {
            lane.first().map(|first| &first.conversation_id) == Some(&record.conversation_id)
        }) {
            Some(lane) => lane.push(record),
            None => lanes.push(vec![record]),
        }
    }
    lanes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OutboxState;
    use omnibridge_sdk::{ConversationId, OutboundId};

    fn record(id: &str, conversation: &str) -> OutboxRecord {
        OutboxRecord {
            id: OutboundId::new(id),
            conversation_id: ConversationId::new(conversation),
            message: serde_json::Value::Null,
            attempts: 0,
            state: OutboxState::Pending,
            last_error: None,
            created_at: chrono::Utc::now(),
        }
    }

    fn ids(lane: &[OutboxRecord]) -> Vec<&str> {
        lane.iter().map(|record| record.id.as_str()).collect()
    }

    #[test]
    fn each_conversation_gets_one_lane_in_the_records_order() {
        let lanes = by_conversation(vec![
            record("1", "a"),
            record("2", "b"),
            record("3", "a"),
            record("4", "c"),
            record("5", "b"),
            record("6", "a"),
        ]);
        let lanes: Vec<Vec<&str>> = lanes.iter().map(|lane| ids(lane)).collect();
        assert_eq!(lanes, vec![vec!["1", "3", "6"], vec!["2", "5"], vec!["4"]]);
    }

    #[test]
    fn nothing_due_is_no_lane() {
        assert!(by_conversation(Vec::new()).is_empty());
    }
}
