//! A message the bridge asks a channel to deliver, already fitted to the channel's
//! [`Capabilities`](crate::Capabilities), and what the channel answers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::DeliveryStatus;
use crate::ids::{ConversationRef, OutboundId, ProviderMessageId};

/// One outbound message. The bridge guarantees it fits the channel: text no longer than
/// `max_text_chars`, no more buttons than the limits allow, labels short enough.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutboundMessage {
    /// The bridge's id for this message; stable across retries (use it as an idempotency key).
    pub id: OutboundId,
    /// Where to send it.
    pub conversation: ConversationRef,
    /// The text to send.
    pub text: String,
    /// Action buttons, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    /// The provider message to quote, when the channel supports replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ProviderMessageId>,
    /// The template this message was rendered from, if any (channels may map it, e.g. to an
    /// approved WhatsApp template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The locale the text is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The data `template` was rendered with, so a channel can fill the parameters of a
    /// provider-side template standing in for it (WhatsApp's approved templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_data: Option<Value>,
    /// Set by the bridge when the channel's [`reply_window`](crate::Capabilities::reply_window)
    /// is closed for this conversation: the channel must not send free-form. It sends its
    /// stand-in template (see [`Channel::window_template`](crate::Channel::window_template)),
    /// or fails with [`REPLY_WINDOW_CLOSED`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub window_closed: bool,
    /// A subject line, for channels that have one (email), rendered from the template's
    /// `<name>.subject` variant when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// An HTML rendition of `text`, for channels with HTML formatting (email), rendered from
    /// the template's `<name>.html` variant when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Sent by the bridge itself, not by a person or the business's bot (payment requests,
    /// receipts, safety notices): channels mark it as automatic where they can (email:
    /// `Auto-Submitted: auto-replied`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automatic: bool,
    /// Files to send with the message, by reference to media the bridge stores; only on
    /// channels whose capabilities have attachments. The bridge loads each one's `bytes`
    /// just before [`Channel::send`](crate::Channel::send).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<OutboundAttachment>,
}

/// A stored media file sent with an outbound message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutboundAttachment {
    /// The bridge's media id (`GET /v1/media/{id}`).
    pub media_id: String,
    /// The file name the recipient sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Its MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The file itself, filled in by the bridge at send time (never stored with the message).
    #[serde(skip)]
    pub bytes: Option<bytes::Bytes>,
}

impl OutboundAttachment {
    /// A reference to stored media `media_id`.
    pub fn new(media_id: impl Into<String>) -> Self {
        Self {
            media_id: media_id.into(),
            filename: None,
            mime_type: None,
            bytes: None,
        }
    }
}

/// The error code (`ChannelError::Rejected`, failed `delivery.updated`, API problem) of a
/// free-form message that cannot go out because the channel's reply window is closed.
pub const REPLY_WINDOW_CLOSED: &str = "reply_window_closed";

impl OutboundMessage {
    /// A text message.
    pub fn text(id: OutboundId, conversation: ConversationRef, text: impl Into<String>) -> Self {
        Self {
            id,
            conversation,
            text: text.into(),
            buttons: Vec::new(),
            reply_to: None,
            template: None,
            locale: None,
            template_data: None,
            window_closed: false,
            subject: None,
            html: None,
            automatic: false,
            attachments: Vec::new(),
        }
    }

    /// Adds buttons.
    pub fn with_buttons(mut self, buttons: Vec<Button>) -> Self {
        self.buttons = buttons;
        self
    }
}

/// One action button.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Button {
    /// What the customer sees.
    pub label: String,
    /// What pressing it does.
    #[serde(flatten)]
    pub action: ButtonAction,
}

impl Button {
    /// A button that sends `payload` back as an `action.invoked` event.
    pub fn payload(label: impl Into<String>, payload: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            action: ButtonAction::Payload(payload.into()),
        }
    }

    /// A button that opens `url`.
    pub fn url(label: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            action: ButtonAction::Url(url.into()),
        }
    }
}

/// What a button does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ButtonAction {
    /// Comes back as an `action.invoked` event carrying this payload.
    Payload(String),
    /// Opens this URL.
    Url(String),
}

/// What a channel reports after accepting a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SendReceipt {
    /// The provider's id for the sent message, so later statuses attach to it.
    pub provider_message_id: Option<ProviderMessageId>,
    /// How far it got: `sent` for most providers, `delivered` for push channels that know.
    pub status: DeliveryStatus,
}

impl SendReceipt {
    /// The provider accepted the message under `id`.
    pub fn sent(id: Option<ProviderMessageId>) -> Self {
        Self {
            provider_message_id: id,
            status: DeliveryStatus::Sent,
        }
    }

    /// The message reached the customer's device.
    pub fn delivered(id: Option<ProviderMessageId>) -> Self {
        Self {
            provider_message_id: id,
            status: DeliveryStatus::Delivered,
        }
    }
}
