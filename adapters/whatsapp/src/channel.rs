//! [`WhatsAppChannel`]: the [`Channel`] implementation for one WhatsApp Business phone number.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use omnibridge_sdk::{
    ButtonLimits, Capabilities, Channel, ChannelError, ChannelKind, FetchedMedia, Formatting,
    InboundEvent, MEDIA_TOO_LARGE, Media, OutboundMessage, REPLY_WINDOW_CLOSED, Receipts,
    SendReceipt, WebhookRequest,
};
use serde_json::Value;

use crate::config::{TemplateMapping, WhatsAppConfig, WhatsAppSecrets};
use crate::errors::{ConfigError, WINDOW_CLOSED};
use crate::inbound::{self, SIGNATURE_HEADER};
use crate::outbound::template::template_body;
use crate::outbound::{GraphClient, plan};
use crate::wire::graph::{MediaInfo, SendRequest};

/// The `type` of WhatsApp channels in `[[channels]]`, and their [`ChannelKind`].
pub const KIND: &str = "whatsapp";

/// WhatsApp's customer-service window: free-form messages only within 24 h of the customer's
/// last message.
pub const REPLY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// How many recently templated outbound ids are remembered (see [`Channel::send`] below).
const TEMPLATED_MEMORY: usize = 256;

/// One WhatsApp Business phone number on the Cloud API.
pub struct WhatsAppChannel {
    config: WhatsAppConfig,
    secrets: WhatsAppSecrets,
    kind: ChannelKind,
    capabilities: Capabilities,
    graph: GraphClient,
    /// Outbound ids whose first part went out as a template: later parts are skipped.
    templated: Mutex<VecDeque<String>>,
}

impl std::fmt::Debug for WhatsAppChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppChannel")
            .field("phone_number_id", &self.config.phone_number_id)
            .finish_non_exhaustive()
    }
}

impl WhatsAppChannel {
    /// Builds the channel from its config and the secrets the bridge resolved from env.
    pub fn new(config: WhatsAppConfig, secrets: WhatsAppSecrets) -> Result<Self, ConfigError> {
        if config.phone_number_id.trim().is_empty() {
            return Err(ConfigError::Invalid("phone_number_id is empty".into()));
        }
        let kind = ChannelKind::new(KIND).map_err(ConfigError::Invalid)?;
        let graph = GraphClient::new(&config.api_base, &config.api_version, &secrets.access_token)
            .map_err(|error| ConfigError::Invalid(error.to_string()))?;
        Ok(Self {
            config,
            secrets,
            kind,
            capabilities: capabilities(),
            graph,
            templated: Mutex::new(VecDeque::new()),
        })
    }

    /// The channel's config.
    pub fn config(&self) -> &WhatsAppConfig {
        &self.config
    }

    /// The approved-template mapping for our template `name`, if configured.
    pub fn template_mapping(&self, name: &str) -> Option<&TemplateMapping> {
        self.config.template_mappings.get(name)
    }

    /// Sends `msg` as its mapped approved template (required outside the 24-hour window),
    /// filling `data.*` parameters from `data` (the bridge passes the template data in
    /// [`OutboundMessage::template_data`]; [`Channel::send`] hands it over). Fails with
    /// `Rejected { code: "no_template_mapping" }` when `msg.template` has no mapping.
    pub async fn send_template(
        &self,
        msg: &OutboundMessage,
        data: Option<&Value>,
    ) -> Result<SendReceipt, ChannelError> {
        let mapping = msg
            .template
            .as_deref()
            .and_then(|name| self.template_mapping(name))
            .ok_or_else(|| {
                ChannelError::rejected(
                    "no_template_mapping",
                    "this message's template has no approved WhatsApp template mapping",
                )
            })?;
        let mut request =
            SendRequest::new(&msg.conversation.thread, template_body(mapping, msg, data));
        if let Some(reply_to) = &msg.reply_to {
            request.context = Some(crate::wire::graph::ContextRef {
                message_id: reply_to.to_string(),
            });
        }
        let wamid = self.graph.send(self.account(msg), &request).await?;
        self.remember_templated(msg.id.as_str());
        Ok(SendReceipt::sent(Some(wamid)))
    }

    /// Marks a customer's message (`wamid`) as read.
    pub async fn mark_read(&self, wamid: &str) -> Result<(), ChannelError> {
        self.graph
            .mark_read(&self.config.phone_number_id, wamid)
            .await
    }

    /// Looks up a customer's media by id (first step of the two-step download).
    pub async fn media_info(&self, media_id: &str) -> Result<MediaInfo, ChannelError> {
        self.graph.media_info(media_id).await
    }

    /// Downloads media from its looked-up URL, refusing more than `max_bytes`.
    pub async fn download_media(&self, url: &str, max_bytes: u64) -> Result<Bytes, ChannelError> {
        self.graph.download(url, max_bytes).await
    }

    /// The two-step download: look the media id up, refuse it when Meta's `file_size` is over
    /// the cap, download with the bearer token; the URL expires within minutes, so a 404
    /// looks the id up again once and retries.
    async fn fetch(&self, media_id: &str, max_bytes: u64) -> Result<FetchedMedia, ChannelError> {
        let mut retried = false;
        loop {
            let info = self.media_info(media_id).await?;
            if info.file_size > max_bytes {
                return Err(ChannelError::rejected(
                    MEDIA_TOO_LARGE,
                    format!(
                        "the media is {} bytes, over the channel's cap of {max_bytes} bytes",
                        info.file_size
                    ),
                ));
            }
            match self.download_media(&info.url, max_bytes).await {
                Ok(bytes) => return Ok(FetchedMedia::new(bytes, Some(info.mime_type))),
                Err(ChannelError::Rejected { code, .. }) if code == "http_404" && !retried => {
                    tracing::debug!("WhatsApp media URL expired; looking the media id up again.");
                    retried = true;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Why a free-form message cannot go out and no template stands in for it.
    fn window_closed(why: &str) -> ChannelError {
        ChannelError::rejected(
            REPLY_WINDOW_CLOSED,
            format!(
                "the 24-hour reply window is closed ({why}) and the message's template has \
                 no approved WhatsApp template mapping"
            ),
        )
    }

    /// The phone number a conversation lives on (its `account`), else ours.
    fn account<'a>(&'a self, msg: &'a OutboundMessage) -> &'a str {
        let account = msg.conversation.account.as_str();
        if account.is_empty() {
            &self.config.phone_number_id
        } else {
            account
        }
    }

    async fn send_free_form(&self, msg: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        let mut last = None;
        for request in plan::plan(msg)? {
            last = Some(self.graph.send(self.account(msg), &request).await?);
        }
        Ok(SendReceipt::sent(last))
    }

    fn remember_templated(&self, id: &str) {
        if let Ok(mut ids) = self.templated.lock() {
            if ids.len() >= TEMPLATED_MEMORY {
                ids.pop_front();
            }
            ids.push_back(id.to_owned());
        }
    }

    /// Whether `id` is a later part (`<id>.<n>`) of a message that went out as a template.
    fn is_part_of_templated(&self, id: &str) -> bool {
        let Some((base, part)) = id.rsplit_once('.') else {
            return false;
        };
        part.chars().all(|c| c.is_ascii_digit())
            && self
                .templated
                .lock()
                .is_ok_and(|ids| ids.iter().any(|known| known == base))
    }
}

/// What WhatsApp renders, as the bridge should shape it: 4096-character texts; up to 10
/// buttons with labels of at most 20 characters, URL buttons included (the adapter picks
/// reply buttons, a list or text lines, see [`plan`]); replies; delivered and read receipts;
/// the 24-hour window. WhatsApp's `*bold*`/`_italic_` dialect counts as Markdown.
pub fn capabilities() -> Capabilities {
    Capabilities::text_only(plan::MAX_TEXT)
        .with_buttons(ButtonLimits::new(
            plan::MAX_LIST_ROWS,
            plan::MAX_BUTTON_TITLE,
            true,
        ))
        .with_formatting(Formatting::Markdown)
        .with_receipts(Receipts::DeliveredAndRead)
        .with_reply_to()
        .with_reply_window(REPLY_WINDOW)
}

#[async_trait::async_trait]
impl Channel for WhatsAppChannel {
    fn kind(&self) -> ChannelKind {
        self.kind.clone()
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        inbound::verify_signature(
            self.secrets.app_secret.as_bytes(),
            req.header(SIGNATURE_HEADER),
            req.body,
        )
    }

    fn handshake(&self, req: &WebhookRequest<'_>) -> Option<http::Response<Bytes>> {
        if req.method != http::Method::GET {
            return None;
        }
        inbound::handshake(&self.secrets.verify_token, req.query)
    }

    fn normalize(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        inbound::normalize(&self.config.phone_number_id, req.body)
    }

    /// Sends free-form (text, reply buttons or list). When `msg.template` has a mapping, the
    /// approved template goes out instead (filled from `msg.template_data`) if the bridge
    /// marked the window closed, if the mapping says `always`, or as a fallback when Meta
    /// answers 131047 (window closed); later parts of a message that went out as a template
    /// are skipped, since the template stands for the whole message. Without a mapping, a
    /// closed window fails with `reply_window_closed`.
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        if self.is_part_of_templated(msg.id.as_str()) {
            return Ok(SendReceipt::sent(None));
        }
        let mapping = msg
            .template
            .as_deref()
            .and_then(|t| self.template_mapping(t));
        let data = msg.template_data.as_ref();
        if msg.window_closed {
            return match mapping {
                Some(_) => self.send_template(msg, data).await,
                None => Err(Self::window_closed(
                    "the customer's last message is too old",
                )),
            };
        }
        if mapping.is_some_and(|m| m.always) {
            return self.send_template(msg, data).await;
        }
        match self.send_free_form(msg).await {
            Err(ChannelError::Rejected { code, .. }) if code == WINDOW_CLOSED.to_string() => {
                if mapping.is_none() {
                    return Err(Self::window_closed("Meta answered 131047"));
                }
                tracing::info!(
                    code = WINDOW_CLOSED,
                    "WhatsApp window closed; sending the mapped approved template instead."
                );
                self.send_template(msg, data).await
            }
            other => other,
        }
    }

    fn window_template(&self, msg: &OutboundMessage) -> Option<String> {
        let mapping = self.template_mapping(msg.template.as_deref()?)?;
        Some(mapping.name.clone())
    }

    async fn fetch_media(
        &self,
        media: &Media,
        max_bytes: u64,
    ) -> Result<Option<FetchedMedia>, ChannelError> {
        match &media.provider_media_id {
            Some(id) => self.fetch(id, max_bytes).await.map(Some),
            None => Ok(None),
        }
    }
}
