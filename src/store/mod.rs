//! Durable state other than the event log: conversations, the outbox, API idempotency
//! records and dead letters. The embedded backend is [`sqlite::SqliteStore`], sharing the
//! bus's SQLite file and writer; [`postgres::PgStore`] keeps the state of several instances
//! in one PostgreSQL database (`storage.state`).

use std::time::Duration;

use omnibridge_sdk::{
    ChannelKind, ConversationId, ConversationRef, DeliveryStatus, OutboundId, Participant,
    ProviderMessageId, Role, Timestamp,
};
use serde::{Deserialize, Serialize};

pub mod postgres;
pub mod sqlite;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or refused the operation.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// An idempotency key was reused with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyConflict,
}

/// How far a conversation's `last_event_at` or `last_inbound_at`, or a participant's
/// `last_seen_at`, must move forward before its row is written again, in nanoseconds (1 s):
/// activity times are kept to the second. A conversation active many times a second is
/// rewritten once a second instead of at every message; its row, its place in the recency
/// index and its participants' rows were a third of the pages each ingest commit wrote.
/// Creation, a new participant and a changed display name are always written at once.
pub const ACTIVITY_RESOLUTION_NANOS: i64 = 1_000_000_000;

/// A conversation as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conversation {
    /// The bridge's id.
    #[schema(value_type = String)]
    pub id: ConversationId,
    /// The configured channel id it lives on (`[[channels]] id`).
    pub channel_id: String,
    /// The kind of channel.
    #[schema(value_type = String)]
    pub channel: ChannelKind,
    /// Account and thread on the channel.
    #[schema(value_type = Object)]
    pub conversation: ConversationRef,
    /// When the bridge first saw it.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When anything last happened on it (to the second: [`ACTIVITY_RESOLUTION_NANOS`]).
    #[schema(value_type = String, format = DateTime)]
    pub last_event_at: Timestamp,
    /// When the customer last wrote (for reply windows; to the second).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_inbound_at: Option<Timestamp>,
}

/// Someone who took part in a conversation, as the channel identified them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ParticipantRecord {
    /// The channel's user id.
    pub id: String,
    /// The latest display name the channel gave.
    pub display_name: Option<String>,
    /// Their side of the conversation.
    #[schema(value_type = String)]
    pub role: Role,
    /// When they first appeared.
    #[schema(value_type = String, format = DateTime)]
    pub first_seen_at: Timestamp,
    /// When they last appeared.
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: Timestamp,
}

/// An outbox record: one message the business asked to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The outbound id (also the provider idempotency key).
    pub id: OutboundId,
    /// Target conversation.
    pub conversation_id: ConversationId,
    /// The fitted message as JSON (`omnibridge_sdk::OutboundMessage`).
    pub message: serde_json::Value,
    /// Tries so far.
    pub attempts: u32,
    /// Current state.
    pub state: OutboxState,
    /// Last error, secret-free.
    pub last_error: Option<String>,
    /// When it was accepted.
    pub created_at: Timestamp,
}

/// Where an outbox record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for its (next) try.
    Pending,
    /// The channel accepted it.
    Sent,
    /// Gave up; a failed delivery event was emitted.
    Dead,
}

/// How a dispatch attempt ended, as recorded by [`Store::finish_outbound`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboxOutcome {
    /// Accepted by the channel.
    Sent,
    /// Try again no earlier than `at`.
    Retry {
        /// Earliest next try.
        at: Timestamp,
        /// Why this try failed.
        error: String,
    },
    /// Permanently failed.
    Dead {
        /// Why.
        error: String,
    },
}

/// The stored answer to an API request made with an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotentResponse {
    /// Fingerprint of the request (method, path, body hash); a different request with the
    /// same key is a conflict.
    pub fingerprint: String,
    /// HTTP status of the first answer.
    pub status: u16,
    /// Body of the first answer.
    pub body: serde_json::Value,
}

/// What one batch of inbound events says about one conversation: it exists, it was active at
/// `at`, the customer last wrote at `inbound_at`, and these people took part.
#[derive(Clone, Debug)]
pub struct ConversationTouch {
    /// The bridge's id of the conversation.
    pub id: ConversationId,
    /// The configured channel id it lives on.
    pub channel_id: String,
    /// The kind of channel.
    pub channel: ChannelKind,
    /// The provider's coordinates of the conversation.
    pub conversation: ConversationRef,
    /// When the batch was accepted (`last_event_at` moves forward to it).
    pub at: Timestamp,
    /// The newest customer message or action time in the batch, if any.
    pub inbound_at: Option<Timestamp>,
    /// The senders seen in the batch (those with a channel user id are recorded).
    pub participants: Vec<Participant>,
}

/// Durable state other than the event log.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the conversation if new and moves its `last_event_at` forward to `at`, and its
    /// `last_inbound_at` forward to `inbound_at` when given (the customer's message time,
    /// which reply windows count from); never backwards.
    async fn touch_conversation(
        &self,
        id: &ConversationId,
        channel_id: &str,
        channel: &ChannelKind,
        conversation: &ConversationRef,
        at: Timestamp,
        inbound_at: Option<Timestamp>,
    ) -> Result<(), StoreError>;

    /// Records a batch's conversations: for each, what
    /// [`touch_conversation`](Store::touch_conversation) and
    /// [`touch_participants`](Store::touch_participants) do, all in one write where the store
    /// can (the ingest path: one commit per batch, not one per conversation).
    async fn touch_conversations(&self, touches: &[ConversationTouch]) -> Result<(), StoreError> {
        for touch in touches {
            self.touch_conversation(
                &touch.id,
                &touch.channel_id,
                &touch.channel,
                &touch.conversation,
                touch.at,
                touch.inbound_at,
            )
            .await?;
            if !touch.participants.is_empty() {
                self.touch_participants(&touch.id, &touch.participants, touch.at)
                    .await?;
            }
        }
        Ok(())
    }

    /// Records that these participants (those with a channel user id) took part in the
    /// conversation at `at`; keeps the newest display name and never moves times backwards.
    async fn touch_participants(
        &self,
        conversation: &ConversationId,
        participants: &[Participant],
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The participants of a conversation, in order of first appearance.
    async fn participants(
        &self,
        conversation: &ConversationId,
    ) -> Result<Vec<ParticipantRecord>, StoreError>;

    /// One conversation.
    async fn conversation(&self, id: &ConversationId) -> Result<Option<Conversation>, StoreError>;

    /// Conversations, newest activity first; `before` is the `(last_event_at, id)` cursor of
    /// the last item of the previous page.
    async fn list_conversations(
        &self,
        before: Option<(Timestamp, ConversationId)>,
        limit: usize,
    ) -> Result<Vec<Conversation>, StoreError>;

    /// Stores a new outbox record, due now.
    async fn enqueue_outbound(&self, record: &OutboxRecord) -> Result<(), StoreError>;

    /// Leases up to `limit` pending records due at `now` for `lease`; a record leased by a
    /// worker that died becomes due again when the lease runs out.
    async fn lease_due_outbound(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError>;

    /// Records the outcome of a try (counts the attempt, releases the lease).
    async fn finish_outbound(
        &self,
        id: &OutboundId,
        outcome: OutboxOutcome,
    ) -> Result<(), StoreError>;

    /// One outbox record.
    async fn outbound(&self, id: &OutboundId) -> Result<Option<OutboxRecord>, StoreError>;

    /// Records still pending.
    async fn outbox_depth(&self) -> Result<u64, StoreError>;

    /// The stored answer for `key` in `scope` (e.g. the API key's name), if any.
    async fn idempotent_response(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError>;

    /// Stores the answer for `key`; if one is already stored, returns it instead (first
    /// writer wins, so concurrent retries agree).
    async fn save_idempotent_response(
        &self,
        scope: &str,
        key: &str,
        response: &IdempotentResponse,
    ) -> Result<IdempotentResponse, StoreError>;

    /// Keeps something that could not be delivered (a business webhook event), for operators.
    async fn record_dead_letter(
        &self,
        kind: &str,
        reference: &str,
        payload: &serde_json::Value,
        error: &str,
    ) -> Result<(), StoreError>;

    /// Dead letters of `kind`, for the API and tests.
    async fn dead_letters(&self, kind: &str) -> Result<Vec<serde_json::Value>, StoreError>;

    /// Records that the channel `channel_id` accepted `outbound` under these provider message
    /// ids, so the provider's later statuses attach to it.
    async fn link_provider_messages(
        &self,
        channel_id: &str,
        outbound: &OutboundId,
        provider_ids: &[ProviderMessageId],
    ) -> Result<(), StoreError>;

    /// The outbound message the channel `channel_id` knows as `provider_id`, if we sent it.
    async fn outbound_for_provider_message(
        &self,
        channel_id: &str,
        provider_id: &ProviderMessageId,
    ) -> Result<Option<OutboundId>, StoreError>;

    /// Moves the delivery status of `outbound` to `status` unless it already reached a higher
    /// one (`queued < sent < delivered < read < failed`; `failed` is final). Returns whether
    /// `status` is now the current one (an equal status counts, so a retried append is
    /// still made and then de-duplicated by the bus).
    async fn advance_delivery(
        &self,
        outbound: &OutboundId,
        status: DeliveryStatus,
    ) -> Result<bool, StoreError>;

    /// The highest delivery status `outbound` reached, if any was recorded.
    async fn delivery_status(
        &self,
        outbound: &OutboundId,
    ) -> Result<Option<DeliveryStatus>, StoreError>;

    /// Takes or renews the lease `name` for `holder` until `ttl` from now, unless another
    /// holder's lease is still running; answers whether `holder` holds it now. Instances
    /// sharing the store use it so that one of them at a time runs a job (a pull channel).
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease `name` up if `holder` holds it (another instance may take it at once).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// A channel's state value under `key` (see [`omnibridge_sdk::ChannelState`]).
    async fn channel_state(
        &self,
        channel_id: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// Sets a channel's state value; `None` removes it.
    async fn set_channel_state(
        &self,
        channel_id: &str,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), StoreError>;

    /// Removes a channel's state values whose key starts with `prefix` and that were last
    /// written before `before`; returns how many.
    async fn prune_channel_state(
        &self,
        channel_id: &str,
        prefix: &str,
        before: Timestamp,
    ) -> Result<u64, StoreError>;

    /// Sets several of a channel's state values in one write.
    async fn set_channel_states(
        &self,
        channel_id: &str,
        entries: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError>;

    /// Retention: removes finished (sent or dead) outbox records, idempotency records and
    /// channel state entries older than their cut-offs in `before`; returns how many of
    /// each. Channel state keys ending in [`KEPT_STATE_SUFFIX`] are kept.
    async fn prune(&self, before: PruneBefore) -> Result<Pruned, StoreError>;

    /// Gives the space freed by deletes back to the file system, in bounded steps.
    async fn reclaim_space(&self) -> Result<(), StoreError>;

    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Channel state keys ending in this (mailbox cursors such as email's `imap:cursor`) are
/// never removed by retention: losing one would make the channel re-read its provider.
pub const KEPT_STATE_SUFFIX: &str = ":cursor";

/// The cut-offs of [`Store::prune`]: a record older than its cut-off is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneBefore {
    /// Outbox records that are sent or dead and were created before this.
    pub outbox: Timestamp,
    /// API idempotency records saved before this.
    pub idempotency: Timestamp,
    /// Channel state entries last written before this.
    pub channel_state: Timestamp,
}

/// What one [`Store::prune`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Finished outbox records.
    pub outbox: u64,
    /// Idempotency records.
    pub idempotency: u64,
    /// Channel state entries.
    pub channel_state: u64,
}
