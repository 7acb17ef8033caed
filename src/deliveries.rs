//! Delivery statuses for every channel: links a provider's status (known only by the
//! provider's message id, e.g. a WhatsApp `wamid`) to our outbound message, and keeps them
//! monotonic per outbound message.
//!
//! The outbox worker records provider message id → outbound id when a channel accepts a send
//! ([`Store::link_provider_messages`]). On the way onto the bus, [`settle`] fills
//! `data.outbound_id` of each `delivery.updated` that lacks it, and drops a status that would
//! downgrade the one already reached (`queued < sent < delivered < read < failed`; `failed` is
//! final): a `read` that arrives before its `delivered` ends in `read`, and the late
//! `delivered` is not appended. Statuses of messages we never sent (or whose send is not
//! recorded yet) go through unlinked. A status whose provider did not name the recipient
//! ([`UNKNOWN_THREAD`]) is filed under its outbound message's conversation, or dropped when
//! it links to none.

use omnibridge_sdk::{EventBody, InboundEvent, OutboundId, UNKNOWN_THREAD};

use crate::store::{Store, StoreError};

/// Links and orders the `delivery.updated` events of a batch from the channel `channel_id`;
/// returns the events to append (others untouched, in order). The statuses of `own` (the
/// outbox record whose send the batch records) are left as they are: the write that finishes
/// the record advances them (see [`crate::ingest::BatchWriter::write_sent`]).
pub async fn settle(
    store: &dyn Store,
    channel_id: &str,
    events: Vec<InboundEvent>,
    own: Option<&OutboundId>,
) -> Result<Vec<InboundEvent>, StoreError> {
    let mut kept = Vec::with_capacity(events.len());
    for mut event in events {
        let provider_id = event.provider_message_id.clone();
        let EventBody::DeliveryUpdated(delivery) = &mut event.body else {
            kept.push(event);
            continue;
        };
        if own.is_some() && delivery.outbound_id.as_ref() == own {
            kept.push(event);
            continue;
        }
        if delivery.outbound_id.is_none()
            && let Some(provider_id) = &provider_id
        {
            delivery.outbound_id = store
                .outbound_for_provider_message(channel_id, provider_id)
                .await?;
        }
        if event.conversation.thread == UNKNOWN_THREAD {
            // The provider did not say whom it went to: the outbound message knows.
            let conversation = match &delivery.outbound_id {
                Some(outbound) => store
                    .outbound(outbound)
                    .await?
                    .and_then(|record| record.message.get("conversation").cloned())
                    .and_then(|value| serde_json::from_value(value).ok()),
                None => None,
            };
            let Some(conversation) = conversation else {
                tracing::debug!("A delivery status of a message we did not send is dropped.");
                continue;
            };
            event.conversation = conversation;
        }
        if let Some(outbound) = &delivery.outbound_id
            && !store.advance_delivery(outbound, delivery.status).await?
        {
            tracing::debug!(
                outbound_id = %outbound,
                status = ?delivery.status,
                "Out-of-order delivery status ignored; a later one was already recorded."
            );
            continue;
        }
        kept.push(event);
    }
    Ok(kept)
}
