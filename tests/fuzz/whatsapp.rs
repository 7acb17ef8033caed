//! The WhatsApp webhook body: `normalize` on arbitrary bytes, arbitrary JSON and generated
//! Cloud API webhook shapes (with fields of the wrong type). Only non-JSON is an error.

use omnibridge_whatsapp::inbound::normalize;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::strategies::{config, json, no_hang, or_garbage, text, text_of, word};

pub const KEYS: &[&str] = &[
    "object",
    "entry",
    "id",
    "changes",
    "field",
    "value",
    "messaging_product",
    "metadata",
    "phone_number_id",
    "display_phone_number",
    "contacts",
    "profile",
    "name",
    "wa_id",
    "messages",
    "statuses",
    "errors",
    "from",
    "timestamp",
    "type",
    "text",
    "body",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "caption",
    "mime_type",
    "sha256",
    "filename",
    "location",
    "latitude",
    "longitude",
    "address",
    "interactive",
    "button_reply",
    "list_reply",
    "title",
    "description",
    "button",
    "payload",
    "reaction",
    "message_id",
    "emoji",
    "context",
    "status",
    "recipient_id",
    "conversation",
    "pricing",
    "code",
    "message",
    "error_data",
    "details",
    "referral",
    "voice",
    "animated",
    "phones",
    "phone",
    "emails",
    "email",
    "system",
    "unknown",
    "order",
    "messages",
    "statuses",
];

const TYPES: &[&str] = &[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
    "unknown",
    "unsupported",
    "request_welcome",
];

const STATUSES: &[&str] = &["sent", "delivered", "read", "failed", "played", "deleted"];

fn timestamp() -> BoxedStrategy<Value> {
    prop_oneof![
        (0u64..4_000_000_000).prop_map(|t| Value::from(t.to_string())),
        any::<i64>().prop_map(|t| Value::from(t.to_string())),
        text_of("0123456789-+e.", 24).prop_map(Value::from),
    ]
    .boxed()
}

fn message() -> impl Strategy<Value = Value> {
    (
        or_garbage(text_of("0123456789+", 16).prop_map(Value::from), KEYS),
        or_garbage(text(40).prop_map(Value::from), KEYS),
        or_garbage(timestamp(), KEYS),
        prop::sample::select(TYPES),
        json(KEYS, 3),
        prop::option::of(json(KEYS, 2)),
    )
        .prop_map(|(from, id, timestamp, kind, body, context)| {
            let mut message = json!({
                "from": from, "id": id, "timestamp": timestamp, "type": kind, kind: body,
            });
            if let Some(context) = context {
                message["context"] = context;
            }
            message
        })
}

fn status() -> impl Strategy<Value = Value> {
    (
        or_garbage(text(40).prop_map(Value::from), KEYS),
        word(STATUSES),
        or_garbage(timestamp(), KEYS),
        or_garbage(text_of("0123456789", 16).prop_map(Value::from), KEYS),
        prop::option::of(json(KEYS, 3)),
    )
        .prop_map(|(id, status, timestamp, recipient, errors)| {
            let mut value = json!({
                "id": id, "status": status, "timestamp": timestamp, "recipient_id": recipient,
            });
            if let Some(errors) = errors {
                value["errors"] = errors;
            }
            value
        })
}

/// A Cloud API webhook with one entry and change, messages, statuses, contacts and errors
/// generated near the real shape.
fn webhook() -> impl Strategy<Value = Value> {
    (
        word(&[
            "messages",
            "message_template_status_update",
            "account_update",
        ]),
        or_garbage(
            (text_of("0123456789", 16), text(16)).prop_map(
                |(id, phone)| json!({"phone_number_id": id, "display_phone_number": phone}),
            ),
            KEYS,
        ),
        prop::collection::vec(or_garbage(message(), KEYS), 0..4),
        prop::collection::vec(or_garbage(status(), KEYS), 0..3),
        prop::collection::vec(json(KEYS, 3), 0..2),
        prop::collection::vec(json(KEYS, 2), 0..2),
    )
        .prop_map(|(field, metadata, messages, statuses, contacts, errors)| {
            json!({
                "object": "whatsapp_business_account",
                "entry": [{"id": "102290129340398", "changes": [{"field": field, "value": {
                    "messaging_product": "whatsapp", "metadata": metadata,
                    "contacts": contacts, "messages": messages, "statuses": statuses,
                    "errors": errors,
                }}]}],
            })
        })
}

fn normalizes(body: Vec<u8>) {
    no_hang("whatsapp normalize", body, |body| {
        let _ = normalize("106540352242922", &body);
    });
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        normalizes(body);
    }

    #[test]
    fn arbitrary_json_never_panics_and_is_not_an_error(value in json(KEYS, 5)) {
        let body = serde_json::to_vec(&value).unwrap();
        let result = no_hang("whatsapp normalize", body, |body| {
            normalize("106540352242922", &body).map(|events| events.len())
        });
        prop_assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn generated_webhooks_never_panic_and_are_not_errors(value in webhook()) {
        let body = serde_json::to_vec(&value).unwrap();
        let result = no_hang("whatsapp normalize", body, |body| {
            normalize("106540352242922", &body).map(|events| events.len())
        });
        prop_assert!(result.is_ok(), "{result:?}");
    }
}
