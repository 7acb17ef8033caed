//! Verified webhook bodies → canonical events, by the pointers of `[channels.inbound]`
//! (messages) and `[channels.status]` (delivery statuses). Pure: no I/O, no clock.
//!
//! A body is refused whole, never in part: not JSON, or `items` not an array, is
//! `Malformed` (400); an item without its id or sender (missing, `null` or empty), or with a
//! value that is neither a string nor a number, is `Rejected { code: "unprocessable_item" }`
//! (422) naming the item (its index in `items`, from 0), the pointer and the key.

use chrono::{DateTime, Utc};
use omnibridge_sdk::{
    Action, ChannelError, Content, ConversationRef, InboundEvent, Media, MediaKind, Participant,
    RawPayload, Timestamp,
};
use serde_json::Value;

use crate::pointer::{self, Found};

/// The code of a body refused because one of its items cannot be mapped.
pub const UNPROCESSABLE_ITEM: &str = "unprocessable_item";

/// Largest unix timestamp taken (9999-12-31T23:59:59Z): anything larger is not seconds.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

/// Where each field of a message is, from `[channels.inbound]`.
#[derive(Clone, Debug)]
pub(crate) struct MessageMapping {
    pub(crate) account: String,
    pub(crate) items: Option<String>,
    pub(crate) message_id: String,
    pub(crate) sender_id: String,
    pub(crate) sender_name: Option<String>,
    pub(crate) thread: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) action_payload: Option<String>,
    pub(crate) media_url: Option<String>,
    pub(crate) timestamp: Option<String>,
}

/// Parses a webhook body as JSON (`Malformed` otherwise).
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, ChannelError> {
    serde_json::from_slice(body)
        .map_err(|error| ChannelError::Malformed(format!("the body is not JSON: {error}")))
}

/// The items of `body`: the array at `items` (named `key` in errors), or the body itself.
pub(crate) fn items<'a>(
    body: &'a Value,
    items: Option<&str>,
    key: &str,
) -> Result<Vec<&'a Value>, ChannelError> {
    let Some(pointer) = items else {
        return Ok(vec![body]);
    };
    match body.pointer(pointer) {
        Some(Value::Array(items)) => Ok(items.iter().collect()),
        Some(_) => Err(ChannelError::Malformed(format!(
            "the value at {} ({key}) is not an array",
            shown(pointer)
        ))),
        None => Err(ChannelError::Malformed(format!(
            "no array at {} ({key})",
            shown(pointer)
        ))),
    }
}

/// One item of a body, with its index for error messages.
#[derive(Clone, Copy)]
pub(crate) struct Item<'a> {
    pub(crate) index: usize,
    pub(crate) value: &'a Value,
}

impl Item<'_> {
    /// The string or number at `pointer`; refuses the body when there is none.
    pub(crate) fn required(&self, pointer: &str, key: &str) -> Result<String, ChannelError> {
        self.optional(Some(pointer), key)?
            .ok_or_else(|| self.unprocessable(format!("no value at {} ({key})", shown(pointer))))
    }

    /// The string or number at `pointer`, if configured and there; refuses the body when
    /// the value is of another type.
    pub(crate) fn optional(
        &self,
        pointer: Option<&str>,
        key: &str,
    ) -> Result<Option<String>, ChannelError> {
        let Some(pointer) = pointer else {
            return Ok(None);
        };
        match pointer::scalar(self.value, pointer) {
            Found::Nothing => Ok(None),
            Found::Text(text) => Ok(Some(text)),
            Found::Other(kind) => Err(self.unprocessable(format!(
                "the value at {} ({key}) is {kind}, not a string or number",
                shown(pointer)
            ))),
        }
    }

    /// The time at `pointer`: unix seconds (number or numeric string) or RFC 3339.
    fn timestamp(
        &self,
        pointer: Option<&str>,
        key: &str,
    ) -> Result<Option<Timestamp>, ChannelError> {
        let Some(pointer) = pointer else {
            return Ok(None);
        };
        let parsed = match self.value.pointer(pointer) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => return Ok(None),
            Some(Value::Number(number)) => from_number(number),
            Some(Value::String(text)) => parse_time(text.trim()),
            Some(_) => None,
        };
        match parsed {
            Some(at) => Ok(Some(at)),
            None => Err(self.unprocessable(format!(
                "the value at {} ({key}) is neither unix seconds nor an RFC 3339 time",
                shown(pointer)
            ))),
        }
    }

    pub(crate) fn unprocessable(&self, what: String) -> ChannelError {
        ChannelError::rejected(UNPROCESSABLE_ITEM, format!("item {}: {what}", self.index))
    }

    pub(crate) fn raw(&self) -> RawPayload {
        RawPayload::capped("application/json", &self.value.to_string())
    }
}

/// A pointer as shown in messages (the empty pointer as `""`).
pub(crate) fn shown(pointer: &str) -> &str {
    if pointer.is_empty() { "\"\"" } else { pointer }
}

fn parse_time(text: &str) -> Option<Timestamp> {
    if let Ok(seconds) = text.parse::<i64>() {
        return from_whole_seconds(seconds);
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return from_unix(seconds);
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

fn from_number(number: &serde_json::Number) -> Option<Timestamp> {
    match number.as_i64() {
        Some(seconds) => from_whole_seconds(seconds),
        None => number.as_f64().and_then(from_unix),
    }
}

fn from_whole_seconds(seconds: i64) -> Option<Timestamp> {
    if !(0..=MAX_UNIX_SECONDS).contains(&seconds) {
        return None;
    }
    DateTime::from_timestamp(seconds, 0)
}

fn from_unix(seconds: f64) -> Option<Timestamp> {
    if !seconds.is_finite() || seconds < 0.0 || seconds > MAX_UNIX_SECONDS as f64 {
        return None;
    }
    let whole = seconds.floor();
    let nanos = ((seconds - whole) * 1e9).round().min(999_999_999.0) as u32;
    DateTime::from_timestamp(whole as i64, nanos)
}

/// The kind of an attached file, guessed from its URL's extension (`document` when unknown).
fn media_kind(url: &str) -> MediaKind {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let name = path.rsplit('/').next().unwrap_or("");
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "jpg" | "jpeg" | "png" | "gif" | "webp" | "heic" | "bmp" => MediaKind::Image,
        "mp4" | "mov" | "webm" | "3gp" | "m4v" => MediaKind::Video,
        "mp3" | "ogg" | "oga" | "opus" | "m4a" | "aac" | "amr" | "wav" => MediaKind::Audio,
        _ => MediaKind::Document,
    }
}

impl MessageMapping {
    /// The events of one verified message webhook body.
    pub(crate) fn normalize(&self, body: &[u8]) -> Result<Vec<InboundEvent>, ChannelError> {
        let body = parse_body(body)?;
        items(&body, self.items.as_deref(), "inbound.items")?
            .into_iter()
            .enumerate()
            .map(|(index, value)| self.event(Item { index, value }))
            .collect()
    }

    fn event(&self, item: Item<'_>) -> Result<InboundEvent, ChannelError> {
        let id = item.required(&self.message_id, "inbound.message_id")?;
        let sender_id = item.required(&self.sender_id, "inbound.sender_id")?;
        let name = item.optional(self.sender_name.as_deref(), "inbound.sender_name")?;
        let thread = item
            .optional(self.thread.as_deref(), "inbound.thread")?
            .unwrap_or_else(|| sender_id.clone());
        let text = item.optional(self.text.as_deref(), "inbound.text")?;
        let payload = item.optional(self.action_payload.as_deref(), "inbound.action_payload")?;
        let media_url = item.optional(self.media_url.as_deref(), "inbound.media_url")?;
        let occurred_at = item.timestamp(self.timestamp.as_deref(), "inbound.timestamp")?;

        let conversation = ConversationRef::new(self.account.clone(), thread);
        let mut event = match (payload, media_url) {
            (Some(payload), media_url) => {
                if media_url.is_some() {
                    tracing::debug!(
                        item = item.index,
                        "A button press carried a media URL; the action keeps the payload only."
                    );
                }
                let mut action = Action::new(payload);
                action.label = text;
                InboundEvent::action(conversation, action)
            }
            (None, Some(url)) => {
                let mut media = Media::new(media_kind(&url));
                media.provider_media_id = Some(url);
                media.caption = text;
                InboundEvent::message(conversation, Content::Media(media))
            }
            (None, None) => {
                let content = match text {
                    Some(text) => Content::text(text),
                    None => Content::unsupported("empty"),
                };
                InboundEvent::message(conversation, content)
            }
        };
        let mut sender = Participant::customer(sender_id);
        if let Some(name) = name {
            sender = sender.named(name);
        }
        event = event
            .with_sender(sender)
            .with_provider_message_id(id)
            .with_raw(item.raw());
        if let Some(at) = occurred_at {
            event = event.with_occurred_at(at);
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use omnibridge_sdk::EventBody;

    use super::*;

    fn mapping() -> MessageMapping {
        MessageMapping {
            account: "+15550100".into(),
            items: Some("/messages".into()),
            message_id: "/id".into(),
            sender_id: "/from".into(),
            sender_name: Some("/name".into()),
            thread: Some("/thread".into()),
            text: Some("/text".into()),
            action_payload: Some("/button".into()),
            media_url: Some("/media".into()),
            timestamp: Some("/ts".into()),
        }
    }

    fn rejected(result: Result<Vec<InboundEvent>, ChannelError>) -> String {
        match result {
            Err(ChannelError::Rejected { code, reason }) => {
                assert_eq!(code, UNPROCESSABLE_ITEM);
                reason
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn items_map_to_one_event_each() {
        let body = serde_json::json!({"messages": [
            {"id": "m1", "from": "+15550123", "name": "Ann", "text": "hi", "ts": 1_700_000_000},
            {"id": 42, "from": 15_550_124, "thread": "group-7", "text": "yo",
             "ts": "2024-05-01T12:00:00+02:00"},
            {"id": "m3", "from": "+15550125", "text": "", "ts": "1700000100", "name": null},
        ]});
        let events = mapping().normalize(body.to_string().as_bytes()).unwrap();
        assert_eq!(events.len(), 3);
        let ids: Vec<_> = events
            .iter()
            .map(|e| e.provider_message_id.as_ref().unwrap().as_str())
            .collect();
        assert_eq!(ids, ["m1", "42", "m3"]);
        let senders: Vec<_> = events
            .iter()
            .map(|e| e.sender.as_ref().unwrap().id.as_deref().unwrap())
            .collect();
        assert_eq!(senders, ["+15550123", "15550124", "+15550125"]);
        let threads: Vec<_> = events
            .iter()
            .map(|e| e.conversation.thread.as_str())
            .collect();
        assert_eq!(threads, ["+15550123", "group-7", "+15550125"]);
        assert!(events.iter().all(|e| e.conversation.account == "+15550100"));
        assert_eq!(
            events[0].sender.as_ref().unwrap().display_name.as_deref(),
            Some("Ann")
        );
        assert_eq!(events[1].sender.as_ref().unwrap().display_name, None);
        let times: Vec<_> = events
            .iter()
            .map(|e| e.occurred_at.unwrap().to_rfc3339())
            .collect();
        assert_eq!(
            times,
            [
                "2023-11-14T22:13:20+00:00",
                "2024-05-01T10:00:00+00:00",
                "2023-11-14T22:15:00+00:00"
            ]
        );
        match &events[0].body {
            EventBody::MessageReceived(message) => {
                assert_eq!(message.content, Content::text("hi"));
            }
            other => panic!("{other:?}"),
        }
        match &events[2].body {
            EventBody::MessageReceived(message) => {
                assert_eq!(message.content, Content::unsupported("empty"));
            }
            other => panic!("{other:?}"),
        }
        assert!(events[0].raw.as_ref().unwrap().body.contains("\"m1\""));
        // Redelivery yields the same de-duplication keys.
        let again = mapping().normalize(body.to_string().as_bytes()).unwrap();
        assert_eq!(again, events);
    }

    #[test]
    fn without_items_the_body_is_one_message() {
        let mut mapping = mapping();
        mapping.items = None;
        let events = mapping
            .normalize(br#"{"id":"m1","from":"+1","text":"hello"}"#)
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].effective_dedup_key(), Some("m1"));
        assert_eq!(events[0].occurred_at, None);
    }

    #[test]
    fn a_payload_makes_an_action_and_a_media_url_media() {
        let body = serde_json::json!({"messages": [
            {"id": "m1", "from": "+1", "button": "pay:123", "text": "Pay now"},
            {"id": "m2", "from": "+1", "media": "https://cdn.example/a/b/photo.JPG?sig=x", "text": "look"},
            {"id": "m3", "from": "+1", "media": "https://cdn.example/file"},
        ]});
        let events = mapping().normalize(body.to_string().as_bytes()).unwrap();
        match &events[0].body {
            EventBody::ActionInvoked(action) => {
                assert_eq!(action.payload, "pay:123");
                assert_eq!(action.label.as_deref(), Some("Pay now"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            events[0].provider_message_id.as_ref().unwrap().as_str(),
            "m1"
        );
        let media = |event: &InboundEvent| match &event.body {
            EventBody::MessageReceived(message) => match &message.content {
                Content::Media(media) => media.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        let photo = media(&events[1]);
        assert_eq!(photo.kind, MediaKind::Image);
        assert_eq!(
            photo.provider_media_id.as_deref(),
            Some("https://cdn.example/a/b/photo.JPG?sig=x")
        );
        assert_eq!(photo.caption.as_deref(), Some("look"));
        assert_eq!(photo.url, None);
        assert_eq!(media(&events[2]).kind, MediaKind::Document);
    }

    #[test]
    fn an_item_without_id_or_sender_refuses_the_whole_body() {
        let body = serde_json::json!({"messages": [
            {"id": "m1", "from": "+1"}, {"id": "m2", "from": "+2"}, {"id": "m3", "text": "x"},
        ]});
        let reason = rejected(mapping().normalize(body.to_string().as_bytes()));
        assert_eq!(reason, "item 2: no value at /from (inbound.sender_id)");
        for missing in [
            serde_json::json!({"messages": [{"from": "+1"}]}),
            serde_json::json!({"messages": [{"id": null, "from": "+1"}]}),
            serde_json::json!({"messages": [{"id": "", "from": "+1"}]}),
        ] {
            let reason = rejected(mapping().normalize(missing.to_string().as_bytes()));
            assert_eq!(reason, "item 0: no value at /id (inbound.message_id)");
        }
        let object = serde_json::json!({"messages": [{"id": "m", "from": "+1", "text": {"a": 1}}]});
        assert_eq!(
            rejected(mapping().normalize(object.to_string().as_bytes())),
            "item 0: the value at /text (inbound.text) is an object, not a string or number"
        );
        for ts in [
            serde_json::json!("yesterday"),
            serde_json::json!(1_700_000_000_000_i64),
            serde_json::json!(-5),
            serde_json::json!(true),
        ] {
            let body = serde_json::json!({"messages": [{"id": "m", "from": "+1", "ts": ts}]});
            let reason = rejected(mapping().normalize(body.to_string().as_bytes()));
            assert!(
                reason.starts_with("item 0: the value at /ts (inbound.timestamp)"),
                "{reason}"
            );
        }
    }

    #[test]
    fn bodies_that_are_not_json_or_lack_the_items_array_are_malformed() {
        for body in [
            &b"not json"[..],
            b"",
            b"{\"messages\": {}}",
            b"{}",
            &[0xff, 0xfe],
        ] {
            assert!(
                matches!(mapping().normalize(body), Err(ChannelError::Malformed(_))),
                "{body:?}"
            );
        }
        assert!(
            mapping()
                .normalize(br#"{"messages": []}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn fractional_and_string_seconds_are_read() {
        let at = parse_time("1700000000.25").unwrap();
        assert_eq!(at.timestamp(), 1_700_000_000);
        assert_eq!(at.timestamp_subsec_millis(), 250);
        assert_eq!(parse_time("253402300800"), None);
        assert_eq!(
            parse_time("2024-01-01T00:00:00Z").unwrap().timestamp(),
            1_704_067_200
        );
    }
}
