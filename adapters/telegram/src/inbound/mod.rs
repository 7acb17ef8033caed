//! Webhook verification and normalisation: Telegram updates → canonical events. Pure: no
//! I/O, no clock, no panics, whatever the bytes. What needs I/O (resolving a long callback
//! payload, answering the callback, remembering a block) is described in [`Normalized`] and
//! done by the channel.

pub mod callback;
pub mod message;

use bytes::Bytes;
use omnibridge_sdk::{
    Action, ChannelError, Content, ConversationRef, InboundEvent, Participant, RawPayload,
};
use subtle::ConstantTimeEq;
use teloxide_core::types::{
    Chat, ChatMemberKind, ChatMemberUpdated, InlineKeyboardButtonKind, MaybeInaccessibleMessage,
    Update, UpdateKind, User,
};

use crate::inbound::callback::CallbackData;

/// The header Telegram echoes our `secret_token` in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// The update types the channel handles: what `setWebhook` and `getUpdates` ask for.
pub const ALLOWED_UPDATES: &[&str] = &[
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
];

/// Compares the secret header with ours in constant time, before anything parses the body.
pub fn verify_secret(expected: &str, received: Option<&str>) -> Result<(), ChannelError> {
    let received = received.ok_or(ChannelError::Unauthorized {
        reason: "missing_secret_token",
    })?;
    if bool::from(expected.as_bytes().ct_eq(received.as_bytes())) {
        Ok(())
    } else {
        Err(ChannelError::Unauthorized {
            reason: "bad_secret_token",
        })
    }
}

/// What one update becomes: its event, plus the follow-ups that need I/O.
#[derive(Debug)]
#[non_exhaustive]
pub struct Normalized {
    /// The canonical event (never absent: unknown updates become `unsupported`).
    pub event: InboundEvent,
    /// The update's id (the offset to acknowledge in polling mode is this + 1).
    pub update_id: u32,
    /// A callback query to answer, and its data to resolve.
    pub callback: Option<PendingCallback>,
    /// The customer blocked (`true`) or unblocked (`false`) the bot in this chat.
    pub blocked: Option<(String, bool)>,
}

/// A button tap awaiting `answerCallbackQuery` (and, for a long payload, the lookup).
#[derive(Debug)]
#[non_exhaustive]
pub struct PendingCallback {
    /// Telegram's callback query id.
    pub query_id: String,
    /// The button's data, decoded.
    pub data: CallbackData,
}

/// Parses one webhook body (a single `Update`).
pub fn parse_update(account: &str, body: &Bytes) -> Result<Normalized, ChannelError> {
    let raw = std::str::from_utf8(body)
        .map_err(|_| ChannelError::Malformed("the update is not UTF-8".into()))?;
    let update: Update = serde_json::from_str(raw)
        .map_err(|error| ChannelError::Malformed(format!("not a Telegram update: {error}")))?;
    let value: serde_json::Value = serde_json::from_str(raw)
        .map_err(|error| ChannelError::Malformed(format!("not JSON: {error}")))?;
    Ok(normalize(account, &update, &value))
}

/// Turns one parsed update (with its JSON, for names of types we do not map) into its
/// event. The de-duplication key is the `update_id` (unique per bot).
pub fn normalize(account: &str, update: &Update, value: &serde_json::Value) -> Normalized {
    let raw = RawPayload::capped("application/json", &value.to_string());
    let mut callback = None;
    let mut blocked = None;
    let event = match &update.kind {
        UpdateKind::Message(msg) => message::event(account, msg, value.get("message"), false),
        UpdateKind::EditedMessage(msg) => {
            message::event(account, msg, value.get("edited_message"), true)
        }
        UpdateKind::CallbackQuery(query) => {
            let data = CallbackData::decode(query.data.as_deref().unwrap_or_default());
            let (conversation, reply_to) = match &query.message {
                Some(msg) => (
                    conversation(account, msg.chat()),
                    Some(message::provider_id(msg.chat(), msg.id().0)),
                ),
                None => (
                    ConversationRef::new(account, query.from.id.0.to_string()),
                    None,
                ),
            };
            let mut action = Action::new(data.payload().unwrap_or_default());
            action.label = query
                .message
                .as_ref()
                .and_then(|msg| button_label(msg, query.data.as_deref()?));
            let mut event =
                InboundEvent::action(conversation, action).with_sender(sender(&query.from));
            if let Some(reply_to) = reply_to {
                event = event.with_reply_to(reply_to);
            }
            callback = Some(PendingCallback {
                query_id: query.id.0.clone(),
                data,
            });
            event
        }
        UpdateKind::MyChatMember(change) => {
            let status = member_status(change);
            if change.chat.is_private() {
                blocked = Some((change.chat.id.0.to_string(), status == "blocked"));
            }
            InboundEvent::message(
                conversation(account, &change.chat),
                Content::ChatMember {
                    status: status.to_owned(),
                },
            )
            .with_sender(sender(&change.from))
            .with_occurred_at(change.date)
        }
        _ => InboundEvent::message(
            ConversationRef::new(account, other_chat(value).unwrap_or_else(|| "bot".into())),
            Content::unsupported(update_type(value)),
        ),
    };
    Normalized {
        event: event
            .with_dedup_key(format!("update:{}", update.id.0))
            .with_raw(raw),
        update_id: update.id.0,
        callback,
        blocked,
    }
}

/// The conversation of a chat: private chats and groups alike are keyed by the chat id.
pub fn conversation(account: &str, chat: &Chat) -> ConversationRef {
    ConversationRef::new(account, chat.id.0.to_string())
}

/// The sender of a message: the user (in groups too, where the chat is the conversation).
pub fn sender(user: &User) -> Participant {
    Participant::customer(user.id.0.to_string()).named(user.full_name())
}

/// `blocked`/`unblocked` in private chats, `removed`/`added` in groups.
fn member_status(change: &ChatMemberUpdated) -> &'static str {
    let gone = matches!(
        change.new_chat_member.kind,
        ChatMemberKind::Banned(_) | ChatMemberKind::Left
    );
    match (change.chat.is_private(), gone) {
        (true, true) => "blocked",
        (true, false) => "unblocked",
        (false, true) => "removed",
        (false, false) => "added",
    }
}

/// The label of the button whose `callback_data` is `data`, on the message it was tapped on.
fn button_label(msg: &MaybeInaccessibleMessage, data: &str) -> Option<String> {
    let MaybeInaccessibleMessage::Regular(msg) = msg else {
        return None;
    };
    let markup = msg.reply_markup()?;
    markup
        .inline_keyboard
        .iter()
        .flatten()
        .find(
            |button| matches!(&button.kind, InlineKeyboardButtonKind::CallbackData(d) if d == data),
        )
        .map(|button| button.text.clone())
}

/// The key naming an update's type (`channel_post`, `poll`...), for `unsupported`.
fn update_type(value: &serde_json::Value) -> String {
    value
        .as_object()
        .and_then(|object| object.keys().find(|key| *key != "update_id").cloned())
        .unwrap_or_else(|| "unknown".into())
}

/// The chat of an update we do not map, when it has one.
fn other_chat(value: &serde_json::Value) -> Option<String> {
    let object = value.as_object()?;
    object
        .values()
        .find_map(|inner| inner.get("chat")?.get("id")?.as_i64())
        .map(|id| id.to_string())
}
