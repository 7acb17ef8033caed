//! Web-chat client frames: `parse_client_frame` on arbitrary text and generated frames.
//! Nothing panics; an accepted frame is within the documented bounds; an error message is
//! short (never an echo of the frame).

use omnibridge_webchat::frames::{
    ClientFrame, MAX_ID_CHARS, MAX_PAYLOAD_CHARS, MAX_TEXT_CHARS, parse_client_frame,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::strategies::{config, json, no_hang, or_garbage, text, word};

const KEYS: &[&str] = &["type", "text", "client_msg_id", "payload", "label", "seq"];

fn frame() -> impl Strategy<Value = Value> {
    let long = prop_oneof![text(8), (0usize..5000).prop_map(|n| "x".repeat(n))];
    (
        word(&["message", "action", "ping", "MESSAGE", ""]),
        or_garbage(long.clone().prop_map(Value::from), KEYS),
        or_garbage(text(140).prop_map(Value::from), KEYS),
        or_garbage(long.prop_map(Value::from), KEYS),
        prop::option::of(or_garbage(text(300).prop_map(Value::from), KEYS)),
    )
        .prop_map(|(kind, text, id, payload, label)| {
            let mut frame =
                json!({"type": kind, "text": text, "client_msg_id": id, "payload": payload});
            if let Some(label) = label {
                frame["label"] = label;
            }
            frame
        })
}

fn check(input: String) -> Result<(), TestCaseError> {
    let result = no_hang("parse_client_frame", input, |input| {
        parse_client_frame(&input)
    });
    match result {
        Ok(ClientFrame::Message {
            text,
            client_msg_id,
        }) => {
            prop_assert!(text.chars().count() <= MAX_TEXT_CHARS && !text.trim().is_empty());
            prop_assert!(client_msg_id.len() <= MAX_ID_CHARS);
            prop_assert!(client_msg_id.bytes().all(|b| b.is_ascii_graphic()));
        }
        Ok(ClientFrame::Action {
            payload,
            client_msg_id,
            ..
        }) => {
            prop_assert!(!payload.is_empty() && payload.chars().count() <= MAX_PAYLOAD_CHARS);
            prop_assert!(client_msg_id.len() <= MAX_ID_CHARS);
        }
        Ok(_) => {}
        Err(error) => prop_assert!(error.to_string().len() < 400, "{error}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_text_never_panics(input in text(300)) {
        check(input)?;
    }

    #[test]
    fn arbitrary_json_never_panics(value in json(KEYS, 4)) {
        check(value.to_string())?;
    }

    #[test]
    fn generated_frames_are_bounded_or_refused(value in frame()) {
        check(value.to_string())?;
    }
}
