//! The payment engine: creates intents, moves them through their states (always a
//! compare-and-set in the store), and tells the conversation and the bus about every move.

use std::sync::Arc;

use omnibridge_sdk::{ConversationId, EventBody, Timestamp};

pub(super) use super::events::update;

use super::announce::{Announcement, Message, after_move, payload};
use super::error::PaymentError;
use super::guardrails::{self, GuardrailRefusal, SpendGuard};
use super::intent::{IntentState, PaymentIntent, TransitionPatch};
use super::method::{Charge, PaymentMethod, Settlement};
use super::notify::Notifier;
use super::outcome::PendingSettlements;
use super::store::{BeginOutcome, Companions, InsertOutcome, PaymentStore};
use crate::config::ReconcileSettings;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::store::Store;

/// A new intent, validated by [`PaymentEngine::create`].
#[derive(Clone, Debug)]
pub struct NewIntent {
    /// The id to create it under (fresh: [`PaymentIntent::new_id`]).
    pub id: String,
    /// The API `Idempotency-Key` it is created under, if any.
    pub key: Option<super::store::IntentKey>,
    /// The conversation to offer it in.
    pub conversation_id: ConversationId,
    /// Minor units, > 0.
    pub amount: i64,
    /// ISO 4217 code (any case).
    pub currency: String,
    /// What the customer pays for.
    pub description: String,
    /// The business's reference.
    pub external_id: Option<String>,
    /// Seconds until it can no longer be paid.
    pub expires_in_secs: u64,
    /// The business's own data.
    pub metadata: Option<serde_json::Value>,
    /// Locale of the messages (default: the templates' default locale).
    pub locale: Option<String>,
    /// The guardrails of the API key creating it; `None` = unguarded (a key without
    /// guardrails, internal callers).
    pub guard: Option<SpendGuard>,
}

/// Everything the engine works with. Cheap to clone.
#[derive(Clone)]
pub struct PaymentEngine {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for PaymentEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let methods: Vec<&str> = self.inner.methods.iter().map(|m| m.name()).collect();
        f.debug_struct("PaymentEngine")
            .field("methods", &methods)
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    pub(super) store: Arc<dyn PaymentStore>,
    pub(super) conversations: Arc<dyn Store>,
    pub(super) ingest: Ingest,
    pub(super) notifier: Notifier,
    pub(super) methods: Vec<Arc<dyn PaymentMethod>>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) reconcile: ReconcileSettings,
    pub(super) pending: PendingSettlements,
    pub(super) conversations_seen: super::announce::ConversationCache,
}

impl PaymentEngine {
    /// An engine over its store, the bus, the conversation's messages and the enabled
    /// settlement methods (in server preference order), reconciling as `reconcile` says.
    pub fn new(
        store: Arc<dyn PaymentStore>,
        conversations: Arc<dyn Store>,
        ingest: Ingest,
        notifier: Notifier,
        methods: Vec<Arc<dyn PaymentMethod>>,
        metrics: Arc<Metrics>,
        reconcile: ReconcileSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                conversations,
                ingest,
                notifier,
                methods,
                metrics,
                reconcile,
                pending: PendingSettlements::default(),
                conversations_seen: Default::default(),
            }),
        }
    }

    /// How settlements in doubt and stale intents are reconciled.
    pub fn reconcile_settings(&self) -> &ReconcileSettings {
        &self.inner.reconcile
    }

    /// The enabled methods, in server preference order.
    pub fn methods(&self) -> &[Arc<dyn PaymentMethod>] {
        &self.inner.methods
    }

    /// The enabled method called `name`.
    pub fn method(&self, name: &str) -> Option<&Arc<dyn PaymentMethod>> {
        self.inner.methods.iter().find(|m| m.name() == name)
    }

    /// The messages side (templates to the conversation).
    pub fn notifier(&self) -> &Notifier {
        &self.inner.notifier
    }

    /// The MPP pay URL of an intent.
    pub fn pay_url(&self, intent_id: &str) -> String {
        self.inner.notifier.pay_url(intent_id)
    }

    /// Metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Creates the intent (once per id and per idempotency key: a second call returns the
    /// first intent and `false`), appends `payment.requested` and sends `payment_request`.
    /// With a guard, the key's guardrails apply: a refusal is [`PaymentError::Guardrail`],
    /// and an intent above `approval_above` is stored `requires_approval`, announced as
    /// `payment.approval_requested`, and nothing is sent until [`PaymentEngine::approve`].
    pub async fn create(&self, new: NewIntent) -> Result<(PaymentIntent, bool), PaymentError> {
        let now = chrono::Utc::now();
        let key = new.key.clone();
        let guard = new.guard.clone();
        let mut intent = super::validate::intent(new, now, self.inner.notifier.default_locale())?;
        let spend = match &guard {
            Some(guard) => {
                guardrails::check_intent(guard, &intent)?;
                if guardrails::needs_approval(guard, &intent) {
                    intent.state = IntentState::RequiresApproval;
                }
                Some(guardrails::spend_check(guard, &intent, now))
            }
            None => None,
        };
        if self
            .inner
            .conversations
            .conversation(&intent.conversation_id)
            .await?
            .is_none()
        {
            return Err(PaymentError::UnknownConversation(
                intent.conversation_id.to_string(),
            ));
        }
        let outcome = self
            .inner
            .store
            .insert_intent(&intent, key.as_ref(), spend.as_ref())
            .await?;
        let intent = match outcome {
            InsertOutcome::Existing(intent) => return Ok((*intent, false)),
            InsertOutcome::OverLimit(refusal) => {
                return Err(PaymentError::Guardrail(GuardrailRefusal {
                    limit: refusal.limit,
                    currency: intent.currency,
                    limit_minor: Some(refusal.limit_minor),
                    remaining_minor: Some(refusal.remaining_minor),
                    requested_minor: intent.amount,
                }));
            }
            InsertOutcome::Created(intent) => *intent,
        };
        if intent.state == IntentState::RequiresApproval {
            self.announce(&intent, EventBody::PaymentApprovalRequested, None)
                .await;
        } else {
            self.offer(&intent).await;
        }
        Ok((intent, true))
    }

    /// Offers a new (or newly approved) intent: `payment.requested` and the
    /// `payment_request` message.
    pub(super) async fn offer(&self, intent: &PaymentIntent) {
        self.announce(intent, EventBody::PaymentRequested, None)
            .await;
        self.inner.notifier.payment_request(intent).await;
    }

    /// One intent; an unpaid intent past its expiry is moved to `expired` first.
    pub async fn get(&self, id: &str) -> Result<PaymentIntent, PaymentError> {
        let intent = self
            .inner
            .store
            .intent(id)
            .await?
            .ok_or_else(|| PaymentError::UnknownIntent(id.to_owned()))?;
        if intent.state.is_open() && intent.is_expired_at(chrono::Utc::now()) {
            return match self.expire(&intent).await? {
                Some(expired) => Ok(expired),
                None => Box::pin(self.get(id)).await,
            };
        }
        Ok(intent)
    }

    /// `requires_confirmation` or `requires_approval` (the state `intent` is in) `→ expired`,
    /// announced as `payment.expired`; `None` if the intent moved meanwhile.
    pub(super) async fn expire(
        &self,
        intent: &PaymentIntent,
    ) -> Result<Option<PaymentIntent>, PaymentError> {
        let moved = self
            .inner
            .store
            .transition(
                &intent.id,
                intent.state,
                IntentState::Expired,
                TransitionPatch::default(),
            )
            .await?;
        if let Some(expired) = &moved {
            self.announce(expired, EventBody::PaymentExpired, None)
                .await;
        }
        Ok(moved)
    }

    /// The intents of a conversation, newest first.
    pub async fn list(
        &self,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Vec<PaymentIntent>, PaymentError> {
        Ok(self.inner.store.intents_for(conversation, limit).await?)
    }

    /// Cancels an unpaid intent (offered, or waiting for approval): a later credential never
    /// pays it.
    pub async fn cancel(&self, id: &str) -> Result<PaymentIntent, PaymentError> {
        let mut intent = self.get(id).await?;
        // An approval may move it between the read and the compare-and-set: read again once.
        for _ in 0..2 {
            if !intent.state.is_open() {
                break;
            }
            let canceled = self
                .inner
                .store
                .transition(
                    id,
                    intent.state,
                    IntentState::Canceled,
                    TransitionPatch::default(),
                )
                .await?;
            if let Some(canceled) = canceled {
                self.announce(&canceled, EventBody::PaymentCanceled, Some("canceled"))
                    .await;
                return Ok(canceled);
            }
            intent = self.get(id).await?;
        }
        Err(PaymentError::WrongState(intent.state))
    }

    /// The charge a challenge for `intent` is issued for.
    pub fn charge(intent: &PaymentIntent) -> Result<Charge, PaymentError> {
        let amount = intent.money().map_err(|error| PaymentError::Invalid {
            field: "currency",
            reason: error.to_string(),
        })?;
        Ok(Charge {
            intent_id: intent.id.clone(),
            conversation_id: intent.conversation_id.to_string(),
            amount,
            description: intent.description.clone(),
            external_id: intent.external_id.clone(),
        })
    }

    /// Consumes `challenge_id` and moves `intent` (as read) to `processing`, atomically;
    /// `payment.confirmation_submitted` is recorded in the same write when it did (see
    /// [`super::announce`]).
    pub async fn begin(
        &self,
        intent: &PaymentIntent,
        challenge_id: &str,
        challenge_expires: Timestamp,
    ) -> Result<BeginOutcome, PaymentError> {
        let after = after_move(intent, IntentState::Processing, &TransitionPatch::default());
        let announcement = Announcement {
            event: EventBody::PaymentConfirmationSubmitted(payload(
                &after,
                after.state.as_str(),
                None,
            )),
            message: None,
        };
        let prepared = self.prepare(&after, announcement).await;
        let (outcome, recorded) = self
            .inner
            .store
            .begin_confirmation(
                &intent.id,
                challenge_id,
                challenge_expires,
                prepared.companions(),
            )
            .await?;
        if matches!(outcome, BeginOutcome::Started(_)) {
            self.finish(&intent.id, prepared, recorded).await;
        }
        Ok(outcome)
    }

    /// Records a settlement: `processing → succeeded`, with `payment.succeeded` and the
    /// receipt message in the same write where the store can (see [`super::announce`]).
    pub async fn succeeded(
        &self,
        intent: &PaymentIntent,
        method: &str,
        settlement: &Settlement,
    ) -> Result<PaymentIntent, PaymentError> {
        let patch = TransitionPatch {
            method: Some(method.to_owned()),
            reference: Some(settlement.reference.clone()),
            settled_at: Some(chrono::Utc::now()),
        };
        let after = after_move(intent, IntentState::Succeeded, &patch);
        let announcement = Announcement {
            event: EventBody::PaymentSucceeded(payload(&after, after.state.as_str(), None)),
            message: Some(Message::Receipt),
        };
        let prepared = self.prepare(&after, announcement).await;
        let (moved, recorded) = self
            .inner
            .store
            .transition_with(
                &intent.id,
                IntentState::Processing,
                IntentState::Succeeded,
                patch,
                prepared.companions(),
            )
            .await?;
        let Some(paid) = moved else {
            // A webhook may have recorded this very settlement first: that is a success,
            // already announced.
            let now = self.get(&intent.id).await?;
            if now.state.is_paid() && now.reference.as_deref() == Some(&settlement.reference) {
                return Ok(now);
            }
            return Err(PaymentError::WrongState(now.state));
        };
        self.finish(&paid.id, prepared, recorded).await;
        Ok(paid)
    }

    /// Records a refused or failed settlement: `processing → requires_confirmation` (the
    /// payer may try again with a fresh challenge), `payment.failed` with `reason`, and the
    /// `payment_failed` message (in the same write where the store can). With
    /// `reason = None` (the payload was malformed) nothing is announced.
    pub async fn retryable_failure(
        &self,
        intent: &PaymentIntent,
        reason: Option<&str>,
    ) -> Result<PaymentIntent, PaymentError> {
        let after = after_move(
            intent,
            IntentState::RequiresConfirmation,
            &TransitionPatch::default(),
        );
        let prepared = match reason {
            Some(reason) => Some(
                self.prepare(
                    &after,
                    Announcement {
                        event: EventBody::PaymentFailed(payload(&after, "failed", Some(reason))),
                        message: Some(Message::Failed(reason)),
                    },
                )
                .await,
            ),
            None => None,
        };
        let none = Companions::default();
        let (back, recorded) = self
            .inner
            .store
            .transition_with(
                &intent.id,
                IntentState::Processing,
                IntentState::RequiresConfirmation,
                TransitionPatch::default(),
                prepared.as_ref().map_or(&none, |p| p.companions()),
            )
            .await?;
        let back = back.ok_or(PaymentError::WrongState(IntentState::Processing))?;
        if let Some(prepared) = prepared {
            self.finish(&back.id, prepared, recorded).await;
        }
        Ok(back)
    }

    /// The store.
    pub(super) fn store(&self) -> &Arc<dyn PaymentStore> {
        &self.inner.store
    }
}
