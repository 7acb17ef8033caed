//! [`WebChatChannel`]: the web chat as an omnibridge [`Channel`].
//!
//! Inbound traffic does not come through webhooks but through the bridge's WebSocket route,
//! which parses frames and turns them into events with
//! [`normalize_frame`](WebChatChannel::normalize_frame). Outbound messages are not pushed by
//! this crate: [`send`](Channel::send) only validates them, and the hosting bridge delivers
//! them by following the conversation's `message.sent` events on its bus (see the README).

use omnibridge_sdk::{
    Action, ButtonLimits, Capabilities, Channel, ChannelError, ChannelKind, Content,
    ConversationRef, InboundEvent, OutboundMessage, Participant, ProviderMessageId, Receipts,
    SendReceipt,
};
use serde::Deserialize;

use crate::frames::{ClientFrame, MAX_TEXT_CHARS};
use crate::origin::OriginPolicy;
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

/// What the widget renders with a longest business message of `max_text_chars` (clamped to
/// 1..=[`MAX_TEXT_CHARS`]): split text, up to 10 buttons with labels of at most 40
/// characters, URL buttons included, and delivery receipts.
pub fn capabilities(max_text_chars: usize) -> Capabilities {
    Capabilities::text_only(max_text_chars.clamp(1, MAX_TEXT_CHARS))
        .with_buttons(ButtonLimits::new(10, 40, true))
        .with_receipts(Receipts::Delivered)
}

/// The web-chat channel of one site.
#[derive(Debug)]
pub struct WebChatChannel {
    /// The channel kind, [`KIND`], parsed once.
    kind: ChannelKind,
    /// The site, as conversation account.
    account: String,
    /// What the widget renders.
    capabilities: Capabilities,
    /// Session tokens, shared with the bridge's WebSocket route.
    tokens: SessionTokens,
    /// Origins allowed to open the widget's socket (besides the bridge's own).
    origins: OriginPolicy,
}

impl WebChatChannel {
    /// A web-chat channel of `config.account` signing sessions with `tokens`.
    ///
    /// # Errors
    /// [`ChannelError::Rejected`] with code `invalid_kind` if [`KIND`] is not a valid
    /// [`ChannelKind`] (it is; the check keeps [`Channel::kind`] free of panics).
    pub fn new(config: WebChatConfig, tokens: SessionTokens) -> Result<Self, ChannelError> {
        let kind = ChannelKind::new(KIND)
            .map_err(|reason| ChannelError::rejected("invalid_kind", reason))?;
        let capabilities = capabilities(config.max_text_chars.unwrap_or(MAX_TEXT_CHARS));
        Ok(Self {
            kind,
            account: config.account,
            capabilities,
            tokens,
            origins: OriginPolicy::default(),
        })
    }

    /// Allows the widget's socket from `origins` (default: the bridge's own origin only).
    pub fn with_origins(mut self, origins: OriginPolicy) -> Self {
        self.origins = origins;
        self
    }

    /// Origins allowed to open the widget's socket.
    pub fn origins(&self) -> &OriginPolicy {
        &self.origins
    }

    /// The site this chat belongs to.
    pub fn account(&self) -> &str {
        &self.account
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
        self.kind.clone()
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Validates the message and reports it `sent`, with the outbound id as provider message
    /// id. Nothing is pushed from here: the hosting bridge delivers by following the
    /// conversation's `message.sent` events on its bus (replay after the widget's `after` seq,
    /// then live) and records a `delivered` delivery event itself when it writes the frame to
    /// a visitor's socket. An offline visitor is not an error; they get the message on
    /// reconnect.
    ///
    /// # Errors
    /// [`ChannelError::Rejected`] with code `wrong_account` when the conversation belongs to
    /// another site, `invalid_session` when `msg.conversation.thread` is not a session id.
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        if msg.conversation.account != self.account {
            return Err(ChannelError::rejected(
                "wrong_account",
                "the conversation belongs to another web-chat site",
            ));
        }
        SessionId::parse(&msg.conversation.thread).map_err(|_| {
            ChannelError::rejected("invalid_session", "the thread is not a web-chat session id")
        })?;
        Ok(SendReceipt::sent(Some(ProviderMessageId::new(
            msg.id.as_str(),
        ))))
    }
}
