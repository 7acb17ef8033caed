//! What a message carries, whatever the channel.

use serde::{Deserialize, Serialize};

use crate::ids::ProviderMessageId;

/// The content of one message. Unknown provider types become [`Content::Unsupported`]:
/// a channel never drops what it cannot map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Content {
    /// Plain text, with an optional formatted rendition (HTML mail, Markdown).
    Text {
        /// The readable text.
        body: String,
        /// The same text with its original formatting, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        formatted: Option<Formatted>,
    },
    /// An image, video, audio clip, document or sticker.
    Media(Media),
    /// A shared location.
    Location(Location),
    /// A shared contact card.
    Contact(Contact),
    /// An emoji reaction to an earlier message (an empty emoji removes the reaction).
    Reaction {
        /// The message reacted to.
        to: ProviderMessageId,
        /// The emoji, or empty when the reaction was removed.
        emoji: String,
    },
    /// The customer blocked or unblocked the business's bot (Telegram's `my_chat_member`):
    /// `status` is `blocked` or `unblocked`; while blocked, sends to the conversation fail.
    ChatMember {
        /// `blocked` or `unblocked`.
        status: String,
    },
    /// A provider message type this channel does not map yet.
    Unsupported {
        /// The provider's name for the type.
        provider_type: String,
    },
}

impl Content {
    /// Plain text content.
    pub fn text(body: impl Into<String>) -> Self {
        Self::Text {
            body: body.into(),
            formatted: None,
        }
    }

    /// Text with a formatted rendition.
    pub fn formatted_text(body: impl Into<String>, formatted: Formatted) -> Self {
        Self::Text {
            body: body.into(),
            formatted: Some(formatted),
        }
    }

    /// Content of a type the channel does not map.
    pub fn unsupported(provider_type: impl Into<String>) -> Self {
        Self::Unsupported {
            provider_type: provider_type.into(),
        }
    }

    /// The readable text of this content, when it has any (text body or media caption).
    pub fn text_body(&self) -> Option<&str> {
        match self {
            Self::Text { body, .. } => Some(body),
            Self::Media(media) => media.caption.as_deref(),
            _ => None,
        }
    }
}

/// A formatted rendition of a text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Formatted {
    /// `html` or `markdown`.
    pub format: String,
    /// The formatted source.
    pub body: String,
}

impl Formatted {
    /// An HTML rendition.
    pub fn html(body: impl Into<String>) -> Self {
        Self {
            format: "html".into(),
            body: body.into(),
        }
    }
}

/// A media attachment, referenced rather than inlined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Media {
    /// What kind of media this is. Serialised as `media_kind`: the content's own tag is
    /// already `kind` (`"kind":"media"`).
    #[serde(rename = "media_kind")]
    pub kind: crate::capabilities::MediaKind,
    /// The provider's id for the media, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_media_id: Option<String>,
    /// Where API clients can fetch it, once the bridge has stored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// MIME type, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Caption sent with the media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// Original file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Size in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

impl Media {
    /// Media of `kind` known by the provider's media id.
    pub fn new(kind: crate::capabilities::MediaKind) -> Self {
        Self {
            kind,
            provider_media_id: None,
            url: None,
            mime_type: None,
            caption: None,
            filename: None,
            size_bytes: None,
        }
    }
}

/// The payload of `media.stored` and `media.failed`: what became of the media of an inbound
/// message (the event's `provider_message_id` is the message's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaUpdate {
    /// The `id` of the `message.received` event carrying the media.
    pub message_event_id: crate::ids::EventId,
    /// The media; for `media.stored`, `url` is the bridge's authenticated download URL and
    /// `size_bytes` the stored size.
    pub media: Media,
    /// For `media.failed`: a machine-readable code (`media_too_large`, a provider code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// For `media.failed`: why, in words an operator can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl MediaUpdate {
    /// Media stored for the message event `message_event_id`.
    pub fn stored(message_event_id: crate::ids::EventId, media: Media) -> Self {
        Self {
            message_event_id,
            media,
            code: None,
            reason: None,
        }
    }

    /// Media that could not be stored, with a code and a reason.
    pub fn failed(
        message_event_id: crate::ids::EventId,
        media: Media,
        code: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            message_event_id,
            media,
            code: Some(code.into()),
            reason: Some(reason.into()),
        }
    }
}

/// A geographic location (coordinates are not money: floats are fine here).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Location {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// A place name, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A street address, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Location {
    /// A location at the given coordinates.
    pub fn new(latitude: f64, longitude: f64) -> Self {
        Self {
            latitude,
            longitude,
            name: None,
            address: None,
        }
    }
}

/// A shared contact card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub struct Contact {
    /// Formatted full name.
    pub name: String,
    /// Phone numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
    /// Email addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// The channel's own id for this person, when the provider gives one: the id to message
    /// them at on the same channel (WhatsApp: the card's `phones[].wa_id`; `phones` hold the
    /// numbers as the sender's address book formats them, which may not be usable). Absent
    /// in events written before this field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl Contact {
    /// A contact with a name only.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::MediaKind;

    #[test]
    fn contacts_without_a_user_id_read_and_write_as_before() {
        let old = serde_json::json!({"kind": "contact", "name": "Barbara", "phones": ["+1 940"]});
        let Content::Contact(contact) = serde_json::from_value(old.clone()).unwrap() else {
            panic!("not a contact");
        };
        assert_eq!(contact.user_id, None);
        assert_eq!(
            serde_json::to_value(Content::Contact(contact.clone())).unwrap(),
            old
        );
        let mut known = contact;
        known.user_id = Some("19405551234".into());
        let json = serde_json::to_value(Content::Contact(known.clone())).unwrap();
        assert_eq!(json["user_id"], "19405551234");
        assert_eq!(
            serde_json::from_value::<Content>(json).unwrap(),
            Content::Contact(known)
        );
    }

    #[test]
    fn media_content_keeps_both_tags_and_round_trips() {
        let mut media = Media::new(MediaKind::Image);
        media.caption = Some("receipt".into());
        let content = Content::Media(media);
        let json = serde_json::to_value(&content).unwrap();
        assert_eq!(json["kind"], "media");
        assert_eq!(json["media_kind"], "image");
        let text = serde_json::to_string(&content).unwrap();
        assert_eq!(text.matches("\"kind\"").count(), 1, "{text}");
        assert_eq!(serde_json::from_value::<Content>(json).unwrap(), content);
    }
}
