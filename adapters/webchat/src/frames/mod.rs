//! The WebSocket frame protocol between the widget and the bridge: JSON text frames tagged by
//! `type`. See the crate README for the full description.
//!
//! Client→server frames are parsed with [`parse_client_frame`], which bounds every field and
//! never panics; server→client frames are [`ServerFrame`]s, serialised with
//! [`ServerFrame::to_json`]. Layout: `client.rs` (what the widget sends, and its parser),
//! `server.rs` (what the bridge sends).

mod client;
mod server;

pub use client::{ClientFrame, parse_client_frame};
pub use server::{FrameButton, MessageFrame, ServerFrame};

/// Longest `text` a client `message` frame may carry, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Longest `client_msg_id`, in characters (printable ASCII only).
pub const MAX_ID_CHARS: usize = 128;
/// Longest action `payload`, in characters.
pub const MAX_PAYLOAD_CHARS: usize = 1024;
/// Longest action `label`, in characters.
pub const MAX_LABEL_CHARS: usize = 256;
/// Largest client frame accepted, in bytes; use it as the WebSocket's max message size.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::session::SessionId;
    use omnibridge_sdk::ChannelError;

    fn malformed_message(input: &str) -> String {
        match parse_client_frame(input) {
            Err(ChannelError::Malformed(message)) => message,
            other => panic!("expected Malformed for {input:?}, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_three_client_frames() {
        let message =
            parse_client_frame(r#"{"type":"message","text":"hi","client_msg_id":"c-123"}"#);
        assert_eq!(
            message.unwrap(),
            ClientFrame::Message {
                text: "hi".into(),
                client_msg_id: "c-123".into()
            }
        );
        let action = parse_client_frame(
            r#"{"type":"action","payload":"pay:pi_1","label":"Pay","client_msg_id":"c-124"}"#,
        )
        .unwrap();
        assert_eq!(action.client_msg_id(), Some("c-124"));
        assert_eq!(
            action,
            ClientFrame::Action {
                payload: "pay:pi_1".into(),
                label: Some("Pay".into()),
                client_msg_id: "c-124".into()
            }
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"ping"}"#).unwrap(),
            ClientFrame::Ping
        );
        assert_eq!(ClientFrame::Ping.client_msg_id(), None);
    }

    #[test]
    fn unknown_fields_are_ignored_for_forward_compatibility() {
        let frame = parse_client_frame(r#"{"type":"ping","v":2}"#).unwrap();
        assert_eq!(frame, ClientFrame::Ping);
    }

    #[test]
    fn text_up_to_the_limit_counts_characters_not_bytes() {
        let text = "é".repeat(MAX_TEXT_CHARS);
        let json = serde_json::json!({"type":"message","text":text,"client_msg_id":"c"});
        assert!(parse_client_frame(&json.to_string()).is_ok());
        let json =
            serde_json::json!({"type":"message","text":format!("{text}x"),"client_msg_id":"c"});
        assert!(malformed_message(&json.to_string()).contains("`text` longer than 4096"));
    }

    #[test]
    fn refuses_bad_frames_with_clear_messages() {
        assert!(malformed_message("{not json").contains("invalid frame JSON"));
        assert!(malformed_message(r#"{"text":"hi"}"#).contains("missing field `type`"));
        assert!(malformed_message(r#"{"type":"shout"}"#).contains("unknown frame type \"shout\""));
        let missing = malformed_message(r#"{"type":"message","client_msg_id":"c"}"#);
        assert!(missing.contains("missing field `text` in a message frame"));
        assert!(malformed_message(r#"{"type":"message","text":"hi"}"#).contains("client_msg_id"));
        assert!(
            malformed_message(r#"{"type":"message","text":"  \n","client_msg_id":"c"}"#)
                .contains("blank")
        );
        let long_id = "c".repeat(MAX_ID_CHARS + 1);
        let json = serde_json::json!({"type":"message","text":"hi","client_msg_id":long_id});
        assert!(malformed_message(&json.to_string()).contains("client_msg_id"));
        assert!(
            malformed_message(r#"{"type":"message","text":"hi","client_msg_id":"a b"}"#)
                .contains("printable ASCII")
        );
        assert!(
            malformed_message(r#"{"type":"action","payload":"","client_msg_id":"c"}"#)
                .contains("empty")
        );
        assert!(
            malformed_message(r#"{"type":"message","text":5,"client_msg_id":"c"}"#)
                .contains("invalid type")
        );
        let huge = format!(
            r#"{{"type":"ping","pad":"{}"}}"#,
            "x".repeat(MAX_FRAME_BYTES)
        );
        assert!(malformed_message(&huge).contains("larger than"));
    }

    #[test]
    fn never_panics_on_garbage() {
        let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep = format!("{}{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
        for garbage in [
            "",
            "null",
            "[]",
            "{}",
            "\"message\"",
            "\u{0}\u{ffff}",
            &nested,
            &deep,
        ] {
            assert!(parse_client_frame(garbage).is_err(), "{garbage:?}");
        }
        let long_type = format!(r#"{{"type":"{}"}}"#, "z".repeat(10_000));
        assert!(malformed_message(&long_type).len() < 100);
    }

    #[test]
    fn server_frames_serialise_as_documented() {
        let session = SessionId::parse("s_0123456789abcdef0123456789abcdef").unwrap();
        let welcome = serde_json::to_value(ServerFrame::welcome(session, "tok")).unwrap();
        assert_eq!(
            welcome,
            serde_json::json!({"type":"welcome","session":"s_0123456789abcdef0123456789abcdef",
                "token":"tok"})
        );
        let frame = ServerFrame::Message(
            MessageFrame {
                id: "ob_1".into(),
                text: "Pay?".into(),
                buttons: vec![
                    FrameButton::payload("Yes", "yes"),
                    FrameButton::url("Docs", "https://d"),
                ],
                seq: None,
            }
            .with_seq(123),
        );
        let json: serde_json::Value = serde_json::from_str(&frame.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type":"message","id":"ob_1","text":"Pay?","seq":123,
                "buttons":[{"label":"Yes","payload":"yes"},{"label":"Docs","url":"https://d"}]})
        );
        assert_eq!(
            ServerFrame::ack("c-1").to_json(),
            r#"{"type":"ack","client_msg_id":"c-1"}"#
        );
        assert_eq!(ServerFrame::Pong.to_json(), r#"{"type":"pong"}"#);
        let error = ServerFrame::from_error(&ChannelError::Malformed("bad".into()));
        assert_eq!(
            error.to_json(),
            r#"{"type":"error","code":"malformed_payload","message":"malformed payload: bad"}"#
        );
        let back: ServerFrame = serde_json::from_value(json).unwrap();
        assert_eq!(back, frame);
    }
}
