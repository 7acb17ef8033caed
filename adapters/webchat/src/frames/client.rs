//! Frames the widget sends, parsed with limits and never a panic.

use omnibridge_sdk::ChannelError;
use serde::Deserialize;

use super::{MAX_FRAME_BYTES, MAX_ID_CHARS, MAX_LABEL_CHARS, MAX_PAYLOAD_CHARS, MAX_TEXT_CHARS};

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
    /// Keep-alive; the bridge answers [`ServerFrame::Pong`](super::ServerFrame::Pong).
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
