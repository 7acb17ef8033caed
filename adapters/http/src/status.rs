//! Delivery-status callbacks (`POST /webhooks/<id>/status`) → `delivery.updated`, by the
//! pointers and word map of `[channels.status]`. Pure: no I/O, no clock.
//!
//! Each status is keyed `status:<message id>:<status>`, so a redelivered status is dropped
//! while a later one is kept; the bridge links it to our outbound message through the
//! provider message id (or the outbound id, when the send answer named none). A provider word
//! that is neither in `map` nor one of ours is skipped, logged at debug.

use std::collections::BTreeMap;

use omnibridge_sdk::{ChannelError, ConversationRef, Delivery, DeliveryStatus, InboundEvent};

use crate::inbound::{Item, items, parse_body};

/// The thread of statuses whose callback names no recipient
/// (the bridge files them under the conversation of the message they link to).
pub const UNKNOWN_THREAD: &str = omnibridge_sdk::UNKNOWN_THREAD;

/// Our statuses by name, as `status.map` values may name them.
pub(crate) fn our_status(word: &str) -> Option<DeliveryStatus> {
    match word {
        "sent" => Some(DeliveryStatus::Sent),
        "delivered" => Some(DeliveryStatus::Delivered),
        "read" => Some(DeliveryStatus::Read),
        "failed" => Some(DeliveryStatus::Failed),
        _ => None,
    }
}

fn name(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Queued => "queued",
        DeliveryStatus::Sent => "sent",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Read => "read",
        _ => "failed",
    }
}

/// Where each field of a status is, from `[channels.status]`.
#[derive(Clone, Debug)]
pub(crate) struct StatusMapping {
    pub(crate) account: String,
    pub(crate) items: Option<String>,
    pub(crate) message_id: String,
    pub(crate) status: String,
    pub(crate) thread: Option<String>,
    pub(crate) map: BTreeMap<String, DeliveryStatus>,
}

impl StatusMapping {
    /// The events of one verified status callback body.
    pub(crate) fn normalize(&self, body: &[u8]) -> Result<Vec<InboundEvent>, ChannelError> {
        let body = parse_body(body)?;
        let mut events = Vec::new();
        for (index, value) in items(&body, self.items.as_deref(), "status.items")?
            .into_iter()
            .enumerate()
        {
            if let Some(event) = self.event(Item { index, value })? {
                events.push(event);
            }
        }
        Ok(events)
    }

    fn event(&self, item: Item<'_>) -> Result<Option<InboundEvent>, ChannelError> {
        let id = item.required(&self.message_id, "status.message_id")?;
        let word = item.required(&self.status, "status.status")?;
        let thread = item
            .optional(self.thread.as_deref(), "status.thread")?
            .unwrap_or_else(|| UNKNOWN_THREAD.to_owned());
        let Some(status) = self.map.get(&word).copied().or_else(|| our_status(&word)) else {
            let shown: String = word.chars().take(64).collect();
            tracing::debug!(
                item = item.index,
                word = %shown,
                "A delivery status word is not in status.map; the status is skipped."
            );
            return Ok(None);
        };
        let delivery = match status {
            DeliveryStatus::Failed => Delivery::failed(
                word.clone(),
                format!("the provider reported the message as {word}"),
            ),
            other => Delivery::new(other),
        };
        let conversation = ConversationRef::new(self.account.clone(), thread);
        Ok(Some(
            InboundEvent::delivery(conversation, delivery)
                .with_dedup_key(format!("status:{id}:{}", name(status)))
                .with_provider_message_id(id)
                .with_raw(item.raw()),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use omnibridge_sdk::EventBody;

    use super::*;

    fn mapping() -> StatusMapping {
        StatusMapping {
            account: "sms".into(),
            items: Some("/statuses".into()),
            message_id: "/id".into(),
            status: "/status".into(),
            thread: Some("/to".into()),
            map: BTreeMap::from([
                ("DELIVRD".to_owned(), DeliveryStatus::Delivered),
                ("UNDELIV".to_owned(), DeliveryStatus::Failed),
                ("ACCEPTD".to_owned(), DeliveryStatus::Sent),
            ]),
        }
    }

    fn delivery(event: &InboundEvent) -> &Delivery {
        match &event.body {
            EventBody::DeliveryUpdated(delivery) => delivery,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn provider_words_map_to_our_statuses() {
        let body = serde_json::json!({"statuses": [
            {"id": "p1", "status": "DELIVRD", "to": "+15550123"},
            {"id": 77, "status": "UNDELIV"},
            {"id": "ob_9", "status": "read", "to": "+15550124"},
            {"id": "p4", "status": "EXPIRED"},
            {"id": "p5", "status": "ACCEPTD"},
        ]});
        let events = mapping().normalize(body.to_string().as_bytes()).unwrap();
        assert_eq!(events.len(), 4, "the unmapped EXPIRED is skipped");
        let statuses: Vec<_> = events.iter().map(|e| delivery(e).status).collect();
        assert_eq!(
            statuses,
            [
                DeliveryStatus::Delivered,
                DeliveryStatus::Failed,
                DeliveryStatus::Read,
                DeliveryStatus::Sent
            ]
        );
        let ids: Vec<_> = events
            .iter()
            .map(|e| e.provider_message_id.as_ref().unwrap().as_str())
            .collect();
        assert_eq!(ids, ["p1", "77", "ob_9", "p5"]);
        assert_eq!(events[0].effective_dedup_key(), Some("status:p1:delivered"));
        assert_eq!(
            events[0].conversation,
            ConversationRef::new("sms", "+15550123")
        );
        assert_eq!(events[1].conversation.thread, UNKNOWN_THREAD);
        assert_eq!(delivery(&events[1]).code.as_deref(), Some("UNDELIV"));
        assert!(delivery(&events[0]).outbound_id.is_none());
    }

    #[test]
    fn a_status_without_id_or_word_refuses_the_body() {
        let body =
            serde_json::json!({"statuses": [{"id": "p1", "status": "DELIVRD"}, {"id": "p2"}]});
        match mapping().normalize(body.to_string().as_bytes()) {
            Err(ChannelError::Rejected { code, reason }) => {
                assert_eq!(code, "unprocessable_item");
                assert_eq!(reason, "item 1: no value at /status (status.status)");
            }
            other => panic!("{other:?}"),
        }
        let mut single = mapping();
        single.items = None;
        assert!(matches!(
            single.normalize(br#"[1,2]"#),
            Err(ChannelError::Rejected { .. })
        ));
        assert!(matches!(
            single.normalize(b"<xml/>"),
            Err(ChannelError::Malformed(_))
        ));
        assert_eq!(
            single
                .normalize(br#"{"id":"p","status":"delivered"}"#)
                .unwrap()
                .len(),
            1
        );
    }
}
