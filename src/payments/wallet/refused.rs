//! A confirm keyword the channel could not trust (email: not to the intent's reply address,
//! not from the customer, or sender not authenticated): nothing is charged; the customer is
//! told how to pay safely, once per event.

use omnibridge_sdk::Envelope;

use super::{DONE_SCOPE, Wallet};
use crate::payments::intent::IntentState;
use crate::store::IdempotentResponse;

impl Wallet {
    /// A confirm keyword the channel says may not pay (email: not to the intent's reply
    /// address, not from the customer, or sender not authenticated): nothing is charged, and
    /// the customer gets `payment_reply_refused` saying how to pay safely (once per event).
    pub(super) async fn refuse_reply(
        &self,
        event: &Envelope,
        check: &omnibridge_sdk::ConfirmationCheck,
    ) {
        let reason = check.reason.as_deref().unwrap_or("refused");
        tracing::warn!(
            conversation_id = %event.conversation_id,
            payment_intent_id = check.intent_id.as_deref().unwrap_or(""),
            reason,
            "a payment confirmation by reply was refused"
        );
        let key = format!("refused:{}", event.id);
        if matches!(
            self.store.idempotent_response(DONE_SCOPE, &key).await,
            Ok(Some(_))
        ) {
            return;
        }
        let intent = match &check.intent_id {
            Some(id) => self.engine.get(id).await.ok(),
            None => self
                .engine
                .list(&event.conversation_id, 50)
                .await
                .ok()
                .and_then(|intents| {
                    intents
                        .into_iter()
                        .find(|i| i.state == IntentState::RequiresConfirmation)
                }),
        };
        match intent {
            Some(intent) if intent.conversation_id == event.conversation_id => {
                self.engine
                    .notifier()
                    .payment_reply_refused(&intent, reason)
                    .await;
            }
            _ => tracing::info!("no open intent to explain; nothing sent"),
        }
        let done = IdempotentResponse {
            fingerprint: String::new(),
            status: 200,
            body: serde_json::Value::Null,
        };
        if let Err(error) = self
            .store
            .save_idempotent_response(DONE_SCOPE, &key, &done)
            .await
        {
            tracing::warn!(%error, "wallet could not mark a handled event");
        }
    }
}
