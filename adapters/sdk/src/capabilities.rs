//! What a channel can render. The bridge fits every outbound message to these before it calls
//! [`Channel::send`](crate::Channel::send), so adapters never have to guess.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything the bridge needs to know to shape a message for one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// Longest text one message may carry, in characters; longer text is split.
    pub max_text_chars: Option<usize>,
    /// Action buttons, if the channel has them; otherwise buttons become numbered text.
    pub buttons: Option<ButtonLimits>,
    /// Attachments the channel accepts, if any.
    pub attachments: Option<AttachmentLimits>,
    /// The markup the channel renders.
    pub formatting: Formatting,
    /// Whether a message can quote an earlier one.
    pub reply_to: bool,
    /// What delivery receipts the channel reports.
    pub receipts: Receipts,
    /// How long after the customer's last message free-form replies are allowed.
    pub reply_window: Option<Duration>,
}

impl Capabilities {
    /// Plain text up to `max_text_chars`, nothing else.
    pub fn text_only(max_text_chars: usize) -> Self {
        Self {
            max_text_chars: Some(max_text_chars),
            buttons: None,
            attachments: None,
            formatting: Formatting::Plain,
            reply_to: false,
            receipts: Receipts::None,
            reply_window: None,
        }
    }

    /// Adds action buttons.
    pub fn with_buttons(mut self, limits: ButtonLimits) -> Self {
        self.buttons = Some(limits);
        self
    }

    /// Adds attachments.
    pub fn with_attachments(mut self, limits: AttachmentLimits) -> Self {
        self.attachments = Some(limits);
        self
    }

    /// Sets the formatting.
    pub fn with_formatting(mut self, formatting: Formatting) -> Self {
        self.formatting = formatting;
        self
    }

    /// Sets which receipts the channel reports.
    pub fn with_receipts(mut self, receipts: Receipts) -> Self {
        self.receipts = receipts;
        self
    }

    /// Declares that messages can quote earlier ones.
    pub fn with_reply_to(mut self) -> Self {
        self.reply_to = true;
        self
    }

    /// Sets a reply window.
    pub fn with_reply_window(mut self, window: Duration) -> Self {
        self.reply_window = Some(window);
        self
    }
}

/// Limits on action buttons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ButtonLimits {
    /// Most buttons one message may carry.
    pub max_count: usize,
    /// Longest button label, in characters.
    pub max_label_chars: usize,
    /// Whether a button can open a URL.
    pub url_buttons: bool,
}

impl ButtonLimits {
    /// Up to `max_count` buttons with labels up to `max_label_chars`.
    pub fn new(max_count: usize, max_label_chars: usize, url_buttons: bool) -> Self {
        Self {
            max_count,
            max_label_chars,
            url_buttons,
        }
    }
}

/// Limits on attachments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AttachmentLimits {
    /// Media kinds accepted.
    pub kinds: Vec<MediaKind>,
    /// Largest attachment, in bytes.
    pub max_bytes: u64,
}

impl AttachmentLimits {
    /// Accepts `kinds` up to `max_bytes`.
    pub fn new(kinds: Vec<MediaKind>, max_bytes: u64) -> Self {
        Self { kinds, max_bytes }
    }
}

/// A kind of media.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MediaKind {
    /// A picture.
    Image,
    /// A video clip.
    Video,
    /// An audio clip or voice note.
    Audio,
    /// Any file.
    Document,
    /// A sticker.
    Sticker,
}

/// The markup a channel renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Formatting {
    /// Plain text only.
    #[default]
    Plain,
    /// Markdown (or the channel's dialect of it).
    Markdown,
    /// HTML.
    Html,
}

/// Which delivery receipts a channel reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Receipts {
    /// Only "sent": the provider accepted it.
    #[default]
    None,
    /// "delivered" to the customer's device.
    Delivered,
    /// "delivered" and "read".
    DeliveredAndRead,
}
