//! The `payment.*` events: every intent transition is announced on the intent's
//! conversation through [`Ingest::emit_payment`](crate::ingest::Ingest::emit_payment).

use omnibridge_sdk::{EventBody, InboundEvent, PaymentUpdate};

use super::engine::PaymentEngine;
use super::error::PaymentError;
use super::intent::PaymentIntent;

impl PaymentEngine {
    /// Appends the `payment.*` event for the intent's current state.
    pub(super) async fn announce(
        &self,
        intent: &PaymentIntent,
        body: fn(PaymentUpdate) -> EventBody,
        reason: Option<&str>,
    ) {
        let mut update = update(intent, intent.state.as_str());
        if let Some(reason) = reason {
            update = update.with_reason(reason);
        }
        self.emit(intent, body(update)).await;
    }

    /// Appends one payment event on the intent's conversation. The intent's state is the
    /// truth; a failed append is logged, never undoes the transition.
    pub(super) async fn emit(&self, intent: &PaymentIntent, body: EventBody) {
        let event_type = body.type_name();
        let result = async {
            let conversation = self
                .inner
                .conversations
                .conversation(&intent.conversation_id)
                .await?
                .ok_or_else(|| {
                    PaymentError::UnknownConversation(intent.conversation_id.to_string())
                })?;
            let event = InboundEvent::new(conversation.conversation.clone(), body);
            self.inner
                .ingest
                .emit_payment(&conversation.channel_id, &conversation.channel, event)
                .await?;
            Ok::<_, PaymentError>(())
        }
        .await;
        if let Err(error) = result {
            tracing::error!(payment_intent_id = %intent.id, event_type, %error, "payment event could not be appended");
        }
    }
}

/// The event payload for `intent` in `state`.
pub(super) fn update(intent: &PaymentIntent, state: &str) -> PaymentUpdate {
    let mut update = PaymentUpdate::new(&intent.id, intent.amount, &intent.currency, state);
    if let Some(reference) = &intent.reference {
        update = update.with_reference(reference);
    }
    if intent.refunded_minor > 0 {
        update = update.with_refunded_minor(intent.refunded_minor);
    }
    update
}
