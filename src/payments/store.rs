//! Durable state of the payment engine: intents, and consumed MPP challenge ids.
//!
//! Every state change is a compare-and-set (`UPDATE … WHERE id = ? AND state = ?`), and a
//! challenge id is consumed in the same write as the intent's move to `processing`, through
//! a UNIQUE key: exactly once across threads, processes and instances sharing the store.
//!
//! The moves of a confirmation ([`PaymentStore::begin_confirmation`],
//! [`PaymentStore::transition_with`]) take [`Companions`]: the `payment.*` events announcing
//! the move and the messages to the conversation, recorded in the same write when the store
//! can (one transaction, one commit: the move and its announcement are durable together).

use omnibridge_sdk::{ConversationId, Timestamp};

use super::intent::{IntentState, PaymentIntent, TransitionPatch};
use crate::bus::{Appended, NewEvent};
use crate::store::{Conversation, OutboxRecord, StoreError};

/// What an intent's move records in the same write, when the store can: the stamped
/// `payment.*` events announcing it (their conversation touched with them) and the messages
/// queued for the conversation. Nothing of it is written unless the move is.
#[derive(Clone, Debug, Default)]
pub struct Companions {
    /// The conversation the events are on (its `last_event_at` moves with them).
    pub conversation: Option<Conversation>,
    /// Stamped events to append on the bus.
    pub events: Vec<NewEvent>,
    /// Messages to queue in the outbox.
    pub messages: Vec<OutboxRecord>,
}

impl Companions {
    /// Whether there is nothing to record.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.messages.is_empty()
    }
}

/// What became of the [`Companions`] of a move that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// All written in the move's transaction: the events' positions, in order (the messages
    /// are queued). The caller tells the bus and the outbox ([`crate::ingest::Ingest`]).
    Yes(Vec<Appended>),
    /// None written (the store cannot append to the bus, or writing them failed and was
    /// rolled back alone): the caller records them itself, after the move.
    No,
}

/// What [`PaymentStore::begin_confirmation`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BeginOutcome {
    /// The challenge is now consumed and the intent is `processing`: settle it.
    Started(Box<PaymentIntent>),
    /// The challenge id was consumed before (replay, or a concurrent identical submission).
    ChallengeUsed,
    /// The intent is not `requires_confirmation` (paid, settling, canceled, expired, waiting
    /// for approval, rejected).
    NotConfirmable(IntentState),
    /// No such intent.
    UnknownIntent,
}

/// An API `Idempotency-Key` under which an intent is created: a lookup beside the intent's
/// (random) id, so the same key with the same request finds the first intent again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentKey {
    /// Whose key it is (the API key's name and the endpoint).
    pub scope: String,
    /// The `Idempotency-Key` as sent.
    pub key: String,
    /// Fingerprint of the request; the same key with another request is a conflict.
    pub fingerprint: String,
}

/// The daily limits of a guarded API key, checked by [`PaymentStore::insert_intent`] in the
/// same write as the insert (so concurrent creates cannot exceed them together). The key is
/// recorded as the intent's creator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpendCheck {
    /// The API key creating the intent.
    pub key_name: String,
    /// The intent's currency (upper case); only intents in it are summed.
    pub currency: String,
    /// Most the key's intents may sum to since `since`; `None` = no limit.
    pub per_key_limit: Option<i64>,
    /// Most the key's intents in the intent's conversation may sum to since `since`.
    pub per_conversation_limit: Option<i64>,
    /// Start of the window (24 h before now).
    pub since: Timestamp,
}

impl SpendCheck {
    /// The limits set for `intent`, in the order they are checked: the limit's name, its
    /// amount, and the conversation its sum covers (`None`: all of the key's intents).
    pub fn limits<'a>(
        &self,
        intent: &'a PaymentIntent,
    ) -> impl Iterator<Item = (&'static str, i64, Option<&'a str>)> + use<'a> {
        [
            (
                "daily_limit.per_conversation",
                self.per_conversation_limit,
                Some(intent.conversation_id.as_str()),
            ),
            ("daily_limit.per_key", self.per_key_limit, None),
        ]
        .into_iter()
        .filter_map(|(name, limit, conversation)| Some((name, limit?, conversation)))
    }
}

impl SpendRefusal {
    /// The refusal of `amount` under the limit `limit` of `limit_minor` when `used` is spent
    /// already; `None` when it fits.
    pub fn of(limit: &'static str, limit_minor: i64, used: i64, amount: i64) -> Option<Self> {
        (used.saturating_add(amount) > limit_minor).then(|| SpendRefusal {
            limit,
            limit_minor,
            remaining_minor: (limit_minor - used).max(0),
        })
    }
}

/// Intents that count against a daily limit: all but these (never payable any more).
pub const UNCOUNTED_STATES: [IntentState; 4] = [
    IntentState::Canceled,
    IntentState::Rejected,
    IntentState::Expired,
    IntentState::Failed,
];

/// A daily limit the new intent would exceed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpendRefusal {
    /// `daily_limit.per_conversation` or `daily_limit.per_key`.
    pub limit: &'static str,
    /// The limit, minor units.
    pub limit_minor: i64,
    /// What was left under it before this intent, minor units (≥ 0).
    pub remaining_minor: i64,
}

/// What [`PaymentStore::insert_intent`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The intent was stored by this call.
    Created(Box<PaymentIntent>),
    /// The intent (same id, or created before under the same idempotency key), as stored.
    Existing(Box<PaymentIntent>),
    /// Nothing stored: the spend check refused it.
    OverLimit(SpendRefusal),
}

/// Durable state of payment intents.
#[async_trait::async_trait]
pub trait PaymentStore: Send + Sync + 'static {
    /// Inserts `intent` unless one with its id exists, or, with `key`, unless an intent was
    /// created under that key before (recorded in the same write as the insert, so concurrent
    /// creates with one key create once). With `spend`, the key's daily limits are checked in
    /// that same write (the sums of its intents in the currency created since `spend.since`,
    /// not counting [`UNCOUNTED_STATES`]) and the key is recorded as the creator. A key
    /// recorded with another fingerprint is [`StoreError::IdempotencyConflict`].
    async fn insert_intent(
        &self,
        intent: &PaymentIntent,
        key: Option<&IntentKey>,
        spend: Option<&SpendCheck>,
    ) -> Result<InsertOutcome, StoreError>;

    /// One intent.
    async fn intent(&self, id: &str) -> Result<Option<PaymentIntent>, StoreError>;

    /// The intents of a conversation, newest first.
    async fn intents_for(
        &self,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Vec<PaymentIntent>, StoreError>;

    /// Moves the intent from `from` to `to` (setting `patch`'s fields) if it is still in
    /// `from`; `None` if it was not (someone else moved it first).
    async fn transition(
        &self,
        id: &str,
        from: IntentState,
        to: IntentState,
        patch: TransitionPatch,
    ) -> Result<Option<PaymentIntent>, StoreError>;

    /// [`PaymentStore::transition`], recording `companions` in the same write when the store
    /// can ([`Recorded::Yes`]); with `None` (not moved) nothing of them is written.
    async fn transition_with(
        &self,
        id: &str,
        from: IntentState,
        to: IntentState,
        patch: TransitionPatch,
        companions: &Companions,
    ) -> Result<(Option<PaymentIntent>, Recorded), StoreError>;

    /// In one atomic write: if the intent is `requires_confirmation`, consumes
    /// `challenge_id` (kept until `challenge_expires`), moves the intent to `processing`
    /// and, when the store can, records `companions` ([`Recorded::Yes`]; only with
    /// [`BeginOutcome::Started`]).
    async fn begin_confirmation(
        &self,
        intent_id: &str,
        challenge_id: &str,
        challenge_expires: Timestamp,
        companions: &Companions,
    ) -> Result<(BeginOutcome, Recorded), StoreError>;

    /// Adds `amount` to the refunded total if it is still `refunded_before` and the intent
    /// is paid; the state becomes `refunded` or `partially_refunded`. `None` if it changed.
    async fn record_refund(
        &self,
        id: &str,
        refunded_before: i64,
        amount: i64,
    ) -> Result<Option<PaymentIntent>, StoreError>;

    /// The intent settled with `reference` (the method's payment id, `pi_…`).
    async fn intent_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<PaymentIntent>, StoreError>;

    /// Marks the intent disputed; `true` only for the call that marked it (so a duplicated
    /// dispute webhook is announced once).
    async fn mark_disputed(&self, id: &str) -> Result<bool, StoreError>;

    /// Ids of intents still `requires_confirmation` or `requires_approval` whose expiry is at
    /// or before `now`, oldest expiry first, at most `limit`.
    async fn overdue_intents(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// Intents `processing` since at or before `updated_before` (their last move), oldest
    /// first, at most `limit`.
    async fn processing_intents(
        &self,
        updated_before: Timestamp,
        limit: usize,
    ) -> Result<Vec<PaymentIntent>, StoreError>;
}
