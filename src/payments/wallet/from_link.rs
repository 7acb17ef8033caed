//! Confirming from the confirmation page (`POST /confirm/{token}`): the wallet pays for the
//! customer of the intent's conversation, through the same pay URL as a Pay button.

use tracing::Instrument;

use super::pay;
use super::{CustomerRef, Wallet};
use crate::payments::intent::IntentState;

/// How a confirmation from a link ended (the page says it in words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Settled: the receipt is on its way.
    Paid,
    /// The payment was refused; the customer got the reason in the conversation.
    Refused,
    /// No saved payment method: the customer got the pay link.
    LinkSent,
    /// The intent is no longer payable (already paid, canceled, expired).
    NotPayable(IntentState),
}

impl Wallet {
    /// Confirms `intent_id` from its confirmation page (`POST /confirm/{token}`), for the
    /// customer of the intent's conversation: the same path as a Pay button.
    pub async fn confirm_from_link(&self, intent_id: &str) -> Result<LinkOutcome, String> {
        let intent = self
            .engine
            .get(intent_id)
            .await
            .map_err(|e| e.to_string())?;
        if intent.state != IntentState::RequiresConfirmation {
            return Ok(LinkOutcome::NotPayable(intent.state));
        }
        let conversation = self
            .store
            .conversation(&intent.conversation_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the conversation is gone")?;
        let participants = self
            .store
            .participants(&intent.conversation_id)
            .await
            .map_err(|e| e.to_string())?;
        let customer = participants
            .into_iter()
            .find(|p| p.role == omnibridge_sdk::Role::Customer)
            .map(|p| CustomerRef {
                channel: conversation.channel.as_str().to_owned(),
                user_id: p.id,
            });
        let span = tracing::info_span!("wallet.confirm_link", payment_intent_id = %intent_id);
        let outcome = self
            .confirm(&intent, customer.as_ref())
            .instrument(span)
            .await
            .map_err(|e| e.to_string())?;
        Ok(match outcome {
            pay::Outcome::Paid => LinkOutcome::Paid,
            pay::Outcome::Refused => LinkOutcome::Refused,
            pay::Outcome::LinkSent => LinkOutcome::LinkSent,
            pay::Outcome::NotPayable(_) => {
                let state = self.engine.get(intent_id).await.map(|i| i.state);
                LinkOutcome::NotPayable(state.unwrap_or(intent.state))
            }
        })
    }
}
