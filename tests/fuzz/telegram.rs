//! Telegram updates: `parse_update` (webhook bodies) never panics or hangs, whatever the
//! bytes; generated updates of every handled type, with garbage in their fields, never panic,
//! and whatever parses is keyed on its `update_id`.

use omnibridge_telegram::inbound::parse_update;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::strategies::{config, json, no_hang, or_garbage, text, word};

const KEYS: &[&str] = &[
    "update_id",
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "chat",
    "from",
    "id",
    "type",
    "text",
    "photo",
    "document",
    "file_id",
    "file_size",
    "data",
    "date",
    "message_id",
    "reply_to_message",
    "forward_origin",
    "new_chat_member",
    "status",
];

fn user() -> Value {
    json!({"id": 777, "is_bot": false, "first_name": "Ada"})
}

fn message() -> impl Strategy<Value = Value> {
    (
        word(&[
            "text", "photo", "document", "voice", "sticker", "location", "contact", "dice",
        ]),
        text(40),
        any::<i32>(),
        any::<bool>(),
    )
        .prop_map(|(kind, body, id, group)| {
            let chat = if group {
                json!({"id": -100_200, "type": "supergroup", "title": body})
            } else {
                json!({"id": 777, "type": "private", "first_name": "Ada"})
            };
            let mut msg =
                json!({"message_id": id, "date": 1_700_000_000, "chat": chat, "from": user()});
            msg[kind.as_str()] = match kind.as_str() {
                "text" => json!(body),
                "photo" => {
                    json!([{"file_id": body, "file_unique_id": "u", "width": 1, "height": 1}])
                }
                "location" => json!({"latitude": 1.5, "longitude": 2.5}),
                "contact" => json!({"phone_number": body, "first_name": "B"}),
                _ => json!({"file_id": body, "file_unique_id": "u", "emoji": body}),
            };
            msg
        })
}

fn update() -> impl Strategy<Value = Value> {
    (
        word(&[
            "message",
            "edited_message",
            "callback_query",
            "my_chat_member",
            "poll",
        ]),
        or_garbage(message(), KEYS),
        text(80),
        any::<u32>(),
    )
        .prop_map(|(kind, msg, data, id)| {
            let inner = match kind.as_str() {
                "callback_query" => json!({"id": "q", "from": user(), "chat_instance": "c",
                    "message": msg, "data": data}),
                "my_chat_member" => json!({"chat": {"id": 777, "type": "private"}, "from": user(),
                    "date": 1, "old_chat_member": {"status": "member", "user": user()},
                    "new_chat_member": {"status": "kicked", "until_date": 0, "user": user()}}),
                _ => msg,
            };
            json!({"update_id": id, kind: inner})
        })
}

fn parses(body: Vec<u8>) {
    no_hang("telegram parse_update", body, |body| {
        let _ = parse_update("acme-tg", &bytes::Bytes::from(body));
    });
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        parses(body);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json(KEYS, 5)) {
        parses(serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn generated_updates_never_panic_and_are_keyed_on_their_update_id(value in update()) {
        let body = serde_json::to_vec(&value).unwrap();
        let id = value["update_id"].as_u64().unwrap();
        let result = no_hang("telegram parse_update", body, |body| {
            parse_update("acme-tg", &bytes::Bytes::from(body))
                .map(|n| n.event.effective_dedup_key().map(str::to_owned))
        });
        if let Ok(key) = result {
            prop_assert_eq!(key, Some(format!("update:{id}")));
        }
    }
}
