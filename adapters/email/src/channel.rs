//! [`EmailChannel`]: the [`Channel`] implementation. IMAP follows the mailbox
//! ([`Channel::listen`]), the raw-MIME webhook is verified ([`Channel::verify`]) and threaded
//! ([`Channel::receive`]), SMTP sends ([`Channel::send`]), attachments are read back from the
//! kept raw mail ([`Channel::fetch_media`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use omnibridge_sdk::{
    AttachmentLimits, Capabilities, Channel, ChannelContext, ChannelError, ChannelKind,
    ChannelState, FetchedMedia, Formatting, InboundEvent, Inbox, MEDIA_TOO_LARGE, Media, MediaKind,
    OutboundMessage, SendReceipt, WebhookRequest,
};
use tokio_util::sync::CancellationToken;

use crate::config::{EmailConfig, EmailSecrets};
use crate::imap::{ImapHealth, ImapState};
use crate::inbound::{MailIngest, RAW_PREFIX};
use crate::listen::{InboxSink, StateCursor};
use crate::outbound::{Sender, compose};
use crate::sender_check::SenderChecker;
use crate::smtp::{SmtpError, SmtpSender};
use crate::threading::ThreadIndex;
use crate::webhook;

/// The `type` of email channels in `[[channels]]`.
pub const KIND: &str = "email";

/// Longest text we send in one mail (characters); mail has no practical limit.
pub const MAX_TEXT_CHARS: usize = 100_000;

/// Largest attachment we send, in bytes (most providers refuse mails over 25 MB).
pub const MAX_ATTACHMENT_BYTES: u64 = 20 * 1024 * 1024;

/// What email renders: no buttons, long text, HTML, attachments, no read receipts (a sent
/// mail is "sent"; only a DSN says more, and then only "failed").
pub fn capabilities() -> Capabilities {
    Capabilities::text_only(MAX_TEXT_CHARS)
        .with_formatting(Formatting::Html)
        .with_attachments(AttachmentLimits::new(
            vec![
                MediaKind::Image,
                MediaKind::Video,
                MediaKind::Audio,
                MediaKind::Document,
            ],
            MAX_ATTACHMENT_BYTES,
        ))
}

/// One business mailbox.
pub struct EmailChannel {
    kind: ChannelKind,
    config: EmailConfig,
    secrets: EmailSecrets,
    capabilities: Capabilities,
    ingest: MailIngest,
    smtp: SmtpSender,
    sender: Sender,
    state: Arc<dyn ChannelState>,
    imap_health: ImapHealth,
}

impl EmailChannel {
    /// Builds the channel; `cx` must carry the bridge's channel state.
    pub fn new(
        config: EmailConfig,
        secrets: EmailSecrets,
        cx: &ChannelContext,
    ) -> Result<Self, ChannelError> {
        let invalid = |reason: String| ChannelError::rejected("invalid_config", reason);
        let state = cx
            .state
            .clone()
            .ok_or_else(|| invalid("the email channel needs the bridge's channel state".into()))?;
        let (local, domain) = config.address_parts().map_err(|e| invalid(e.to_string()))?;
        let threads = ThreadIndex::new(state.clone(), &local, &domain);
        let sender_check =
            SenderChecker::new(&config.sender_check).map_err(|e| invalid(e.to_string()))?;
        if matches!(
            config.sender_check,
            crate::sender_check::SenderCheckSettings::None
        ) {
            tracing::warn!(channel_id = %cx.id,
                "sender_check is off: any mail claiming the customer's address can confirm payments by reply (local development only)");
        }
        let smtp = SmtpSender::new(config.smtp.clone(), secrets.smtp.clone())
            .map_err(|e| invalid(e.to_string()))?;
        let from = match &config.display_name {
            Some(name) if !name.trim().is_empty() => {
                format!(
                    "\"{}\" <{}>",
                    name.replace(['"', '\\'], ""),
                    config.address.trim()
                )
            }
            _ => config.address.trim().to_owned(),
        };
        let sender = Sender {
            from,
            subject_token: config.subject_token,
        };
        let kind = ChannelKind::new(KIND).map_err(invalid)?;
        Ok(Self {
            kind,
            ingest: MailIngest {
                threads,
                state: state.clone(),
                sender_check: Arc::new(sender_check),
                account: cx.id.clone(),
            },
            config,
            secrets,
            capabilities: capabilities(),
            smtp,
            sender,
            state,
            imap_health: ImapHealth::default(),
        })
    }

    /// The IMAP follower's state (for health checks and tests).
    pub fn imap_health(&self) -> ImapHealth {
        self.imap_health.clone()
    }

    /// Turns one raw mail into events (what IMAP and the webhook both do).
    pub async fn events_for(&self, raw: &[u8]) -> Result<Vec<InboundEvent>, ChannelError> {
        self.ingest.events(raw).await
    }
}

#[async_trait::async_trait]
impl Channel for EmailChannel {
    fn kind(&self) -> ChannelKind {
        self.kind.clone()
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        if req.body.len() > self.config.max_body_bytes {
            return Err(ChannelError::rejected(
                omnibridge_sdk::BODY_TOO_LARGE,
                format!(
                    "the mail is larger than this channel's max_body_bytes ({} bytes)",
                    self.config.max_body_bytes
                ),
            ));
        }
        webhook::verify(
            self.secrets.webhook_secret.as_deref(),
            req.header(webhook::TIMESTAMP_HEADER),
            req.header(webhook::SIGNATURE_HEADER),
            req.body,
            chrono::Utc::now().timestamp(),
            self.config.webhook_tolerance_secs,
        )
        .map_err(|refusal| ChannelError::Unauthorized {
            reason: refusal.reason(),
        })
    }

    async fn receive(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        self.ingest.events_batch(&[req.body.as_ref()], false).await
    }

    async fn listen(
        &self,
        inbox: Arc<dyn Inbox>,
        stop: CancellationToken,
    ) -> Result<(), ChannelError> {
        let keep = Duration::from_secs(self.config.keep_raw_mail_hours.saturating_mul(3600));
        let prune = crate::listen::prune_raw_mail(self.state.clone(), keep, stop.clone());
        let follow = async {
            let (Some(settings), Some(auth)) = (&self.config.imap, &self.secrets.imap) else {
                stop.cancelled().await;
                return Ok(());
            };
            let cursor = Arc::new(StateCursor::new(self.state.clone()));
            let sink = Arc::new(InboxSink::new(self.ingest.clone(), inbox));
            crate::imap::follow(
                settings.clone(),
                auth.clone(),
                cursor,
                sink,
                self.imap_health.clone(),
                stop.clone(),
            )
            .await
            .map_err(|e| ChannelError::rejected("imap_config", e.to_string()))
        };
        let (followed, ()) = tokio::join!(follow, prune);
        followed
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        let token = msg.conversation.thread.as_str();
        let threads = &self.ingest.threads;
        let mut info = threads
            .thread(token)
            .await
            .map_err(ChannelError::transient)?
            .ok_or_else(|| {
                ChannelError::rejected(
                    "unknown_thread",
                    "this mailbox has no thread for the conversation (no customer address)",
                )
            })?;
        if msg.attachments.iter().any(|a| a.bytes.is_none()) {
            return Err(ChannelError::rejected(
                "attachment_missing",
                "an attachment's bytes were not loaded",
            ));
        }
        let mail = compose(msg, token, &info, threads, &self.sender);
        match self.smtp.send(&mail).await {
            Ok(()) => {}
            Err(SmtpError::Transient(reason)) => {
                return Err(ChannelError::transient(reason));
            }
            Err(SmtpError::Permanent { code, text }) => {
                return Err(ChannelError::rejected(format!("smtp_{code}"), text));
            }
            Err(SmtpError::Invalid(reason)) => {
                return Err(ChannelError::rejected("invalid_mail", reason));
            }
        }
        info.remember(&mail.message_id);
        let saved = async {
            threads.link(&mail.message_id, token).await?;
            threads.save_thread(token, &info).await
        }
        .await;
        if let Err(error) = saved {
            // The mail is gone; failing now would send it twice. The Message-ID carries the
            // token, so replies still find the thread.
            tracing::warn!(%error, "sent mail not recorded in the thread map");
        }
        Ok(SendReceipt::sent(Some(mail.message_id.clone().into())))
    }

    async fn health_check(&self) -> Result<(), ChannelError> {
        if self.config.imap.is_none() {
            return Ok(());
        }
        match self.imap_health.get() {
            ImapState::Connected | ImapState::Starting => Ok(()),
            ImapState::AuthFailed(reason) => Err(ChannelError::rejected(
                "imap_auth_failed",
                format!("the IMAP server refused the login: {reason}"),
            )),
            ImapState::Reconnecting(reason) => Err(ChannelError::transient(format!(
                "IMAP disconnected, reconnecting: {reason}"
            ))),
        }
    }

    async fn fetch_media(
        &self,
        media: &Media,
        max_bytes: u64,
    ) -> Result<Option<FetchedMedia>, ChannelError> {
        let Some(reference) = &media.provider_media_id else {
            return Ok(None);
        };
        let Some((key, index)) = reference.rsplit_once('#') else {
            return Ok(None);
        };
        if !key.starts_with(RAW_PREFIX) {
            return Ok(None);
        }
        let index: usize = index
            .parse()
            .map_err(|_| ChannelError::rejected("bad_media_reference", "not an attachment"))?;
        if let Some(size) = media.size_bytes
            && size > max_bytes
        {
            return Err(ChannelError::rejected(
                MEDIA_TOO_LARGE,
                format!("the attachment has {size} bytes; this channel stores at most {max_bytes}"),
            ));
        }
        let raw = self
            .state
            .get(key)
            .await
            .map_err(ChannelError::transient)?
            .ok_or_else(|| ChannelError::rejected("media_gone", "the mail is no longer kept"))?;
        let bytes = crate::parse::attachment_bytes(&raw, index)
            .ok_or_else(|| ChannelError::rejected("media_gone", "no such attachment"))?;
        if bytes.len() as u64 > max_bytes {
            return Err(ChannelError::rejected(
                MEDIA_TOO_LARGE,
                format!(
                    "the attachment has {} bytes; this channel stores at most {max_bytes}",
                    bytes.len()
                ),
            ));
        }
        Ok(Some(FetchedMedia::new(
            Bytes::from(bytes),
            media.mime_type.clone(),
        )))
    }
}
