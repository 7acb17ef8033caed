//! Reconciling Stripe webhooks into intent state, as pure logic.
//!
//! The engine holds an [`IntentStateSnapshot`] per intent; for each verified
//! [`StripeUpdate`] it calls [`apply`] and, when a [`Transition`] comes back, writes it with a
//! compare-and-set on the snapshot it read (retrying on a lost race).
//! [`IntentStateSnapshot::after`] is the state the transition leads to.
//!
//! Convergence: whatever the order, however often each webhook arrives, and whether it lands
//! before or after the synchronous settlement, the final snapshot is the same, because
//! - a success is final: a late `payment_failed` never undoes it, and a failure only
//!   reopens the intent when it is about the settlement under way (same challenge id);
//! - refunds carry Stripe's cumulative `amount_refunded`, applied only when it grows;
//! - a refund implies the success (an early `charge.refunded` settles and refunds at once);
//! - the dispute flag is independent of the phase and only ever set.
//!
//! Anything that cannot be reconciled safely (a second PaymentIntent succeeding for one
//! intent, money moving on a canceled intent) is a [`Transition::Conflict`] for an operator;
//! it changes nothing.

use super::webhook::{StripeUpdate, UpdateKind};

/// The engine's intent states, as far as reconciliation cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntentPhase {
    /// Offered; may be paid.
    RequiresConfirmation,
    /// A settlement is under way.
    Processing,
    /// Paid.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Canceled by the business.
    Canceled,
    /// Expired unpaid.
    Expired,
    /// Paid, part refunded.
    PartiallyRefunded,
    /// Paid, fully refunded.
    Refunded,
}

/// What the engine knows about one intent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentStateSnapshot {
    /// Current phase.
    pub phase: IntentPhase,
    /// The charge amount, minor units.
    pub amount_minor: i64,
    /// Refunded so far, minor units.
    pub refunded_minor: i64,
    /// Stripe's PaymentIntent id once known.
    pub reference: Option<String>,
    /// Whether a dispute was opened.
    pub disputed: bool,
    /// The challenge whose settlement is under way, while `Processing`.
    pub processing_challenge_id: Option<String>,
}

/// A change to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Paid: phase `succeeded`, settlement reference recorded.
    Succeeded {
        /// PaymentIntent id.
        reference: String,
    },
    /// The settlement under way failed: back to `requires_confirmation` (a fresh challenge
    /// may be paid).
    Failed {
        /// Decline or error code.
        code: String,
        /// What the customer can do.
        message: String,
    },
    /// Refunded up to `amount_refunded_total`: phase `refunded` when `full`, else
    /// `partially_refunded`; an intent not yet marked paid becomes paid by the same write.
    Refunded {
        /// PaymentIntent id, when known.
        reference: Option<String>,
        /// Refunded in total, minor units.
        amount_refunded_total: i64,
        /// Whether the whole amount is refunded.
        full: bool,
    },
    /// Record the settlement reference only (a success that arrives after its refund).
    Reference {
        /// PaymentIntent id.
        reference: String,
    },
    /// A dispute was opened.
    Disputed {
        /// Stripe's reason.
        reason: String,
    },
    /// Cannot be reconciled automatically; nothing changes; alert an operator.
    Conflict {
        /// What is wrong, without secrets.
        reason: String,
    },
}

/// The transition `update` calls for on `state`, or `None` when it changes nothing
/// (duplicate, late, or superseded).
pub fn apply(state: &IntentStateSnapshot, update: &StripeUpdate) -> Option<Transition> {
    use IntentPhase::*;
    let paid = matches!(state.phase, Succeeded | PartiallyRefunded | Refunded);
    let closed = matches!(state.phase, Canceled | Expired);
    let other_payment = |reference: Option<&str>| match (state.reference.as_deref(), reference) {
        (Some(known), Some(new)) => known != new,
        _ => false,
    };
    match &update.kind {
        UpdateKind::Succeeded { reference } => {
            if other_payment(Some(reference)) {
                Some(conflict(
                    "a second Stripe payment succeeded for this intent",
                    update,
                ))
            } else if closed {
                Some(conflict(
                    "a Stripe payment succeeded on a closed intent",
                    update,
                ))
            } else if !paid {
                Some(Transition::Succeeded {
                    reference: reference.clone(),
                })
            } else if state.reference.is_none() {
                Some(Transition::Reference {
                    reference: reference.clone(),
                })
            } else {
                None
            }
        }
        UpdateKind::Failed { code, message } => {
            // Only the attempt under way may fail the intent: a late failure of an earlier
            // attempt must not reopen an intent while the next attempt is in flight.
            let this_attempt = state.phase == Processing
                && update.challenge_id.is_some()
                && update.challenge_id == state.processing_challenge_id;
            this_attempt.then(|| Transition::Failed {
                code: code.clone(),
                message: message.clone(),
            })
        }
        UpdateKind::Refunded {
            amount_refunded_total,
        } => {
            if other_payment(update.payment_intent.as_deref()) {
                Some(conflict("a refund for another Stripe payment", update))
            } else if closed {
                Some(conflict("a Stripe refund on a closed intent", update))
            } else if *amount_refunded_total <= state.refunded_minor {
                None
            } else {
                Some(Transition::Refunded {
                    reference: state.reference.clone().or(update.payment_intent.clone()),
                    amount_refunded_total: *amount_refunded_total,
                    full: *amount_refunded_total >= state.amount_minor,
                })
            }
        }
        UpdateKind::Disputed { reason } => {
            if other_payment(update.payment_intent.as_deref()) {
                Some(conflict("a dispute on another Stripe payment", update))
            } else {
                (!state.disputed).then(|| Transition::Disputed {
                    reason: reason.clone(),
                })
            }
        }
    }
}

fn conflict(what: &str, update: &StripeUpdate) -> Transition {
    Transition::Conflict {
        reason: format!("{what} (event {})", update.event_id),
    }
}

impl IntentStateSnapshot {
    /// The snapshot after `transition` is written.
    pub fn after(&self, transition: &Transition) -> IntentStateSnapshot {
        let mut next = self.clone();
        if matches!(
            transition,
            Transition::Succeeded { .. } | Transition::Failed { .. } | Transition::Refunded { .. }
        ) {
            // The phase moves on: no settlement is under way any more.
            next.processing_challenge_id = None;
        }
        match transition {
            Transition::Succeeded { reference } => {
                next.phase = IntentPhase::Succeeded;
                next.reference = Some(reference.clone());
            }
            Transition::Failed { .. } => next.phase = IntentPhase::RequiresConfirmation,
            Transition::Refunded {
                reference,
                amount_refunded_total,
                full,
            } => {
                next.phase = if *full {
                    IntentPhase::Refunded
                } else {
                    IntentPhase::PartiallyRefunded
                };
                next.refunded_minor = *amount_refunded_total;
                if next.reference.is_none() {
                    next.reference = reference.clone();
                }
            }
            Transition::Reference { reference } => next.reference = Some(reference.clone()),
            Transition::Disputed { .. } => next.disputed = true,
            Transition::Conflict { .. } => {}
        }
        next
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
