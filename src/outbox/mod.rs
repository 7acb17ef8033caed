//! The outbox: every message the business sends is first stored here, then dispatched by the
//! [`worker::OutboxWorker`] with retry, backoff and dead-lettering. Nothing is dropped
//! silently: each record ends in a `message.sent` + `delivery.updated` or a failed
//! `delivery.updated` event.

use std::sync::Arc;

use omnibridge_sdk::{ConversationId, OutboundId, OutboundMessage};
use tokio::sync::Notify;

use crate::store::{OutboxRecord, OutboxState, Store, StoreError};

pub mod retry;
mod send;
pub mod worker;

pub use retry::RetryPolicy;
pub use worker::{DispatchOutcome, OutboxWorker};

/// Queues outbound messages and wakes the worker.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
}

impl Outbox {
    /// An outbox over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            wake: Arc::new(Notify::new()),
        }
    }

    /// A fresh outbound id.
    pub fn new_id() -> OutboundId {
        OutboundId::new(format!("ob_{}", ulid::Ulid::new()))
    }

    /// Stores `message` for `conversation` (durably) and wakes the worker.
    pub async fn enqueue(
        &self,
        conversation: &ConversationId,
        message: &OutboundMessage,
    ) -> Result<OutboxRecord, StoreError> {
        let record = Self::record(conversation, message)?;
        self.store.enqueue_outbound(&record).await?;
        self.wake.notify_one();
        Ok(record)
    }

    /// The pending record of `message` for `conversation`, for a caller that stores it
    /// itself (in the same write as something else), then calls [`Outbox::wake`].
    pub fn record(
        conversation: &ConversationId,
        message: &OutboundMessage,
    ) -> Result<OutboxRecord, StoreError> {
        Ok(OutboxRecord {
            id: message.id.clone(),
            conversation_id: conversation.clone(),
            message: serde_json::to_value(message)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?,
            attempts: 0,
            state: OutboxState::Pending,
            last_error: None,
            created_at: chrono::Utc::now(),
        })
    }

    /// Stores a record made by [`Outbox::record`] (durably) and wakes the worker.
    pub async fn enqueue_record(&self, record: &OutboxRecord) -> Result<(), StoreError> {
        self.store.enqueue_outbound(record).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Wakes the worker: records were stored by another path.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when something was enqueued since the last wake-up.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}
