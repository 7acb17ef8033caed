//! `statuses[]` → `delivery.updated`, one event per status, de-duplicated on
//! `<wamid>:<status>` so a redelivered status is dropped but an out-of-order one is kept (the
//! bridge never lets a later event downgrade the message's status).
//!
//! `sent`, `delivered`, `read` map one to one; `played` (a voice message was played) is
//! `read`; `failed` carries the first error's code and `title: details`. Any other status
//! becomes an `unsupported` message event `status.<name>` on the same conversation.

use omnibridge_sdk::{
    Content, ConversationRef, Delivery, DeliveryStatus, InboundEvent, ProviderMessageId,
};
use serde_json::Value;

use super::{UNKNOWN_THREAD, digest, raw_copy, read, timestamp};
use crate::wire::webhook::WireStatus;

/// The events for one status object.
pub fn events(account: &str, raw: &Value) -> Vec<InboundEvent> {
    let status: WireStatus = read(raw);
    let thread = status
        .recipient_id
        .clone()
        .or_else(|| status.recipient_user_id.clone())
        .unwrap_or_else(|| UNKNOWN_THREAD.to_owned());
    let conversation = ConversationRef::new(account, thread);
    let name = status
        .status
        .clone()
        .unwrap_or_else(|| "missing".to_owned());
    let wamid = status.id.clone().filter(|id| !id.is_empty());
    let first_error = status.errors.as_ref().and_then(|errors| errors.first());
    let delivery = match name.as_str() {
        "sent" => Some(Delivery::new(DeliveryStatus::Sent)),
        "delivered" => Some(Delivery::new(DeliveryStatus::Delivered)),
        "read" | "played" => Some(Delivery::new(DeliveryStatus::Read)),
        "failed" => Some(match first_error {
            Some(error) => Delivery::failed(error.code_text(), error.describe()),
            None => Delivery::failed("unknown", "WhatsApp reported the message as failed"),
        }),
        _ => None,
    };
    let mut event = match delivery {
        Some(mut delivery) => {
            if let (Some(error), true) = (first_error, delivery.code.is_none()) {
                delivery.code = Some(error.code_text());
                delivery.reason = Some(error.describe());
            }
            InboundEvent::delivery(conversation, delivery)
        }
        None => InboundEvent::message(conversation, Content::unsupported(format!("status.{name}"))),
    };
    let key = match &wamid {
        Some(id) => format!("{id}:{name}"),
        None => format!("status:{}", digest(raw)),
    };
    event = event.with_dedup_key(key).with_raw(raw_copy(raw));
    if let Some(id) = wamid {
        event = event.with_provider_message_id(ProviderMessageId::new(id));
    }
    if let Some(at) = timestamp(status.timestamp.as_ref()) {
        event = event.with_occurred_at(at);
    }
    vec![event]
}
