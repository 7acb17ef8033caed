//! Frames the bridge sends to the widget.

use omnibridge_sdk::{Button, ButtonAction, ChannelError};
use serde::{Deserialize, Serialize};

use crate::session::SessionId;

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

    /// The widget's rendering of a canonical button; `None` for kinds the widget does not
    /// know (they are left out).
    pub fn from_button(button: &Button) -> Option<Self> {
        match &button.action {
            ButtonAction::Payload(payload) => {
                Some(Self::payload(button.label.clone(), payload.clone()))
            }
            ButtonAction::Url(url) => Some(Self::url(button.label.clone(), url.clone())),
            _ => None,
        }
    }
}
