//! The WebSocket frame protocol between the widget and the bridge: JSON text frames tagged by
//! `type`. See the crate README for the full description.
//!
//! Client→server frames are parsed with [`parse_client_frame`], which bounds every field and
//! never panics; server→client frames are [`ServerFrame`]s, serialised with
//! [`ServerFrame::to_json`].

use omnibridge_sdk::{ButtonAction, ChannelError, OutboundMessage};
use serde::{Deserialize, Serialize};

use crate::session::SessionId;

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

/// A frame the widget sends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientFrame {
    /// The visitor wrote a message.
    Message {
        /// What they wrote (1 to [`MAX_TEXT_CHARS`] characters, not blank).
        text: String,
        /// The widget's own id for it: the provider message id, so a frame re-sent after a
        /// reconnect is de-duplicated.
        client_msg_id: String,
    },
    /// The visitor pressed a payload button.
    Action {
        /// The button's payload.
        payload: String,
        /// The label the visitor saw, if the widget reports it.
        label: Option<String>,
        /// The widget's own id for the press.
        client_msg_id: String,
    },
    /// Keep-alive; the bridge answers [`ServerFrame::Pong`].
    Ping,
}

impl ClientFrame {
    /// The widget's id for this frame, for the `ack`; `None` for `ping`.
    pub fn client_msg_id(&self) -> Option<&str> {
        match self {
            Self::Message { client_msg_id, .. } | Self::Action { client_msg_id, .. } => {
                Some(client_msg_id)
            }
            Self::Ping => None,
        }
    }
}

/// The loose shape every client frame is read into before it is checked.
#[derive(Deserialize)]
struct RawClientFrame {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
    client_msg_id: Option<String>,
    payload: Option<String>,
    label: Option<String>,
}

/// Parses and bounds one client text frame. Errors are [`ChannelError::Malformed`] with a
/// message fit to send back in an `error` frame.
pub fn parse_client_frame(input: &str) -> Result<ClientFrame, ChannelError> {
    if input.len() > MAX_FRAME_BYTES {
        return Err(malformed(format!(
            "frame larger than {MAX_FRAME_BYTES} bytes"
        )));
    }
    let raw: RawClientFrame = serde_json::from_str(input)
        .map_err(|error| malformed(format!("invalid frame JSON: {error}")))?;
    let kind = raw
        .kind
        .ok_or_else(|| malformed("missing field `type`".to_owned()))?;
    match kind.as_str() {
        "message" => {
            let text = required(raw.text, "text", "message")?;
            check_len("text", &text, MAX_TEXT_CHARS)?;
            if text.trim().is_empty() {
                return Err(malformed("`text` is blank".to_owned()));
            }
            let client_msg_id = checked_id(raw.client_msg_id, "message")?;
            Ok(ClientFrame::Message {
                text,
                client_msg_id,
            })
        }
        "action" => {
            let payload = required(raw.payload, "payload", "action")?;
            check_len("payload", &payload, MAX_PAYLOAD_CHARS)?;
            if payload.is_empty() {
                return Err(malformed("`payload` is empty".to_owned()));
            }
            if let Some(label) = &raw.label {
                check_len("label", label, MAX_LABEL_CHARS)?;
            }
            let client_msg_id = checked_id(raw.client_msg_id, "action")?;
            Ok(ClientFrame::Action {
                payload,
                label: raw.label,
                client_msg_id,
            })
        }
        "ping" => Ok(ClientFrame::Ping),
        other => {
            let shown: String = other.chars().take(32).collect();
            Err(malformed(format!("unknown frame type {shown:?}")))
        }
    }
}

fn malformed(message: String) -> ChannelError {
    ChannelError::Malformed(message)
}

fn required(value: Option<String>, field: &str, kind: &str) -> Result<String, ChannelError> {
    value.ok_or_else(|| malformed(format!("missing field `{field}` in a {kind} frame")))
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), ChannelError> {
    if value.chars().nth(max).is_some() {
        return Err(malformed(format!("`{field}` longer than {max} characters")));
    }
    Ok(())
}

fn checked_id(value: Option<String>, kind: &str) -> Result<String, ChannelError> {
    let id = required(value, "client_msg_id", kind)?;
    let printable = id.bytes().all(|b| b.is_ascii_graphic());
    if id.is_empty() || id.len() > MAX_ID_CHARS || !printable {
        return Err(malformed(format!(
            "`client_msg_id` must be 1 to {MAX_ID_CHARS} printable ASCII characters"
        )));
    }
    Ok(id)
}

/// A frame the bridge sends to the widget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerFrame {
    /// First frame on every connection: who the visitor is and the token to reconnect with.
    Welcome {
        /// The visitor's session (the conversation thread).
        session: SessionId,
        /// A fresh session token; the widget stores it and presents it on reconnect.
        token: String,
        /// The bridge's conversation id, filled by the bridge once it knows it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
    },
    /// A message from the business.
    Message(MessageFrame),
    /// The visitor's frame is durably stored; the widget stops re-sending it.
    Ack {
        /// The widget's id of the stored frame.
        client_msg_id: String,
    },
    /// Something went wrong; `code` is stable snake_case, `message` is for humans.
    Error {
        /// A stable machine-readable code (`malformed_payload`, `unauthorized`).
        code: String,
        /// A secret-free explanation.
        message: String,
    },
    /// Answer to a `ping`.
    Pong,
}

impl ServerFrame {
    /// A `welcome` frame without a conversation id.
    pub fn welcome(session: SessionId, token: impl Into<String>) -> Self {
        Self::Welcome {
            session,
            token: token.into(),
            conversation_id: None,
        }
    }

    /// An `ack` for a stored client frame.
    pub fn ack(client_msg_id: impl Into<String>) -> Self {
        Self::Ack {
            client_msg_id: client_msg_id.into(),
        }
    }

    /// An `error` frame.
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Error {
            code: code.into(),
            message: message.into(),
        }
    }

    /// An `error` frame for a channel error, with its stable code.
    pub fn from_error(error: &ChannelError) -> Self {
        Self::error(error.code(), error.to_string())
    }

    /// The frame as JSON text, ready for a WebSocket text message.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"unserialisable frame"}"#.to_owned()
        })
    }
}

/// A business message as the widget renders it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageFrame {
    /// The bridge's outbound id; the widget de-duplicates on it.
    pub id: String,
    /// Plain text; the widget keeps line breaks and escapes everything.
    pub text: String,
    /// Buttons under the message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<FrameButton>,
    /// The bus sequence number of the `message.sent` event, when the sender knows it; the
    /// widget reconnects with `after=<highest seq seen>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

impl MessageFrame {
    /// A frame with this outbound id and text, no buttons and no seq (replays build frames
    /// from bus events with this).
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            text: text.into(),
            buttons: Vec::new(),
            seq: None,
        }
    }

    /// Sets the buttons.
    pub fn with_buttons(mut self, buttons: Vec<FrameButton>) -> Self {
        self.buttons = buttons;
        self
    }

    /// A frame for an outbound message, without a seq (see [`MessageFrame::with_seq`]).
    /// Buttons of kinds the widget does not know are left out.
    pub fn from_outbound(msg: &OutboundMessage) -> Self {
        let buttons = msg
            .buttons
            .iter()
            .filter_map(|button| match &button.action {
                ButtonAction::Payload(payload) => {
                    Some(FrameButton::payload(button.label.clone(), payload.clone()))
                }
                ButtonAction::Url(url) => Some(FrameButton::url(button.label.clone(), url.clone())),
                _ => None,
            })
            .collect();
        Self {
            id: msg.id.to_string(),
            text: msg.text.clone(),
            buttons,
            seq: None,
        }
    }

    /// Sets the bus sequence number (replays and bridge-built frames).
    pub fn with_seq(mut self, seq: u64) -> Self {
        self.seq = Some(seq);
        self
    }
}

/// One button in a [`MessageFrame`]: exactly one of `payload` and `url` is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FrameButton {
    /// What the visitor sees.
    pub label: String,
    /// Sent back in an `action` frame when pressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// Opened in a new tab when pressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl FrameButton {
    /// A button that sends `payload` back.
    pub fn payload(label: impl Into<String>, payload: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            payload: Some(payload.into()),
            url: None,
        }
    }

    /// A button that opens `url`.
    pub fn url(label: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            payload: None,
            url: Some(url.into()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
