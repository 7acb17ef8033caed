//! Whether a reply can reach the customer now, judged from the channel's reply window and the
//! conversation's latest events: WhatsApp's 24 h window (open, closed with an approved template
//! standing in, or closed), a Telegram customer who blocked the bot, an automated email.

use omnibridge_sdk::{Channel, Content, Envelope, EventBody, OutboundId, OutboundMessage};
use serde::Serialize;

use crate::channels::window::{self, Window};
use crate::store::Conversation;

/// The Telegram adapter's delivery code for a customer who blocked the bot.
const BOT_BLOCKED: &str = "bot_blocked";

/// How a reply would go out right now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub(super) struct ReplyStatus {
    /// `true` if a free-form reply (text, buttons) reaches the customer now.
    pub(super) possible: bool,
    /// `free_form`, `template` (the window is closed; the channel sends its approved
    /// template instead) or `none` (nothing can be delivered now).
    pub(super) via: String,
    /// Why a free-form reply is not possible, or what to keep in mind (an automated email).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) note: Option<String>,
}

impl ReplyStatus {
    fn free_form(note: Option<String>) -> Self {
        Self {
            possible: true,
            via: "free_form".into(),
            note,
        }
    }

    fn none(note: String) -> Self {
        Self {
            possible: false,
            via: "none".into(),
            note: Some(note),
        }
    }
}

/// The reply status of `conversation` on `channel` (`None` when the channel is not configured
/// here), given its `recent` events oldest first.
pub(super) fn status(
    conversation: &Conversation,
    channel: Option<&dyn Channel>,
    recent: &[Envelope],
    now: omnibridge_sdk::Timestamp,
) -> ReplyStatus {
    let Some(channel) = channel else {
        return ReplyStatus::none(
            "the conversation's channel is not configured on this bridge".into(),
        );
    };
    if blocked(recent) {
        return ReplyStatus::none(
            "the customer blocked the bot; nothing can be delivered until they unblock it".into(),
        );
    }
    let probe = OutboundMessage::text(
        OutboundId::new("ob_probe"),
        conversation.conversation.clone(),
        String::new(),
    );
    match window::check(channel, conversation.last_inbound_at, &probe, now) {
        Window::Open => ReplyStatus::free_form(automated(recent)),
        Window::Template(name) => ReplyStatus {
            possible: false,
            via: "template".into(),
            note: Some(format!(
                "the reply window is closed; a message goes out as the approved template {name:?}"
            )),
        },
        Window::Closed(reason) => ReplyStatus::none(reason),
    }
}

/// Whether the latest word on blocking says blocked: a `blocked` chat-member event, or a
/// send refused with `bot_blocked`, not followed by an unblock or a customer message.
fn blocked(recent: &[Envelope]) -> bool {
    for envelope in recent.iter().rev() {
        match &envelope.body {
            EventBody::MessageReceived(message) => {
                if let Content::ChatMember { status } = &message.content {
                    return status == "blocked";
                }
                return false;
            }
            EventBody::DeliveryUpdated(delivery)
                if delivery.code.as_deref() == Some(BOT_BLOCKED) =>
            {
                return true;
            }
            _ => {}
        }
    }
    false
}

/// A note when the customer's latest message was sent by a machine (an auto-reply).
fn automated(recent: &[Envelope]) -> Option<String> {
    let message = recent
        .iter()
        .rev()
        .find_map(|envelope| match &envelope.body {
            EventBody::MessageReceived(message) => Some(message),
            _ => None,
        })?;
    let kind = message.automated.as_deref()?;
    Some(format!(
        "the customer's latest message was automated ({kind}); a person may not read a reply soon"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use omnibridge_sdk::{ConversationRef, Delivery, DeliveryStatus, Message};

    use omnibridge_sdk::ConversationId;

    use super::*;

    fn envelope(body: EventBody) -> Envelope {
        super::super::test_envelope("telegram", body)
    }

    /// A channel with WhatsApp's 24 h window, optionally with an approved stand-in template.
    struct Windowed {
        capabilities: omnibridge_sdk::Capabilities,
        template: Option<String>,
    }

    #[async_trait::async_trait]
    impl Channel for Windowed {
        fn kind(&self) -> omnibridge_sdk::ChannelKind {
            omnibridge_sdk::ChannelKind::new("whatsapp").unwrap()
        }
        fn capabilities(&self) -> &omnibridge_sdk::Capabilities {
            &self.capabilities
        }
        async fn send(
            &self,
            _msg: &OutboundMessage,
        ) -> Result<omnibridge_sdk::SendReceipt, omnibridge_sdk::ChannelError> {
            Err(omnibridge_sdk::ChannelError::Malformed(
                "not in this test".into(),
            ))
        }
        fn window_template(&self, _msg: &OutboundMessage) -> Option<String> {
            self.template.clone()
        }
    }

    #[test]
    fn the_reply_window_decides_free_form_template_or_nothing() {
        let now = chrono::Utc::now();
        let conversation = |hours_ago: i64| Conversation {
            id: ConversationId::new("cv_1"),
            channel_id: "whatsapp".into(),
            channel: omnibridge_sdk::ChannelKind::new("whatsapp").unwrap(),
            conversation: ConversationRef::new("a", "t"),
            created_at: now,
            last_event_at: now,
            last_inbound_at: Some(now - chrono::Duration::hours(hours_ago)),
        };
        let mut channel = Windowed {
            capabilities: omnibridge_sdk::Capabilities::text_only(4096)
                .with_reply_window(std::time::Duration::from_secs(24 * 3600)),
            template: None,
        };
        let open = status(&conversation(1), Some(&channel), &[], now);
        assert_eq!((open.possible, open.via.as_str()), (true, "free_form"));
        let closed = status(&conversation(25), Some(&channel), &[], now);
        assert_eq!((closed.possible, closed.via.as_str()), (false, "none"));
        assert!(closed.note.unwrap().contains("window is closed"));
        channel.template = Some("order_update".into());
        let stand_in = status(&conversation(25), Some(&channel), &[], now);
        assert_eq!(
            (stand_in.possible, stand_in.via.as_str()),
            (false, "template")
        );
        assert!(stand_in.note.unwrap().contains("order_update"));
        let unconfigured = status(&conversation(1), None, &[], now);
        assert_eq!(unconfigured.via, "none");
    }

    #[test]
    fn blocking_and_automation_are_read_from_the_latest_events() {
        let blocked_member = envelope(EventBody::MessageReceived(Message::new(
            Content::ChatMember {
                status: "blocked".into(),
            },
        )));
        assert!(blocked(std::slice::from_ref(&blocked_member)));
        let hello = envelope(EventBody::MessageReceived(Message::new(Content::text(
            "hi",
        ))));
        assert!(!blocked(&[blocked_member, hello.clone()]));
        let mut refused = Delivery::new(DeliveryStatus::Failed);
        refused.code = Some(BOT_BLOCKED.into());
        assert!(blocked(&[
            hello.clone(),
            envelope(EventBody::DeliveryUpdated(refused))
        ]));

        assert_eq!(automated(&[hello]), None);
        let mut auto = Message::new(Content::text("I am out of office"));
        auto.automated = Some("auto_replied".into());
        let note = automated(&[envelope(EventBody::MessageReceived(auto))]).unwrap();
        assert!(note.contains("auto_replied"), "{note}");
    }
}
