//! A person's decision on an intent waiting for approval (created above its API key's
//! `approval_above`): approve offers it to the customer exactly as a new intent is; reject
//! closes it for good, and nothing is ever sent.

use omnibridge_sdk::EventBody;

use super::engine::PaymentEngine;
use super::error::PaymentError;
use super::intent::{IntentState, PaymentIntent, TransitionPatch};

impl PaymentEngine {
    /// `requires_approval → requires_confirmation`, then `payment.requested` and the
    /// `payment_request` message, as [`PaymentEngine::create`] does for an unguarded intent.
    /// An intent past its expiry is expired instead ([`PaymentError::WrongState`]).
    pub async fn approve(&self, id: &str) -> Result<PaymentIntent, PaymentError> {
        let approved = self.decide(id, IntentState::RequiresConfirmation).await?;
        self.offer(&approved).await;
        Ok(approved)
    }

    /// `requires_approval → rejected`, announced as `payment.rejected` (with `reason`);
    /// nothing is sent to the customer, then or later.
    pub async fn reject(
        &self,
        id: &str,
        reason: Option<&str>,
    ) -> Result<PaymentIntent, PaymentError> {
        let rejected = self.decide(id, IntentState::Rejected).await?;
        self.announce(&rejected, EventBody::PaymentRejected, reason)
            .await;
        Ok(rejected)
    }

    /// Moves a `requires_approval` intent to `to`; [`PaymentError::WrongState`] when it is in
    /// another state (already decided, canceled, expired).
    async fn decide(&self, id: &str, to: IntentState) -> Result<PaymentIntent, PaymentError> {
        let intent = self.get(id).await?;
        if intent.state != IntentState::RequiresApproval {
            return Err(PaymentError::WrongState(intent.state));
        }
        let moved = self
            .store()
            .transition(
                id,
                IntentState::RequiresApproval,
                to,
                TransitionPatch::default(),
            )
            .await?;
        match moved {
            Some(moved) => Ok(moved),
            None => {
                let now = self.get(id).await.map_or(intent.state, |i| i.state);
                Err(PaymentError::WrongState(now))
            }
        }
    }
}
