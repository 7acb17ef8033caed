//! [`HttpChannel`], the [`Channel`] a `[[channels]] type = "http"` table describes, and
//! [`HttpChannelFactory`], which builds it after checking the whole table.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use omnibridge_sdk::{
    AttachmentLimits, ButtonLimits, Capabilities, Channel, ChannelContext, ChannelError,
    ChannelFactory, ChannelKind, DeliveryStatus, FetchedMedia, InboundEvent, Media, MediaKind,
    OutboundMessage, Receipts, SendReceipt, WebhookRequest,
};

use crate::config::{
    CapabilitiesConfig, DEFAULT_TIMEOUT_SECS, DEFAULT_TOLERANCE_SECS, HttpChannelConfig,
    InboundConfig, OutboundConfig, SignedPayload, StatusConfig,
};
use crate::inbound::MessageMapping;
use crate::outbound::Outbound;
use crate::pointer;
use crate::signature::WebhookVerifier;
use crate::status::{StatusMapping, our_status};
use crate::template::BodyTemplate;

/// The `type` of HTTP channels in `[[channels]]`, and their [`ChannelKind`].
pub const KIND: &str = "http";

/// The webhook subpath of delivery-status callbacks (`POST /webhooks/<id>/status`).
pub const STATUS_SUBPATH: &str = "status";

/// Most payload buttons one message may carry when `capabilities.buttons = true`.
pub const MAX_BUTTONS: usize = 3;

/// Longest button label, in characters, when `capabilities.buttons = true`.
pub const MAX_BUTTON_LABEL_CHARS: usize = 20;

/// Largest attachment, in bytes, when `capabilities.media = true` (sent base64 in the JSON
/// body).
pub const MAX_ATTACHMENT_BYTES: u64 = 5 * 1024 * 1024;

/// What the channel reads the time from: unix seconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

const STATUS_SUBPATHS: &[&str] = &[STATUS_SUBPATH];

/// Builds [`HttpChannel`]s for the bridge: `type = "http"`.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpChannelFactory;

impl ChannelFactory for HttpChannelFactory {
    const KIND: &'static str = KIND;
    type Config = HttpChannelConfig;

    fn build(
        &self,
        config: HttpChannelConfig,
        cx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, ChannelError> {
        Ok(Arc::new(HttpChannel::new(config, cx)?))
    }
}

/// One provider reached over plain HTTP and JSON, as its `[[channels]]` table maps it.
pub struct HttpChannel {
    kind: ChannelKind,
    capabilities: Capabilities,
    verifier: WebhookVerifier,
    messages: MessageMapping,
    statuses: Option<StatusMapping>,
    outbound: Outbound,
    clock: Clock,
}

impl std::fmt::Debug for HttpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpChannel")
            .field("account", &self.messages.account)
            .field("verifier", &self.verifier)
            .field("outbound", &self.outbound)
            .field("statuses", &self.statuses.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpChannel {
    /// Checks the whole table and builds the channel: every pointer, the body template
    /// (compiled and rendered with sample messages), header names, the signature settings,
    /// the status map, and the secrets named by `*_env` (read through
    /// [`ChannelContext::secret`]). Errors name the key (`inbound.message_id`,
    /// `outbound.body`, `status.map.DELIVRD`). No I/O.
    pub fn new(config: HttpChannelConfig, cx: &ChannelContext) -> Result<Self, ChannelError> {
        let HttpChannelConfig {
            inbound,
            outbound,
            status,
            capabilities,
        } = config;
        let kind =
            ChannelKind::new(KIND).map_err(|message| ChannelError::config("type", message))?;
        let account = match &inbound.account {
            Some(account) if account.trim().is_empty() => {
                return Err(ChannelError::config("inbound.account", "must not be empty"));
            }
            Some(account) => account.clone(),
            None => cx.id.clone(),
        };
        let messages = message_mapping(&inbound, account.clone())?;
        let statuses = status
            .map(|status| status_mapping(status, account))
            .transpose()?;
        let capabilities = capabilities_of(&capabilities, statuses.as_ref())?;
        let mut verifier = verifier(&inbound)?;
        let outbound = outbound_side(&outbound, cx)?;
        verifier.secret = cx.secret(&inbound.secret_env)?.into_bytes();
        Ok(Self {
            kind,
            capabilities,
            verifier,
            messages,
            statuses,
            outbound,
            clock: Arc::new(|| chrono::Utc::now().timestamp()),
        })
    }

    /// Reads the time from `clock` (unix seconds) instead of the system clock: webhook
    /// timestamps are judged by it and outbound signatures carry it. For tests.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }
}

#[async_trait::async_trait]
impl Channel for HttpChannel {
    fn kind(&self) -> ChannelKind {
        self.kind.clone()
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        self.verifier.verify(req, self.now())
    }

    fn webhook_subpaths(&self) -> &[&str] {
        match self.statuses {
            Some(_) => STATUS_SUBPATHS,
            None => &[],
        }
    }

    fn normalize(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        match (req.subpath, &self.statuses) {
            ("", _) => self.messages.normalize(req.body),
            (STATUS_SUBPATH, Some(statuses)) => statuses.normalize(req.body),
            _ => Err(ChannelError::Malformed(
                "this channel takes no webhook at that path".into(),
            )),
        }
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        self.outbound.send(msg, self.now()).await
    }

    async fn fetch_media(
        &self,
        media: &Media,
        max_bytes: u64,
    ) -> Result<Option<FetchedMedia>, ChannelError> {
        self.outbound
            .fetch_media(media, max_bytes, self.now())
            .await
    }
}

fn header_name(key: &str, name: &str) -> Result<HeaderName, ChannelError> {
    HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| ChannelError::config(key, format!("{name:?} is not a valid header name")))
}

fn pointer_opt(key: &str, value: Option<&String>) -> Result<Option<String>, ChannelError> {
    value
        .map(|pointer| pointer::validate(key, pointer).map(|()| pointer.clone()))
        .transpose()
}

fn pointer_req(key: &str, value: &str) -> Result<String, ChannelError> {
    pointer::validate(key, value)?;
    Ok(value.to_owned())
}

fn message_mapping(
    inbound: &InboundConfig,
    account: String,
) -> Result<MessageMapping, ChannelError> {
    Ok(MessageMapping {
        account,
        items: pointer_opt("inbound.items", inbound.items.as_ref())?,
        message_id: pointer_req("inbound.message_id", &inbound.message_id)?,
        sender_id: pointer_req("inbound.sender_id", &inbound.sender_id)?,
        sender_name: pointer_opt("inbound.sender_name", inbound.sender_name.as_ref())?,
        thread: pointer_opt("inbound.thread", inbound.thread.as_ref())?,
        text: pointer_opt("inbound.text", inbound.text.as_ref())?,
        action_payload: pointer_opt("inbound.action_payload", inbound.action_payload.as_ref())?,
        media_url: pointer_opt("inbound.media_url", inbound.media_url.as_ref())?,
        timestamp: pointer_opt("inbound.timestamp", inbound.timestamp.as_ref())?,
    })
}

fn status_mapping(status: StatusConfig, account: String) -> Result<StatusMapping, ChannelError> {
    let mut map = BTreeMap::new();
    for (word, ours) in status.map {
        let Some(parsed) = our_status(&ours) else {
            return Err(ChannelError::config(
                format!("status.map.{word}"),
                format!("{ours:?} is not one of \"sent\", \"delivered\", \"read\", \"failed\""),
            ));
        };
        map.insert(word, parsed);
    }
    Ok(StatusMapping {
        account,
        items: pointer_opt("status.items", status.items.as_ref())?,
        message_id: pointer_req("status.message_id", &status.message_id)?,
        status: pointer_req("status.status", &status.status)?,
        thread: pointer_opt("status.thread", status.thread.as_ref())?,
        map,
    })
}

/// The webhook verifier without its key (read last, with the other secrets).
fn verifier(inbound: &InboundConfig) -> Result<WebhookVerifier, ChannelError> {
    let header = header_name("inbound.signature_header", &inbound.signature_header)?;
    let timestamp = match (inbound.signed_payload, &inbound.timestamp_header) {
        (SignedPayload::TimestampBody, Some(name)) => Some((
            header_name("inbound.timestamp_header", name)?,
            inbound.tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS),
        )),
        (SignedPayload::TimestampBody, None) => {
            return Err(ChannelError::config(
                "inbound.timestamp_header",
                "required with signed_payload = \"timestamp.body\"",
            ));
        }
        (SignedPayload::Body, Some(_)) => {
            return Err(ChannelError::config(
                "inbound.timestamp_header",
                "only read with signed_payload = \"timestamp.body\"; set that, or remove this key",
            ));
        }
        (SignedPayload::Body, None) => None,
    };
    if inbound.signed_payload == SignedPayload::Body && inbound.tolerance_secs.is_some() {
        return Err(ChannelError::config(
            "inbound.tolerance_secs",
            "only read with signed_payload = \"timestamp.body\"; set that, or remove this key",
        ));
    }
    let prefix = inbound
        .signature_prefix
        .clone()
        .filter(|prefix| !prefix.is_empty());
    Ok(WebhookVerifier {
        secret: Vec::new(),
        header,
        encoding: inbound.signature,
        prefix,
        timestamp,
    })
}

fn outbound_side(outbound: &OutboundConfig, cx: &ChannelContext) -> Result<Outbound, ChannelError> {
    let url = reqwest::Url::parse(&outbound.url)
        .map_err(|error| ChannelError::config("outbound.url", format!("not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ChannelError::config(
            "outbound.url",
            "must be an http or https URL",
        ));
    }
    let provider_message_id = pointer_opt(
        "outbound.provider_message_id",
        outbound.provider_message_id.as_ref(),
    )?;
    let timeout_secs = outbound.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if timeout_secs == 0 {
        return Err(ChannelError::config(
            "outbound.timeout_secs",
            "must be at least 1",
        ));
    }
    let template = BodyTemplate::compile(&outbound.body)?;
    let signature_header = match (&outbound.secret_env, &outbound.signature_header) {
        (Some(_), Some(name)) => {
            let header = header_name("outbound.signature_header", name)?;
            if ["content-type", "authorization", "idempotency-key"].contains(&header.as_str()) {
                return Err(ChannelError::config(
                    "outbound.signature_header",
                    format!("{name:?} is a header the channel sets itself"),
                ));
            }
            Some(header)
        }
        (Some(_), None) => {
            return Err(ChannelError::config(
                "outbound.signature_header",
                "required with outbound.secret_env (the header carrying the signature)",
            ));
        }
        (None, Some(_)) => {
            return Err(ChannelError::config(
                "outbound.secret_env",
                "required with outbound.signature_header (the env var holding the signing key)",
            ));
        }
        (None, None) => None,
    };
    let auth = match &outbound.auth_header_env {
        Some(var) => {
            let mut value = HeaderValue::from_str(&cx.secret(var)?).map_err(|_| {
                ChannelError::config(
                    "outbound.auth_header_env",
                    format!("the value of {var} is not a valid header value"),
                )
            })?;
            value.set_sensitive(true);
            Some(value)
        }
        None => None,
    };
    let signing = match (signature_header, &outbound.secret_env) {
        (Some(header), Some(var)) => Some((header, cx.secret(var)?.into_bytes())),
        _ => None,
    };
    let timeout = Duration::from_secs(timeout_secs);
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|_| ChannelError::config("outbound", "the HTTP client could not be built"))?;
    let media_client = reqwest::Client::builder()
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .map_err(|_| ChannelError::config("outbound", "the HTTP client could not be built"))?;
    Ok(Outbound {
        client,
        media_client,
        url,
        auth,
        template,
        signing,
        provider_message_id,
    })
}

fn capabilities_of(
    config: &CapabilitiesConfig,
    statuses: Option<&StatusMapping>,
) -> Result<Capabilities, ChannelError> {
    let mut capabilities = match config.max_text_len {
        Some(0) => {
            return Err(ChannelError::config(
                "capabilities.max_text_len",
                "must be at least 1 (remove it for unlimited text)",
            ));
        }
        Some(max) => Capabilities::text_only(max),
        None => {
            let mut unlimited = Capabilities::text_only(1);
            unlimited.max_text_chars = None;
            unlimited
        }
    };
    if config.buttons {
        capabilities = capabilities.with_buttons(ButtonLimits::new(
            MAX_BUTTONS,
            MAX_BUTTON_LABEL_CHARS,
            false,
        ));
    }
    if config.media {
        capabilities = capabilities.with_attachments(AttachmentLimits::new(
            vec![
                MediaKind::Image,
                MediaKind::Video,
                MediaKind::Audio,
                MediaKind::Document,
            ],
            MAX_ATTACHMENT_BYTES,
        ));
    }
    if let Some(statuses) = statuses {
        // Words equal to ours map to themselves, so an empty map may report any of them.
        let reaches =
            |status| statuses.map.is_empty() || statuses.map.values().any(|s| *s == status);
        let receipts = if reaches(DeliveryStatus::Read) {
            Receipts::DeliveredAndRead
        } else if reaches(DeliveryStatus::Delivered) {
            Receipts::Delivered
        } else {
            Receipts::None
        };
        capabilities = capabilities.with_receipts(receipts);
    }
    Ok(capabilities)
}
