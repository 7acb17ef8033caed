//! One Telegram `Message` (new or edited) → a `message.received` event.

use omnibridge_sdk::{
    Contact, Content, InboundEvent, Location, Media, MediaKind, Message as Canonical,
    ProviderMessageId,
};
use teloxide_core::types::{Chat, FileMeta, MediaKind as Tg, Message, MessageKind};

use super::{conversation, sender};

/// Keys of a message object that are metadata, not its content (to name unmapped types).
const METADATA: &[&str] = &[
    "message_id",
    "message_thread_id",
    "from",
    "sender_chat",
    "date",
    "chat",
    "edit_date",
    "reply_to_message",
    "forward_origin",
    "is_topic_message",
    "via_bot",
    "reply_markup",
    "entities",
    "caption",
    "caption_entities",
    "quote",
    "external_reply",
    "link_preview_options",
    "has_protected_content",
    "is_automatic_forward",
    "author_signature",
    "media_group_id",
    "effect_id",
    "sender_boost_count",
    "is_from_offline",
    "show_caption_above_media",
    "has_media_spoiler",
];

/// A message's provider id: message ids are per chat, so the chat is part of it.
pub fn provider_id(chat: &Chat, message_id: i32) -> ProviderMessageId {
    ProviderMessageId::new(format!("{}:{message_id}", chat.id.0))
}

/// The event for `msg`; `json` is its JSON (to name types we do not map). An edit carries
/// `edit_of` (the original's provider id) and the edit time.
pub fn event(
    account: &str,
    msg: &Message,
    json: Option<&serde_json::Value>,
    edited: bool,
) -> InboundEvent {
    let id = provider_id(&msg.chat, msg.id.0);
    let (content, forwarded, reply_to) = match &msg.kind {
        MessageKind::Common(common) => (
            content(&common.media_kind, json),
            common.forward_origin.is_some(),
            common
                .reply_to_message
                .as_deref()
                .map(|original| provider_id(&original.chat, original.id.0)),
        ),
        _ => (Content::unsupported(unmapped_type(json)), false, None),
    };
    let mut message = Canonical::new(content);
    message.forwarded = forwarded;
    if edited {
        message.edit_of = Some(id.clone());
    }
    let occurred_at = match (edited, msg.edit_date()) {
        (true, Some(at)) => *at,
        _ => msg.date,
    };
    let mut event = InboundEvent::new(
        conversation(account, &msg.chat),
        omnibridge_sdk::EventBody::MessageReceived(message),
    )
    .with_provider_message_id(id)
    .with_occurred_at(occurred_at);
    if let Some(user) = &msg.from {
        event = event.with_sender(sender(user));
    }
    if let Some(reply_to) = reply_to {
        event = event.with_reply_to(reply_to);
    }
    event
}

/// The canonical content of a message's media kind.
fn content(kind: &Tg, json: Option<&serde_json::Value>) -> Content {
    match kind {
        Tg::Text(text) => Content::text(text.text.clone()),
        Tg::Photo(photo) => match photo.photo.iter().max_by_key(|size| size.file.size) {
            Some(largest) => media(
                MediaKind::Image,
                &largest.file,
                Some("image/jpeg".into()),
                photo.caption.clone(),
                None,
            ),
            None => Content::unsupported("photo"),
        },
        Tg::Document(doc) => media(
            MediaKind::Document,
            &doc.document.file,
            doc.document.mime_type.as_ref().map(ToString::to_string),
            doc.caption.clone(),
            doc.document.file_name.clone(),
        ),
        Tg::Voice(voice) => media(
            MediaKind::Audio,
            &voice.voice.file,
            Some(
                voice
                    .voice
                    .mime_type
                    .as_ref()
                    .map_or_else(|| "audio/ogg".into(), ToString::to_string),
            ),
            voice.caption.clone(),
            None,
        ),
        Tg::Audio(audio) => media(
            MediaKind::Audio,
            &audio.audio.file,
            audio.audio.mime_type.as_ref().map(ToString::to_string),
            audio.caption.clone(),
            audio.audio.file_name.clone(),
        ),
        Tg::Video(video) => media(
            MediaKind::Video,
            &video.video.file,
            video.video.mime_type.as_ref().map(ToString::to_string),
            video.caption.clone(),
            video.video.file_name.clone(),
        ),
        Tg::Sticker(sticker) => {
            let s = &sticker.sticker;
            let mime = if s.is_video() {
                "video/webm"
            } else if s.is_animated() {
                "application/x-tgsticker"
            } else {
                "image/webp"
            };
            let mut content = media(MediaKind::Sticker, &s.file, Some(mime.into()), None, None);
            if let (Content::Media(m), Some(emoji)) = (&mut content, &s.emoji) {
                m.caption = Some(emoji.clone());
            }
            content
        }
        Tg::Location(location) => Content::Location(Location::new(
            location.location.latitude,
            location.location.longitude,
        )),
        Tg::Venue(venue) => {
            let mut location = Location::new(
                venue.venue.location.latitude,
                venue.venue.location.longitude,
            );
            location.name = Some(venue.venue.title.clone());
            location.address = Some(venue.venue.address.clone());
            Content::Location(location)
        }
        Tg::Contact(contact) => {
            let c = &contact.contact;
            let name = match &c.last_name {
                Some(last) => format!("{} {last}", c.first_name),
                None => c.first_name.clone(),
            };
            let mut card = Contact::named(name);
            card.phones = vec![c.phone_number.clone()];
            card.user_id = c.user_id.map(|id| id.0.to_string());
            Content::Contact(card)
        }
        _ => Content::unsupported(unmapped_type(json)),
    }
}

fn media(
    kind: MediaKind,
    file: &FileMeta,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
) -> Content {
    let mut media = Media::new(kind);
    media.provider_media_id = Some(file.id.0.clone());
    media.mime_type = mime_type;
    media.caption = caption;
    media.filename = filename;
    media.size_bytes = Some(u64::from(file.size));
    Content::Media(media)
}

/// The name of a message's content key we do not map (`poll`, `dice`, `game`...).
fn unmapped_type(json: Option<&serde_json::Value>) -> String {
    json.and_then(serde_json::Value::as_object)
        .and_then(|object| {
            object
                .keys()
                .find(|key| !METADATA.contains(&key.as_str()))
                .cloned()
        })
        .unwrap_or_else(|| "message".into())
}
