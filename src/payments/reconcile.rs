//! Verified Stripe webhooks applied to intents: read the intent, take the pure
//! [`apply`](super::stripe::apply) decision on its snapshot, and write the transition with a
//! compare-and-set on what was read (re-reading on a lost race). Events and messages are the
//! synchronous path's: `payment.succeeded` + receipt, `payment.failed` + failure message,
//! `payment.refunded` + refund message; a dispute is a `payment.disputed` event for an
//! operator; a conflict is logged at `error` and changes nothing.
//!
//! Failures reported by webhooks only reopen the settlement under way when its challenge is
//! known; the store does not keep which challenge is settling, so the synchronous answer
//! stays the one that reopens an intent (a webhook failure is never needed for that).

use omnibridge_sdk::EventBody;

use super::engine::{PaymentEngine, update};
use super::error::PaymentError;
use super::intent::{IntentState, PaymentIntent, TransitionPatch};
use super::stripe::{IntentPhase, IntentStateSnapshot, StripeUpdate, Transition, apply};

/// The method name recorded on intents settled through Stripe.
const STRIPE: &str = "stripe";
/// Compare-and-set attempts before giving up (Stripe retries the webhook).
const ATTEMPTS: usize = 5;

/// What a webhook did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reconciled {
    /// It names no intent of ours.
    UnknownIntent,
    /// Nothing to change (duplicate, late or superseded).
    Unchanged,
    /// The transition was written.
    Applied(Transition),
}

impl PaymentEngine {
    /// Applies one verified Stripe update to the intent it names.
    pub async fn reconcile_stripe(
        &self,
        stripe: &StripeUpdate,
    ) -> Result<Reconciled, PaymentError> {
        for _ in 0..ATTEMPTS {
            let Some(intent) = self.find_for(stripe).await? else {
                return Ok(Reconciled::UnknownIntent);
            };
            let Some(transition) = apply(&snapshot(&intent), stripe) else {
                return Ok(Reconciled::Unchanged);
            };
            if self.write(&intent, &transition).await? {
                tracing::info!(payment_intent_id = %intent.id, event_id = %stripe.event_id,
                    transition = kind(&transition), "stripe webhook reconciled");
                return Ok(Reconciled::Applied(transition));
            }
        }
        Err(PaymentError::WrongState(IntentState::Processing))
    }

    async fn find_for(&self, stripe: &StripeUpdate) -> Result<Option<PaymentIntent>, PaymentError> {
        if let Some(id) = stripe
            .intent_id
            .as_deref()
            .filter(|id| PaymentIntent::is_valid_id(id))
            && let Some(intent) = self.store().intent(id).await?
        {
            return Ok(Some(intent));
        }
        match stripe.payment_intent.as_deref() {
            Some(reference) => Ok(self.store().intent_by_reference(reference).await?),
            None => Ok(None),
        }
    }

    /// Writes `transition` if the intent is still as read; `false` when it moved meanwhile.
    async fn write(
        &self,
        intent: &PaymentIntent,
        transition: &Transition,
    ) -> Result<bool, PaymentError> {
        match transition {
            Transition::Succeeded { reference } => {
                Ok(self.paid_by_webhook(intent, reference).await?.is_some())
            }
            Transition::Failed { message, .. } => {
                match self.retryable_failure(intent, Some(message)).await {
                    Ok(_) => Ok(true),
                    Err(PaymentError::WrongState(_)) => Ok(false),
                    Err(error) => Err(error),
                }
            }
            Transition::Refunded {
                reference,
                amount_refunded_total,
                ..
            } => {
                let paid = if intent.state.is_paid() {
                    intent.clone()
                } else {
                    // An early refund: the payment succeeded first.
                    let reference = reference.clone().unwrap_or_default();
                    match self.paid_by_webhook(intent, &reference).await? {
                        Some(paid) => paid,
                        None => return Ok(false),
                    }
                };
                let delta = amount_refunded_total - paid.refunded_minor;
                let Some(after) = self
                    .store()
                    .record_refund(&paid.id, paid.refunded_minor, delta)
                    .await?
                else {
                    return Ok(false);
                };
                let event =
                    update(&after, after.state.as_str()).with_refunded_minor(after.refunded_minor);
                self.emit(&after, EventBody::PaymentRefunded(event)).await;
                self.notifier().payment_refunded(&after, delta).await;
                Ok(true)
            }
            Transition::Reference { reference } => {
                let patch = TransitionPatch {
                    reference: Some(reference.clone()),
                    ..TransitionPatch::default()
                };
                let moved = self
                    .store()
                    .transition(&intent.id, intent.state, intent.state, patch)
                    .await?;
                Ok(moved.is_some())
            }
            Transition::Disputed { reason } => {
                if self.store().mark_disputed(&intent.id).await? {
                    tracing::warn!(payment_intent_id = %intent.id, reason = %reason,
                        "the customer disputed a payment");
                    let event = update(intent, "disputed").with_reason(reason);
                    self.emit(intent, EventBody::PaymentDisputed(event)).await;
                }
                Ok(true)
            }
            Transition::Conflict { reason } => {
                tracing::error!(payment_intent_id = %intent.id, reason = %reason,
                    "stripe webhook conflicts with the intent; an operator must look");
                Ok(true)
            }
        }
    }

    /// `intent.state → succeeded` (settled by Stripe with `reference`), announced with the
    /// receipt; `None` when the intent moved meanwhile.
    async fn paid_by_webhook(
        &self,
        intent: &PaymentIntent,
        reference: &str,
    ) -> Result<Option<PaymentIntent>, PaymentError> {
        let patch = TransitionPatch {
            method: Some(STRIPE.to_owned()),
            reference: Some(reference.to_owned()),
            settled_at: Some(chrono::Utc::now()),
        };
        let paid = self
            .store()
            .transition(&intent.id, intent.state, IntentState::Succeeded, patch)
            .await?;
        if let Some(paid) = &paid {
            self.announce(paid, EventBody::PaymentSucceeded, None).await;
            self.notifier().payment_receipt(paid).await;
        }
        Ok(paid)
    }
}

/// What reconciliation knows of an intent.
fn snapshot(intent: &PaymentIntent) -> IntentStateSnapshot {
    let phase = match intent.state {
        IntentState::RequiresConfirmation => IntentPhase::RequiresConfirmation,
        IntentState::Processing => IntentPhase::Processing,
        IntentState::Succeeded => IntentPhase::Succeeded,
        IntentState::Failed => IntentPhase::Failed,
        // Never offered (or never to be): closed, like a canceled intent, so a settlement
        // reported for it is a conflict, never a success.
        IntentState::Canceled | IntentState::RequiresApproval | IntentState::Rejected => {
            IntentPhase::Canceled
        }
        IntentState::Expired => IntentPhase::Expired,
        IntentState::Refunded => IntentPhase::Refunded,
        IntentState::PartiallyRefunded => IntentPhase::PartiallyRefunded,
    };
    IntentStateSnapshot {
        phase,
        amount_minor: intent.amount,
        refunded_minor: intent.refunded_minor,
        reference: intent.reference.clone(),
        // `mark_disputed` is the compare-and-set for disputes.
        disputed: false,
        processing_challenge_id: None,
    }
}

fn kind(transition: &Transition) -> &'static str {
    match transition {
        Transition::Succeeded { .. } => "succeeded",
        Transition::Failed { .. } => "failed",
        Transition::Refunded { .. } => "refunded",
        Transition::Reference { .. } => "reference",
        Transition::Disputed { .. } => "disputed",
        Transition::Conflict { .. } => "conflict",
    }
}
