//! `messages[]` → `message.received` / `action.invoked`.
//!
//! | WhatsApp `type` | canonical |
//! |---|---|
//! | `text` | `Content::Text` |
//! | `image` `video` `audio` `document` `sticker` | `Content::Media` (media id, mime, caption, file name; the sha256 stays in `raw`) |
//! | `location` | `Content::Location` |
//! | `contacts` | one `Content::Contact` per card, `user_id` = the first `phones[].wa_id` (the 2nd and later cards de-duplicate on `<wamid>#<n>`) |
//! | `interactive` `button_reply` / `list_reply` | `action.invoked`, payload = the button/row id, label = title |
//! | `button` (template quick reply) | `action.invoked`, payload = the button payload, label = text |
//! | `reaction` | `Content::Reaction` (empty emoji = removed) |
//! | anything else | `Content::Unsupported` (with the error code and title when Meta gave one) |
//!
//! `context.id` becomes `reply_to`; `context.forwarded` / `frequently_forwarded` set
//! `forwarded`. The customer is `from` (phone number) or else `from_user_id` (business-scoped
//! user id), falling back to the change's `contacts[]`; the conversation is
//! `(phone_number_id, that id)`.

use omnibridge_sdk::{
    Action, Contact, Content, ConversationRef, EventBody, InboundEvent, Location, Media, MediaKind,
    Message, Participant,
};
use serde_json::Value;

use super::{UNKNOWN_THREAD, digest, raw_copy, timestamp};
use crate::wire::webhook::{ContactCard, ContactProfile, WireMedia, WireMessage};

/// The events for one message object.
pub fn events(account: &str, contacts: &[ContactProfile], raw: &Value) -> Vec<InboundEvent> {
    let parsed = WireMessage::deserialize_lenient(raw);
    let (thread, name) = customer(&parsed, contacts);
    let conversation = ConversationRef::new(account, thread.clone());
    let kind = parsed.kind.clone().unwrap_or_else(|| "missing".to_owned());
    let forwarded = parsed
        .context
        .as_ref()
        .is_some_and(|c| c.forwarded == Some(true) || c.frequently_forwarded == Some(true));
    let bodies: Vec<EventBody> = match body_for(&parsed, &kind) {
        Body::Action(action) => vec![EventBody::ActionInvoked(action)],
        Body::Contents(contents) => contents
            .into_iter()
            .map(|content| {
                let mut message = Message::new(content);
                message.forwarded = forwarded;
                EventBody::MessageReceived(message)
            })
            .collect(),
    };
    let mut sender = Participant::customer(thread);
    if let Some(name) = name {
        sender = sender.named(name);
    }
    let wamid = parsed.id.clone().filter(|id| !id.is_empty());
    bodies
        .into_iter()
        .enumerate()
        .map(|(index, body)| {
            let mut event = InboundEvent::new(conversation.clone(), body)
                .with_sender(sender.clone())
                .with_raw(raw_copy(raw));
            match &wamid {
                Some(id) => {
                    event = event.with_provider_message_id(id.as_str());
                    if index > 0 {
                        event = event.with_dedup_key(format!("{id}#{index}"));
                    }
                }
                None => event = event.with_dedup_key(format!("message:{}#{index}", digest(raw))),
            }
            if let Some(reply_to) = parsed.context.as_ref().and_then(|c| c.id.clone()) {
                event = event.with_reply_to(reply_to);
            }
            if let Some(at) = timestamp(parsed.timestamp.as_ref()) {
                event = event.with_occurred_at(at);
            }
            event
        })
        .collect()
}

enum Body {
    Action(Action),
    Contents(Vec<Content>),
}

fn body_for(message: &WireMessage, kind: &str) -> Body {
    let content = match kind {
        "text" => message
            .text
            .as_ref()
            .and_then(|t| t.body.clone())
            .map(Content::text),
        "image" => media(MediaKind::Image, message.image.as_ref()),
        "video" => media(MediaKind::Video, message.video.as_ref()),
        "audio" => media(MediaKind::Audio, message.audio.as_ref()),
        "document" => media(MediaKind::Document, message.document.as_ref()),
        "sticker" => media(MediaKind::Sticker, message.sticker.as_ref()),
        "location" => message.location.as_ref().and_then(|l| {
            let mut location = Location::new(l.latitude?, l.longitude?);
            location.name.clone_from(&l.name);
            location.address.clone_from(&l.address);
            Some(Content::Location(location))
        }),
        "contacts" => {
            let cards: Vec<Content> = message.contacts.iter().flatten().map(contact).collect();
            if !cards.is_empty() {
                return Body::Contents(cards);
            }
            None
        }
        "interactive" => {
            let choice = message
                .interactive
                .as_ref()
                .and_then(|i| i.button_reply.as_ref().or(i.list_reply.as_ref()));
            if let Some(id) = choice.and_then(|c| c.id.clone()) {
                let mut action = Action::new(id);
                action.label = choice.and_then(|c| c.title.clone());
                return Body::Action(action);
            }
            let sub = message.interactive.as_ref().and_then(|i| i.kind.clone());
            return Body::Contents(vec![Content::unsupported(format!(
                "interactive.{}",
                sub.unwrap_or_else(|| "missing".to_owned())
            ))]);
        }
        "button" => {
            let button = message.button.as_ref();
            if let Some(payload) = button.and_then(|b| b.payload.clone().or_else(|| b.text.clone()))
            {
                let mut action = Action::new(payload);
                action.label = button.and_then(|b| b.text.clone());
                return Body::Action(action);
            }
            None
        }
        "reaction" => message.reaction.as_ref().and_then(|r| {
            Some(Content::Reaction {
                to: r.message_id.clone()?.into(),
                emoji: r.emoji.clone().unwrap_or_default(),
            })
        }),
        _ => None,
    };
    Body::Contents(vec![content.unwrap_or_else(|| unsupported(message, kind))])
}

fn unsupported(message: &WireMessage, kind: &str) -> Content {
    match message.errors.as_ref().and_then(|errors| errors.first()) {
        Some(error) => Content::unsupported(format!(
            "{kind} (error {}: {})",
            error.code_text(),
            error.describe()
        )),
        None => Content::unsupported(kind),
    }
}

fn media(kind: MediaKind, wire: Option<&WireMedia>) -> Option<Content> {
    let wire = wire?;
    let mut media = Media::new(kind);
    media.provider_media_id.clone_from(&wire.id);
    media.mime_type.clone_from(&wire.mime_type);
    media.caption.clone_from(&wire.caption);
    media.filename.clone_from(&wire.filename);
    Some(Content::Media(media))
}

fn contact(card: &ContactCard) -> Content {
    let name = card
        .name
        .as_ref()
        .and_then(|n| n.formatted_name.clone().or_else(|| n.first_name.clone()))
        .unwrap_or_default();
    let mut contact = Contact::named(name);
    contact.phones = card
        .phones
        .iter()
        .flatten()
        .filter_map(|p| p.phone.clone())
        .collect();
    contact.user_id = card
        .phones
        .iter()
        .flatten()
        .find_map(|p| p.wa_id.clone().filter(|id| !id.is_empty()));
    contact.emails = card
        .emails
        .iter()
        .flatten()
        .filter_map(|e| e.email.clone())
        .collect();
    Content::Contact(contact)
}

/// The customer's id (phone number first, else business-scoped id) and display name.
fn customer(message: &WireMessage, contacts: &[ContactProfile]) -> (String, Option<String>) {
    let matches = |profile: &&ContactProfile| {
        (message.from.is_some() && profile.wa_id == message.from)
            || (message.from_user_id.is_some() && profile.user_id == message.from_user_id)
    };
    let profile = contacts.iter().find(matches).or_else(|| {
        if contacts.len() == 1 {
            contacts.first()
        } else {
            None
        }
    });
    let thread = message
        .from
        .clone()
        .or_else(|| message.from_user_id.clone())
        .or_else(|| profile.and_then(|p| p.wa_id.clone().or_else(|| p.user_id.clone())))
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| UNKNOWN_THREAD.to_owned());
    let name = profile.and_then(|p| p.profile.as_ref()?.name.clone());
    (thread, name)
}

impl WireMessage {
    /// Reads a message; one that does not fit the documented shape keeps at least its id,
    /// sender and type so it becomes an `unsupported` event of the right conversation.
    fn deserialize_lenient(raw: &Value) -> Self {
        serde::Deserialize::deserialize(raw).unwrap_or_else(|_| {
            let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
            Self {
                from: text("from"),
                from_user_id: text("from_user_id"),
                id: text("id"),
                timestamp: raw.get("timestamp").cloned(),
                kind: Some(format!("malformed.{}", text("type").unwrap_or_default())),
                ..Self::default()
            }
        })
    }
}
