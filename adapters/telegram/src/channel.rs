//! [`TelegramChannel`]: the [`Channel`] implementation for one Telegram bot.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use omnibridge_sdk::{
    AttachmentLimits, ButtonLimits, Capabilities, Channel, ChannelContext, ChannelError,
    ChannelKind, ChannelState, EventBody, FetchedMedia, Formatting, InboundEvent, Inbox,
    MEDIA_TOO_LARGE, Media, MediaKind, OutboundAttachment, OutboundMessage, ProviderMessageId,
    SendReceipt, WebhookRequest,
};
use teloxide_core::Bot;
use teloxide_core::net::Download;
use teloxide_core::payloads::{AnswerCallbackQuerySetters, SendMessageSetters, SetWebhookSetters};
use teloxide_core::requests::Requester;
use teloxide_core::types::{
    AllowedUpdate, CallbackQueryId, ChatId, FileId, InputFile, MessageId, ReplyParameters,
};
use tokio_util::sync::CancellationToken;

use crate::config::{Mode, TelegramConfig, TelegramSecrets};
use crate::errors::{self, BOT_BLOCKED, ConfigError};
use crate::inbound::callback::{self, CallbackData};
use crate::inbound::{self, Normalized, SECRET_HEADER};
use crate::outbound::{self, render};

/// The `type` of Telegram channels in `[[channels]]`, and their [`ChannelKind`].
pub const KIND: &str = "telegram";

/// How long answering a callback query may take before the update goes on without it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// One Telegram bot.
pub struct TelegramChannel {
    pub(crate) config: TelegramConfig,
    secrets: TelegramSecrets,
    /// The configured channel id: the `account` of every conversation of this bot.
    pub(crate) account: String,
    /// `<server.public_url>/webhooks/<id>`.
    webhook_url: String,
    kind: ChannelKind,
    capabilities: Capabilities,
    pub(crate) bot: Bot,
    pub(crate) state: Option<Arc<dyn ChannelState>>,
    /// Telegram's per-bot and per-chat send rates, kept before Telegram answers 429.
    throttle: outbound::throttle::Throttle,
    /// What `/readyz` shows while something needs the operator (a webhook blocking polling).
    problem: Mutex<Option<(String, String)>>,
}

impl std::fmt::Debug for TelegramChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramChannel")
            .field("account", &self.account)
            .field("mode", &self.config.mode)
            .finish_non_exhaustive()
    }
}

/// Largest file a bot may upload, in bytes (Bot API: 50 MB).
pub const MAX_UPLOAD_BYTES: u64 = 50 * 1000 * 1000;

/// What Telegram renders, as the bridge should shape it: 4096-character texts, up to 10
/// inline buttons (payload and URL) with labels of at most 64 characters, replies, files up
/// to 50 MB (images, video and audio go as such, anything else as a document). The
/// channel escapes plain text for its parse mode itself, so the bridge hands it plain text.
pub fn capabilities() -> Capabilities {
    Capabilities::text_only(render::MAX_TEXT)
        .with_buttons(ButtonLimits::new(10, 64, true))
        .with_formatting(Formatting::Plain)
        .with_reply_to()
        .with_attachments(AttachmentLimits::new(
            vec![
                MediaKind::Image,
                MediaKind::Video,
                MediaKind::Audio,
                MediaKind::Document,
            ],
            MAX_UPLOAD_BYTES,
        ))
}

impl TelegramChannel {
    /// Builds the channel from its config, the secrets the bridge resolved from env, and
    /// the bridge's context (id, public URL, durable state).
    pub fn new(
        config: TelegramConfig,
        secrets: TelegramSecrets,
        cx: &ChannelContext,
    ) -> Result<Self, ConfigError> {
        let kind = ChannelKind::new(KIND).map_err(ConfigError::Invalid)?;
        let api = reqwest::Url::parse(&config.api_base).map_err(|_| {
            ConfigError::Invalid(format!("api_base {:?} is not a URL", config.api_base))
        })?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(
                u64::from(config.poll_timeout_secs) + 15,
            ))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|_| ConfigError::Invalid("the HTTP client could not be built".into()))?;
        let bot = Bot::with_client(secrets.bot_token.clone(), client).set_api_url(api);
        Ok(Self {
            webhook_url: format!("{}/webhooks/{}", cx.public_url.trim_end_matches('/'), cx.id),
            account: cx.id.clone(),
            config,
            secrets,
            kind,
            capabilities: capabilities(),
            bot,
            state: cx.state.clone(),
            throttle: outbound::throttle::Throttle::new(),
            problem: Mutex::new(None),
        })
    }

    /// The channel's config.
    pub fn config(&self) -> &TelegramConfig {
        &self.config
    }

    /// The URL `setWebhook` registers.
    pub fn webhook_url(&self) -> &str {
        &self.webhook_url
    }

    /// Shows `problem` (code, reason) on `/readyz` until cleared with `None`.
    pub(crate) fn report(&self, problem: Option<(&str, String)>) {
        if let Ok(mut slot) = self.problem.lock() {
            *slot = problem.map(|(code, reason)| (code.to_owned(), reason));
        }
    }

    /// Registers our webhook with Telegram: our URL, the secret token, the update types
    /// we handle.
    pub async fn set_webhook(&self) -> Result<(), ChannelError> {
        let url = reqwest::Url::parse(&self.webhook_url).map_err(|_| {
            ChannelError::rejected("invalid_public_url", "server.public_url is not a URL")
        })?;
        let mut request = self.bot.set_webhook(url).allowed_updates(allowed_updates());
        if let Some(secret) = &self.secrets.webhook_secret {
            request = request.secret_token(secret.clone());
        }
        request.await.map_err(errors::from_request)?;
        Ok(())
    }

    /// Completes a normalised update with what needs I/O: resolves a long button payload,
    /// answers the callback query, remembers a block. Never fails: a lost lookup or answer
    /// still yields the event.
    pub(crate) async fn complete(&self, normalized: Normalized) -> InboundEvent {
        let mut event = normalized.event;
        if let Some(pending) = normalized.callback {
            if let (CallbackData::Token(token), EventBody::ActionInvoked(action)) =
                (&pending.data, &mut event.body)
            {
                match self.resolve_token(token).await {
                    Some(payload) => action.payload = payload,
                    None => tracing::warn!(
                        channel_id = %self.account,
                        "A button's stored payload is gone; the action carries an empty payload."
                    ),
                }
            }
            let payment =
                matches!(&event.body, EventBody::ActionInvoked(a) if a.payload.starts_with("pay:"));
            self.answer_callback(&pending.query_id, payment).await;
        }
        if let Some((chat, blocked)) = normalized.blocked {
            self.mark_blocked(&chat, blocked).await;
        }
        event
    }

    async fn resolve_token(&self, token: &str) -> Option<String> {
        let state = self.state.as_ref()?;
        let bytes = state.get(&callback::state_key(token)).await.ok()??;
        String::from_utf8(bytes).ok()
    }

    /// Answers a button tap so the customer's client stops its spinner; payment buttons get
    /// a short status text.
    async fn answer_callback(&self, query_id: &str, payment: bool) {
        let mut request = self
            .bot
            .answer_callback_query(CallbackQueryId(query_id.to_owned()));
        if payment {
            request = request.text("Processing your payment…");
        }
        match tokio::time::timeout(ANSWER_TIMEOUT, request).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                let error = errors::from_request(error);
                tracing::debug!(code = error.code(), "answerCallbackQuery failed.");
            }
            Err(_) => tracing::debug!("answerCallbackQuery timed out."),
        }
    }

    async fn mark_blocked(&self, chat: &str, blocked: bool) {
        let Some(state) = &self.state else { return };
        let key = blocked_key(chat);
        let result = if blocked {
            state.put(&key, b"1").await
        } else {
            state.delete(&key).await
        };
        if let Err(error) = result {
            tracing::warn!(%error, "Could not record the customer's block state.");
        }
    }

    async fn is_blocked(&self, chat: &str) -> bool {
        match &self.state {
            Some(state) => matches!(state.get(&blocked_key(chat)).await, Ok(Some(_))),
            None => false,
        }
    }

    /// Downloads a file by its id: `getFile` (whose `file_size` is checked against the cap
    /// first), then the file endpoint, capped while streaming. The download URL holds the
    /// token: it never reaches a log or an error.
    pub async fn download(
        &self,
        file_id: &str,
        max_bytes: u64,
    ) -> Result<FetchedMedia, ChannelError> {
        let file = self
            .bot
            .get_file(FileId(file_id.to_owned()))
            .await
            .map_err(errors::from_request)?;
        let too_large = |size: u64| {
            ChannelError::rejected(
                MEDIA_TOO_LARGE,
                format!("the media is {size} bytes, over the channel's cap of {max_bytes} bytes"),
            )
        };
        if u64::from(file.meta.size) > max_bytes {
            return Err(too_large(u64::from(file.meta.size)));
        }
        let mut stream = self.bot.download_file_stream(&file.path);
        let mut bytes = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| {
                ChannelError::transient(format!(
                    "the file download failed ({})",
                    if error.is_timeout() {
                        "timeout"
                    } else {
                        "network"
                    }
                ))
            })?;
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max_bytes {
                return Err(too_large(bytes.len() as u64));
            }
        }
        Ok(FetchedMedia::new(bytes.freeze(), None))
    }
}

impl TelegramChannel {
    /// Uploads one stored file: `sendPhoto`, `sendVideo` or `sendAudio` by its MIME type,
    /// else `sendDocument`.
    async fn send_file(
        &self,
        chat_id: ChatId,
        attachment: &OutboundAttachment,
    ) -> Result<ProviderMessageId, ChannelError> {
        let bytes = attachment.bytes.clone().ok_or_else(|| {
            ChannelError::rejected(
                "attachment_missing",
                "an attachment's bytes were not loaded",
            )
        })?;
        let name = attachment
            .filename
            .clone()
            .unwrap_or_else(|| attachment.media_id.clone());
        let file = InputFile::memory(bytes).file_name(name);
        let mime = attachment.mime_type.as_deref().unwrap_or_default();
        self.throttle.acquire(&chat_id.0.to_string()).await;
        let sent = if mime.starts_with("image/") && mime != "image/svg+xml" {
            self.bot.send_photo(chat_id, file).await
        } else if mime.starts_with("video/") {
            self.bot.send_video(chat_id, file).await
        } else if mime.starts_with("audio/") {
            self.bot.send_audio(chat_id, file).await
        } else {
            self.bot.send_document(chat_id, file).await
        }
        .map_err(errors::from_request)?;
        Ok(inbound::message::provider_id(&sent.chat, sent.id.0))
    }
}

/// The update types we handle, for `setWebhook` and `getUpdates`.
pub(crate) fn allowed_updates() -> Vec<AllowedUpdate> {
    vec![
        AllowedUpdate::Message,
        AllowedUpdate::EditedMessage,
        AllowedUpdate::CallbackQuery,
        AllowedUpdate::MyChatMember,
    ]
}

fn blocked_key(chat: &str) -> String {
    format!("blocked:{chat}")
}

/// `<chat>:<message>` → the message id.
fn message_id(id: &ProviderMessageId) -> Option<MessageId> {
    let (_, message) = id.as_str().rsplit_once(':')?;
    message.parse().ok().map(MessageId)
}

#[async_trait::async_trait]
impl Channel for TelegramChannel {
    fn kind(&self) -> ChannelKind {
        self.kind.clone()
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        match (&self.secrets.webhook_secret, self.config.mode) {
            (Some(secret), Mode::Webhook) => {
                inbound::verify_secret(secret, req.header(SECRET_HEADER))
            }
            _ => Err(ChannelError::Unauthorized {
                reason: "webhooks_not_enabled",
            }),
        }
    }

    fn normalize(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        inbound::parse_update(&self.account, req.body).map(|n| vec![n.event])
    }

    async fn receive(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        let normalized = inbound::parse_update(&self.account, req.body)?;
        Ok(vec![self.complete(normalized).await])
    }

    async fn listen(
        &self,
        inbox: Arc<dyn Inbox>,
        stop: CancellationToken,
    ) -> Result<(), ChannelError> {
        match self.config.mode {
            Mode::Polling => crate::poll::run(self, inbox, stop).await,
            Mode::Webhook => {
                if self.config.set_webhook {
                    crate::poll::until_webhook_set(self, &stop).await;
                }
                stop.cancelled().await;
                Ok(())
            }
        }
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        let chat = &msg.conversation.thread;
        if self.is_blocked(chat).await {
            return Err(ChannelError::rejected(
                BOT_BLOCKED,
                "the customer blocked the bot; messages resume once they unblock it",
            ));
        }
        let chat_id = chat.parse::<i64>().map(ChatId).map_err(|_| {
            ChannelError::rejected("invalid_chat", "the conversation is not a Telegram chat id")
        })?;
        let plan = outbound::plan(msg, self.config.parse_mode)?;
        if !plan.stored.is_empty() {
            let state = self.state.as_ref().ok_or_else(|| {
                ChannelError::rejected(
                    "payload_too_long",
                    "a button payload is over 64 bytes and the channel has no state to keep it",
                )
            })?;
            state
                .put_many(&plan.stored)
                .await
                .map_err(|error| ChannelError::transient(error.to_string()))?;
        }
        let reply = msg.reply_to.as_ref().and_then(message_id);
        let mut last = None;
        for part in plan.parts {
            self.throttle.acquire(chat).await;
            let mut request = self
                .bot
                .send_message(chat_id, part.text)
                .parse_mode(self.config.parse_mode.teloxide());
            if let Some(keyboard) = part.keyboard {
                request = request.reply_markup(keyboard);
            }
            if let Some(reply) = reply {
                request = request
                    .reply_parameters(ReplyParameters::new(reply).allow_sending_without_reply());
            }
            match request.await {
                Ok(sent) => last = Some(inbound::message::provider_id(&sent.chat, sent.id.0)),
                Err(error) => {
                    let error = errors::from_request(error);
                    if error.code() == BOT_BLOCKED {
                        self.mark_blocked(chat, true).await;
                    }
                    return Err(error);
                }
            }
        }
        for attachment in &msg.attachments {
            match self.send_file(chat_id, attachment).await {
                Ok(id) => last = Some(id),
                Err(error) => {
                    if error.code() == BOT_BLOCKED {
                        self.mark_blocked(chat, true).await;
                    }
                    return Err(error);
                }
            }
        }
        Ok(SendReceipt::sent(last))
    }

    async fn health_check(&self) -> Result<(), ChannelError> {
        match self.problem.lock().ok().and_then(|slot| slot.clone()) {
            Some((code, reason)) => Err(ChannelError::rejected(code, reason)),
            None => Ok(()),
        }
    }

    async fn fetch_media(
        &self,
        media: &Media,
        max_bytes: u64,
    ) -> Result<Option<FetchedMedia>, ChannelError> {
        let Some(id) = &media.provider_media_id else {
            return Ok(None);
        };
        if let Some(size) = media.size_bytes.filter(|size| *size > max_bytes) {
            return Err(ChannelError::rejected(
                MEDIA_TOO_LARGE,
                format!("the media is {size} bytes, over the channel's cap of {max_bytes} bytes"),
            ));
        }
        let mut fetched = self.download(id, max_bytes).await?;
        fetched.mime_type = media.mime_type.clone();
        Ok(Some(fetched))
    }
}
