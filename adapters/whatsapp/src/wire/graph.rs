//! Graph API request and response shapes for `POST /{version}/{phone-number-id}/messages`
//! and `GET /{version}/{media-id}`.

use serde::{Deserialize, Serialize};

/// A message to send. `type` and its object come from [`SendBody`].
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct SendRequest {
    /// Always `whatsapp`.
    pub messaging_product: &'static str,
    /// Always `individual`.
    pub recipient_type: &'static str,
    /// The customer's WhatsApp id (phone number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The customer's business-scoped user id, when we have no phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The message this one replies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextRef>,
    /// The message itself.
    #[serde(flatten)]
    pub body: SendBody,
}

impl SendRequest {
    /// A request to `thread` (a phone number, or a BSUID such as `US.1234`).
    pub fn new(thread: &str, body: SendBody) -> Self {
        let (to, recipient) = if is_bsuid(thread) {
            (None, Some(thread.to_owned()))
        } else {
            (Some(thread.to_owned()), None)
        };
        Self {
            messaging_product: "whatsapp",
            recipient_type: "individual",
            to,
            recipient,
            context: None,
            body,
        }
    }
}

/// Whether an id is a business-scoped user id (`CC.digits…`, `CC.ENT.digits…`) rather than a
/// phone number.
pub fn is_bsuid(id: &str) -> bool {
    let mut parts = id.splitn(2, '.');
    let country = parts.next().unwrap_or_default();
    parts.next().is_some_and(|rest| !rest.is_empty())
        && country.len() == 2
        && country.chars().all(|c| c.is_ascii_uppercase())
}

/// `context`: the quoted message.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ContextRef {
    /// Its `wamid`.
    pub message_id: String,
}

/// The typed part of a message.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SendBody {
    /// `type: text`.
    Text {
        /// The text object.
        text: TextBody,
    },
    /// `type: interactive` (reply buttons or a list).
    Interactive {
        /// The interactive object.
        interactive: Interactive,
    },
    /// `type: template`.
    Template {
        /// The template object.
        template: Template,
    },
}

/// `text`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct TextBody {
    /// At most 4096 characters.
    pub body: String,
    /// Render a preview of the first URL.
    pub preview_url: bool,
}

/// `interactive`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Interactive {
    /// `button` or `list`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The body text, at most 1024 characters.
    pub body: BodyText,
    /// Buttons or list sections.
    pub action: InteractiveAction,
}

/// `interactive.body`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct BodyText {
    /// The text.
    pub text: String,
}

/// `interactive.action`.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct InteractiveAction {
    /// Reply buttons (at most 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buttons: Option<Vec<ReplyButton>>,
    /// The list's open button label (at most 20 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
    /// List sections (at most 10 rows in all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sections: Option<Vec<Section>>,
}

/// One reply button: `{"type":"reply","reply":{"id","title"}}`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ReplyButton {
    /// Always `reply`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Id and title.
    pub reply: Row,
}

/// A list section.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Section {
    /// Section title (required with several sections; at most 24 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its rows.
    pub rows: Vec<Row>,
}

/// A reply button's or list row's id and title.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Row {
    /// Our action payload (at most 256 characters for buttons, 200 for rows).
    pub id: String,
    /// Title (at most 20 characters for buttons, 24 for rows).
    pub title: String,
}

/// `template`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Template {
    /// Approved template name.
    pub name: String,
    /// `{"code": "en_US"}`.
    pub language: Language,
    /// Body and button parameters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
}

/// `template.language`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Language {
    /// Language code.
    pub code: String,
}

/// One template component with its parameters.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Component {
    /// `body` or `button`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// For buttons: `quick_reply` or `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<&'static str>,
    /// For buttons: the button's index, as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// The parameters.
    pub parameters: Vec<Parameter>,
}

/// A template parameter.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Parameter {
    /// `{"type":"text","text":…}`.
    Text {
        /// The value.
        text: String,
    },
    /// `{"type":"payload","payload":…}` (quick-reply buttons).
    Payload {
        /// The value.
        payload: String,
    },
}

/// `{"messaging_product":"whatsapp","status":"read","message_id":…}`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct MarkRead {
    /// Always `whatsapp`.
    pub messaging_product: &'static str,
    /// Always `read`.
    pub status: &'static str,
    /// The customer's message.
    pub message_id: String,
}

/// Meta's answer to an accepted send.
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct SendResponse {
    /// Always `whatsapp`.
    #[serde(default)]
    pub messaging_product: Option<String>,
    /// `[{"input", "wa_id"}]`.
    #[serde(default)]
    pub contacts: Vec<serde_json::Value>,
    /// `[{"id": "wamid…"}]`.
    #[serde(default)]
    pub messages: Vec<SentMessage>,
}

/// `messages[]` of a send answer.
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct SentMessage {
    /// The `wamid`; later statuses carry it.
    pub id: String,
}

/// `GET /{version}/{media-id}`: where to download a customer's media, as Meta documents it:
/// `{"messaging_product": "whatsapp", "url": "<URL>", "mime_type": "image/jpeg",
/// "sha256": "<HASH>", "file_size": "303833", "id": "<MEDIA_ID>"}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaInfo {
    /// Always `whatsapp`.
    #[serde(default)]
    pub messaging_product: Option<String>,
    /// Short-lived download URL (needs the bearer token).
    pub url: String,
    /// MIME type.
    pub mime_type: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Size in bytes. Meta's OpenAPI description gives it as a string (`"303833"`); a JSON
    /// number is accepted too.
    #[serde(deserialize_with = "crate::wire::number::u64_or_numeric_string")]
    pub file_size: u64,
    /// The media id.
    pub id: String,
}
