//! [`WebChatChannel`]: the web chat as an omnibridge [`Channel`].
//!
//! Inbound traffic does not come through webhooks but through the bridge's WebSocket route,
//! which parses frames and turns them into events with
//! [`normalize_frame`](WebChatChannel::normalize_frame). Outbound messages are published to
//! the visitor's open tabs through the [`SessionHub`].

use std::sync::Arc;

use omnibridge_sdk::{
    Action, ButtonLimits, Capabilities, Channel, ChannelError, ChannelKind, Content,
    ConversationRef, InboundEvent, OutboundMessage, Participant, ProviderMessageId, Receipts,
    SendReceipt,
};
use serde::Deserialize;

use crate::frames::{ClientFrame, MAX_TEXT_CHARS, MessageFrame, ServerFrame};
use crate::hub::SessionHub;
use crate::session::{SessionId, SessionTokens};

/// The channel kind, `webchat`.
pub const KIND: &str = "webchat";

/// The `[[channels]]` table of a web-chat channel.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebChatConfig {
    /// The site this chat belongs to; the `account` of every conversation.
    pub account: String,
    /// Longest business message, in characters (1 to 4096; default 4096). Longer replies are
    /// split by the bridge.
    #[serde(default)]
    pub max_text_chars: Option<usize>,
}

impl WebChatConfig {
    /// A config for `account` with default limits.
    pub fn new(account: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            max_text_chars: None,
        }
    }

    /// Sets the longest business message.
    pub fn with_max_text_chars(mut self, max: usize) -> Self {
        self.max_text_chars = Some(max);
        self
    }
}

/// The web-chat channel of one site.
#[derive(Debug)]
pub struct WebChatChannel {
    /// The site, as conversation account.
    account: String,
    /// What the widget renders.
    capabilities: Capabilities,
    /// Live connections, shared with the bridge's WebSocket route.
    hub: Arc<SessionHub>,
    /// Session tokens, shared with the bridge's WebSocket route.
    tokens: SessionTokens,
}

impl WebChatChannel {
    /// A web-chat channel publishing through `hub` and signing sessions with `tokens`.
    pub fn new(config: WebChatConfig, hub: Arc<SessionHub>, tokens: SessionTokens) -> Self {
        let max_text = config
            .max_text_chars
            .unwrap_or(MAX_TEXT_CHARS)
            .clamp(1, MAX_TEXT_CHARS);
        let capabilities = Capabilities::text_only(max_text)
            .with_buttons(ButtonLimits::new(10, 40, true))
            .with_receipts(Receipts::Delivered);
        Self {
            account: config.account,
            capabilities,
            hub,
            tokens,
        }
    }

    /// The site this chat belongs to.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The hub this channel publishes through.
    pub fn hub(&self) -> &Arc<SessionHub> {
        &self.hub
    }

    /// The session token issuer.
    pub fn tokens(&self) -> &SessionTokens {
        &self.tokens
    }

    /// The conversation of a visitor session.
    pub fn conversation(&self, session: &SessionId) -> ConversationRef {
        ConversationRef::new(self.account.clone(), session.as_str())
    }

    /// Turns a visitor's frame into the event to append: `message.received` for `message`,
    /// `action.invoked` for `action`, `None` for `ping`. The provider message id is the
    /// widget's `client_msg_id`; the de-duplication key is `<session>:<client_msg_id>`, so two
    /// visitors can never collide. Pure: no I/O, no clock.
    pub fn normalize_frame(&self, session: &SessionId, frame: ClientFrame) -> Option<InboundEvent> {
        let conversation = self.conversation(session);
        let (event, client_msg_id) = match frame {
            ClientFrame::Message {
                text,
                client_msg_id,
            } => (
                InboundEvent::message(conversation, Content::text(text)),
                client_msg_id,
            ),
            ClientFrame::Action {
                payload,
                label,
                client_msg_id,
            } => {
                let mut action = Action::new(payload);
                action.label = label;
                (InboundEvent::action(conversation, action), client_msg_id)
            }
            ClientFrame::Ping => return None,
        };
        let dedup_key = format!("{session}:{client_msg_id}");
        Some(
            event
                .with_sender(Participant::customer(session.as_str()))
                .with_provider_message_id(client_msg_id)
                .with_dedup_key(dedup_key),
        )
    }
}

#[async_trait::async_trait]
impl Channel for WebChatChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::new(KIND).unwrap_or_else(|_| unreachable!("`webchat` is a valid kind"))
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Publishes a `message` frame (with `seq` unset) to every open tab of the session in
    /// `msg.conversation.thread`. `delivered` when a tab took it, `sent` when the visitor is
    /// offline: they get it on reconnect, when the bridge replays from the bus.
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        if msg.conversation.account != self.account {
            return Err(ChannelError::rejected(
                "wrong_account",
                "the conversation belongs to another web-chat site",
            ));
        }
        let session = SessionId::parse(&msg.conversation.thread).map_err(|_| {
            ChannelError::rejected("invalid_session", "the thread is not a web-chat session id")
        })?;
        let frame = ServerFrame::Message(MessageFrame::from_outbound(msg));
        let reached = self.hub.publish(&session, frame);
        let id = Some(ProviderMessageId::new(msg.id.as_str()));
        tracing::debug!(connections = reached, "Published a web-chat message.");
        Ok(if reached > 0 {
            SendReceipt::delivered(id)
        } else {
            SendReceipt::sent(id)
        })
    }
}
