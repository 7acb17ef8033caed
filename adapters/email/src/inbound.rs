//! One raw mail → canonical events, the same for IMAP and the webhook: parse, find the
//! thread, strip the quoted history, classify (automatic mail, bounce), decide whether the
//! mail may confirm a payment, and list its attachments as media for the bridge to store.

use std::sync::Arc;

use omnibridge_sdk::{
    ChannelError, ChannelState, ConfirmationCheck, Content, ConversationRef, Delivery, EventBody,
    Formatted, InboundEvent, Media, MediaKind, Message, Participant, ProviderMessageId, RawPayload,
};
use sha2::{Digest, Sha256};

use crate::parse::{ParsedMail, parse_mail};
use crate::quote::strip_quoted;
use crate::sender_check::{SenderChecker, SenderVerdict};
use crate::threading::{ThreadIndex, ThreadInfo, base_subject};

/// The state key prefix of raw mails kept until their attachments are stored.
pub const RAW_PREFIX: &str = "raw:";

/// Turns mails into events for one mailbox.
#[derive(Clone)]
pub struct MailIngest {
    /// The thread map.
    pub threads: ThreadIndex,
    /// The channel's state (raw mails for attachments).
    pub state: Arc<dyn ChannelState>,
    /// The sender check for payment confirmations.
    pub sender_check: Arc<SenderChecker>,
    /// `ConversationRef::account` (the channel id).
    pub account: String,
}

fn state_error(error: omnibridge_sdk::StateError) -> ChannelError {
    ChannelError::transient(error)
}

impl MailIngest {
    /// The events of several mails (in order), with their thread-map writes flushed in one
    /// durable write before this returns. `Malformed` mails are skipped with a warning when
    /// `skip_malformed`, else the first one fails the batch.
    pub async fn events_batch(
        &self,
        raws: &[&[u8]],
        skip_malformed: bool,
    ) -> Result<Vec<InboundEvent>, ChannelError> {
        let buffer = Arc::new(crate::state_buffer::BufferedState::new(self.state.clone()));
        let batch = MailIngest {
            threads: self.threads.with_state(buffer.clone()),
            state: buffer.clone(),
            sender_check: self.sender_check.clone(),
            account: self.account.clone(),
        };
        let mut events = Vec::new();
        for raw in raws {
            match batch.events(raw).await {
                Ok(mut more) => events.append(&mut more),
                Err(ChannelError::Malformed(reason)) if skip_malformed => {
                    // Never block a mailbox on one unreadable mail: skip it, say so.
                    tracing::warn!(%reason, "unreadable mail skipped");
                }
                Err(error) => return Err(error),
            }
        }
        buffer.flush().await.map_err(state_error)?;
        Ok(events)
    }

    /// The events of one mail. Errors: `Malformed` for bytes that are no mail (the caller
    /// answers 400 / skips), `Transient` when the state is unavailable (retry).
    pub async fn events(&self, raw: &[u8]) -> Result<Vec<InboundEvent>, ChannelError> {
        let parsed = parse_mail(raw).map_err(|e| ChannelError::Malformed(e.to_string()))?;
        let message_id = parsed
            .message_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .unwrap_or_else(|| {
                format!(
                    "sha256-{}@omnibridge.invalid",
                    hex::encode(Sha256::digest(raw))
                )
            });
        if let Some(events) = self.bounce_events(&parsed, &message_id).await? {
            return Ok(events);
        }
        let from = parsed.from.clone();
        let from_address = from.as_ref().map(|a| a.normalized()).unwrap_or_default();
        let recipients: Vec<String> = parsed
            .to
            .iter()
            .chain(&parsed.cc)
            .map(|a| a.email.clone())
            .collect();
        let recipient_refs: Vec<&str> = recipients.iter().map(String::as_str).collect();
        let subject = parsed.subject.clone().unwrap_or_default();
        let (token, joined) = self
            .threads
            .resolve(
                &message_id,
                &parsed.in_reply_to,
                &parsed.references,
                &recipient_refs,
                &subject,
            )
            .await
            .map_err(state_error)?;
        let mut info = self
            .threads
            .thread(&token)
            .await
            .map_err(state_error)?
            .unwrap_or_else(|| ThreadInfo {
                customer: from_address.clone(),
                customer_name: from.as_ref().and_then(|a| a.name.clone()),
                subject: base_subject(&subject),
                ..ThreadInfo::default()
            });
        if info.customer.is_empty() {
            info.customer.clone_from(&from_address);
        }
        if info.references.is_empty()
            && let Some(root) = parsed.references.first()
        {
            info.remember(root);
        }
        info.remember(&message_id);
        if parsed.auto.is_none() && from_address == info.customer {
            info.last_inbound = Some(message_id.clone());
        }
        self.threads
            .link(&message_id, &token)
            .await
            .map_err(state_error)?;
        self.threads
            .save_thread(&token, &info)
            .await
            .map_err(state_error)?;
        tracing::debug!(thread = %token, ?joined, attachments = parsed.attachments.len(), "mail threaded");

        let conversation = ConversationRef::new(self.account.clone(), token);
        let confirmation = self
            .confirmation(raw, &parsed, &info, &recipient_refs)
            .await;
        let stripped = strip_quoted(&parsed.text, parsed.html.as_deref());
        let content = match &parsed.html {
            Some(html) => Content::formatted_text(stripped.clone(), Formatted::html(html.clone())),
            None => Content::text(stripped.clone()),
        };
        let mut message = Message::new(content);
        message.subject = parsed.subject.clone();
        if stripped.trim() != parsed.text.trim() {
            message.full_text = Some(parsed.text.clone());
        }
        message.automated = parsed.auto.as_ref().map(|kind| kind.code().to_owned());
        message.confirmation = Some(confirmation);
        let sender = from.as_ref().map(|address| {
            let mut sender = Participant::customer(address.normalized());
            sender.display_name.clone_from(&address.name);
            sender
        });
        let occurred_at = parsed
            .date
            .as_deref()
            .and_then(|date| chrono::DateTime::parse_from_rfc3339(date).ok())
            .map(|date| date.with_timezone(&chrono::Utc));
        let reply_to = parsed
            .in_reply_to
            .first()
            .cloned()
            .map(ProviderMessageId::new);
        let headers_end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
            .unwrap_or(raw.len());
        let raw_headers = String::from_utf8_lossy(&raw[..headers_end]);
        let mut event =
            InboundEvent::new(conversation.clone(), EventBody::MessageReceived(message))
                .with_provider_message_id(message_id.clone());
        event.sender = sender.clone();
        event.reply_to = reply_to;
        event.occurred_at = occurred_at;
        event.raw = Some(RawPayload::capped("text/rfc822-headers", &raw_headers));
        let mut events = vec![event];

        if !parsed.attachments.is_empty() {
            let key = format!("{RAW_PREFIX}{}", hex::encode(Sha256::digest(raw)));
            self.state.put(&key, raw).await.map_err(state_error)?;
            for attachment in &parsed.attachments {
                let mut media = Media::new(media_kind(&attachment.mime_type));
                media.provider_media_id = Some(format!("{key}#{}", attachment.index));
                media.mime_type = Some(attachment.mime_type.clone());
                media.filename.clone_from(&attachment.filename);
                media.size_bytes = Some(attachment.size);
                let mut event = InboundEvent::message(conversation.clone(), Content::Media(media))
                    .with_provider_message_id(message_id.clone())
                    .with_dedup_key(format!("{message_id}#attachment-{}", attachment.index));
                event.sender = sender.clone();
                event.occurred_at = occurred_at;
                events.push(event);
            }
        }
        Ok(events)
    }

    /// A DSN for one of our mails → a failed delivery on it; other bounces are recorded as
    /// automated messages (`None` here, the caller goes on).
    async fn bounce_events(
        &self,
        parsed: &ParsedMail,
        message_id: &str,
    ) -> Result<Option<Vec<InboundEvent>>, ChannelError> {
        let Some(bounce) = &parsed.bounce else {
            return Ok(None);
        };
        let Some(original) = &bounce.original_message_id else {
            return Ok(None);
        };
        let Some(token) = self
            .threads
            .thread_of(original)
            .await
            .map_err(state_error)?
        else {
            return Ok(None);
        };
        if bounce
            .action
            .as_deref()
            .is_some_and(|action| !action.eq_ignore_ascii_case("failed"))
        {
            // `delayed`, `relayed`, `delivered`, `expanded`: not a failure; nothing to record
            // on the message (we never claim "delivered" from a DSN we did not ask for).
            return Ok(Some(Vec::new()));
        }
        let reason = match (&bounce.status, &bounce.diagnostic) {
            (Some(status), Some(diagnostic)) => format!("{status} {diagnostic}"),
            (None, Some(diagnostic)) => diagnostic.clone(),
            (Some(status), None) => format!("bounced with status {status}"),
            (None, None) => "the receiving server returned the mail".to_owned(),
        };
        let delivery = Delivery::failed("bounced", reason);
        let event =
            InboundEvent::delivery(ConversationRef::new(self.account.clone(), token), delivery)
                .with_provider_message_id(original.clone())
                .with_dedup_key(format!("dsn:{message_id}"));
        Ok(Some(vec![event]))
    }

    async fn confirmation(
        &self,
        raw: &[u8],
        parsed: &ParsedMail,
        info: &ThreadInfo,
        recipients: &[&str],
    ) -> ConfirmationCheck {
        let intent = recipients
            .iter()
            .filter_map(|r| self.threads.plus_tag(r))
            .find_map(|tag| tag.intent_id);
        if let Some(kind) = &parsed.auto {
            return ConfirmationCheck::refused(intent, format!("automated: {}", kind.code()));
        }
        let Some(intent) = intent else {
            return ConfirmationCheck::refused(None, "not_sent_to_payment_address");
        };
        let from = parsed
            .from
            .as_ref()
            .map(|a| a.normalized())
            .unwrap_or_default();
        if from.is_empty() || from != info.customer {
            return ConfirmationCheck::refused(Some(intent), "sender_mismatch");
        }
        match self.sender_check.check(raw, &from).await {
            SenderVerdict::Pass => ConfirmationCheck::allowed(Some(intent)),
            SenderVerdict::Fail { reason } => ConfirmationCheck::refused(
                Some(intent),
                format!("sender_not_authenticated: {reason}"),
            ),
        }
    }
}

/// The media kind of a MIME type.
pub fn media_kind(mime_type: &str) -> MediaKind {
    match mime_type.split('/').next().unwrap_or_default() {
        "image" => MediaKind::Image,
        "video" => MediaKind::Video,
        "audio" => MediaKind::Audio,
        _ => MediaKind::Document,
    }
}
