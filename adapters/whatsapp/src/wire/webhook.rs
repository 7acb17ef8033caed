//! Webhook payload shapes: `object` → `entry[]` → `changes[]` → `value` with `metadata`,
//! `contacts[]`, `messages[]`, `statuses[]` and `errors[]`.
//!
//! The outer levels are walked as [`serde_json::Value`] by the normaliser; each message and
//! status is read into these lenient structs on its own, so one that does not fit becomes an
//! `unsupported` event instead of failing the batch.

use serde::Deserialize;
use serde_json::Value;

/// `value.metadata`: which of our numbers the change is for.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct Metadata {
    /// The number as displayed.
    pub display_phone_number: Option<String>,
    /// The Cloud API phone-number id.
    pub phone_number_id: Option<String>,
}

/// `value.contacts[]`: the customer's profile.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct ContactProfile {
    /// The customer's WhatsApp id (phone number); absent for username-only users.
    pub wa_id: Option<String>,
    /// The business-scoped user id (BSUID), on newer payloads.
    pub user_id: Option<String>,
    /// `profile.name`.
    pub profile: Option<ProfileName>,
}

/// `contacts[].profile`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct ProfileName {
    /// The customer's display name.
    pub name: Option<String>,
}

/// `value.messages[]`: one message from a customer.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct WireMessage {
    /// Sender's WhatsApp id (phone number); may be absent.
    pub from: Option<String>,
    /// Sender's business-scoped user id, on newer payloads.
    pub from_user_id: Option<String>,
    /// The `wamid`.
    pub id: Option<String>,
    /// Unix seconds, as a string (numbers accepted too).
    pub timestamp: Option<Value>,
    /// `text`, `image`, `interactive`, … or `unsupported`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Reply / forward information.
    pub context: Option<Context>,
    /// `text.body`.
    pub text: Option<Text>,
    /// Image attachment.
    pub image: Option<WireMedia>,
    /// Video attachment.
    pub video: Option<WireMedia>,
    /// Audio clip or voice note.
    pub audio: Option<WireMedia>,
    /// Document.
    pub document: Option<WireMedia>,
    /// Sticker.
    pub sticker: Option<WireMedia>,
    /// Shared location.
    pub location: Option<WireLocation>,
    /// Shared contact cards.
    pub contacts: Option<Vec<ContactCard>>,
    /// Reply to an interactive message.
    pub interactive: Option<Interactive>,
    /// Tap on a template quick-reply button.
    pub button: Option<TemplateButton>,
    /// Reaction added (emoji) or removed (no emoji).
    pub reaction: Option<Reaction>,
    /// Why Meta could not pass the message on (type `unsupported`).
    pub errors: Option<Vec<WireError>>,
}

/// `message.context`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct Context {
    /// Who sent the quoted message (our number for replies to us).
    pub from: Option<String>,
    /// The quoted message's `wamid`.
    pub id: Option<String>,
    /// The message was forwarded.
    pub forwarded: Option<bool>,
    /// The message was forwarded many times.
    pub frequently_forwarded: Option<bool>,
}

/// `message.text`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct Text {
    /// The text.
    pub body: Option<String>,
}

/// `message.{image,video,audio,document,sticker}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct WireMedia {
    /// The media id, for the two-step download.
    pub id: Option<String>,
    /// MIME type.
    pub mime_type: Option<String>,
    /// SHA-256 of the file (hex or base64, as Meta sends it).
    pub sha256: Option<String>,
    /// Caption (image, video, document).
    pub caption: Option<String>,
    /// File name (document).
    pub filename: Option<String>,
}

/// `message.location`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct WireLocation {
    /// Degrees.
    pub latitude: Option<f64>,
    /// Degrees.
    pub longitude: Option<f64>,
    /// Place name.
    pub name: Option<String>,
    /// Street address.
    pub address: Option<String>,
}

/// `message.contacts[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct ContactCard {
    /// `name.formatted_name` and parts.
    pub name: Option<ContactName>,
    /// `phones[].phone` and `phones[].wa_id`.
    pub phones: Option<Vec<ContactPhone>>,
    /// `emails[].email`.
    pub emails: Option<Vec<ContactEmail>>,
}

/// `contacts[].name`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct ContactName {
    /// Full name.
    pub formatted_name: Option<String>,
    /// First name.
    pub first_name: Option<String>,
}

/// `contacts[].phones[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct ContactPhone {
    /// The number, as the sender's address book formats it.
    pub phone: Option<String>,
    /// The WhatsApp id of that number, when it is on WhatsApp: the id to message it at.
    pub wa_id: Option<String>,
}

/// `contacts[].emails[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct ContactEmail {
    /// The address.
    pub email: Option<String>,
}

/// `message.interactive`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct Interactive {
    /// `button_reply`, `list_reply`, `nfm_reply`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The reply button tapped.
    pub button_reply: Option<Choice>,
    /// The list row chosen.
    pub list_reply: Option<Choice>,
}

/// `interactive.button_reply` / `interactive.list_reply`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct Choice {
    /// The id we gave the button or row: our action payload.
    pub id: Option<String>,
    /// Its title.
    pub title: Option<String>,
}

/// `message.button` (template quick reply).
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct TemplateButton {
    /// The payload set when the template was sent.
    pub payload: Option<String>,
    /// The button's text.
    pub text: Option<String>,
}

/// `message.reaction`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct Reaction {
    /// The message reacted to.
    pub message_id: Option<String>,
    /// The emoji; absent or empty when the reaction was removed.
    pub emoji: Option<String>,
}

/// `value.statuses[]`: news about a message we sent.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct WireStatus {
    /// The `wamid` of our message.
    pub id: Option<String>,
    /// `sent`, `delivered`, `read`, `failed`, `played`, …
    pub status: Option<String>,
    /// Unix seconds.
    pub timestamp: Option<Value>,
    /// The customer's WhatsApp id; may be absent.
    pub recipient_id: Option<String>,
    /// The customer's business-scoped user id, on newer payloads.
    pub recipient_user_id: Option<String>,
    /// Why it failed.
    pub errors: Option<Vec<WireError>>,
}

/// An error as Meta puts it in webhooks (value, message or status level).
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct WireError {
    /// Numeric code.
    pub code: Option<i64>,
    /// Short title.
    pub title: Option<String>,
    /// Longer message.
    pub message: Option<String>,
    /// `error_data.details`.
    pub error_data: Option<WireErrorData>,
}

/// `errors[].error_data`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct WireErrorData {
    /// What exactly went wrong.
    pub details: Option<String>,
}

impl WireError {
    /// The code as text (`unknown` when missing).
    pub fn code_text(&self) -> String {
        self.code
            .map_or_else(|| "unknown".to_owned(), |c| c.to_string())
    }

    /// `title: details`, or whatever part exists.
    pub fn describe(&self) -> String {
        let title = self
            .title
            .as_deref()
            .or(self.message.as_deref())
            .unwrap_or("error");
        match self.error_data.as_ref().and_then(|d| d.details.as_deref()) {
            Some(details) if !details.is_empty() && details != title => {
                format!("{title}: {details}")
            }
            _ => title.to_owned(),
        }
    }
}
