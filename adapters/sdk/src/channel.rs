//! The [`Channel`] trait every adapter implements, and what the bridge hands it.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method};
use tokio_util::sync::CancellationToken;

use crate::capabilities::Capabilities;
use crate::content::Media;
use crate::error::ChannelError;
use crate::event::InboundEvent;
use crate::ids::ChannelKind;
use crate::outbound::{OutboundMessage, SendReceipt};

/// One configured account on one provider (a bot, a phone-number id, a mailbox, a site).
///
/// Push channels implement [`verify`](Channel::verify) and [`normalize`](Channel::normalize):
/// the bridge mounts `POST /webhooks/{channel id}`, verifies, normalises, appends the events
/// durably and only then answers 2xx. Pull channels implement [`listen`](Channel::listen).
///
/// (`Any` lets a host that runs a channel's transport itself, as the bridge does for the web
/// chat's socket, get the concrete type back; every `'static` type has it.)
#[async_trait::async_trait]
pub trait Channel: std::any::Any + Send + Sync {
    /// Lowercase service noun (`whatsapp`); becomes `Envelope::channel`.
    fn kind(&self) -> ChannelKind;

    /// What this channel renders; the bridge fits outbound messages to it.
    fn capabilities(&self) -> &Capabilities;

    /// Authenticates a webhook before anything parses it (signature or secret token, compared
    /// in constant time). Channels without webhooks keep the default, which refuses all.
    fn verify(&self, _req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        Err(ChannelError::Unauthorized {
            reason: "webhooks_not_supported",
        })
    }

    /// Extra webhook paths this channel takes under `/webhooks/{channel id}/` (e.g.
    /// `["status"]` for delivery-status callbacks); the request's
    /// [`subpath`](WebhookRequest::subpath) says which one was called. Others answer 404.
    fn webhook_subpaths(&self) -> &[&str] {
        &[]
    }

    /// Answers a subscription handshake (WhatsApp's `hub.challenge`); `None` when the request
    /// is not one.
    fn handshake(&self, _req: &WebhookRequest<'_>) -> Option<http::Response<Bytes>> {
        None
    }

    /// Turns a verified payload into canonical events. Pure: no I/O, no clock, no panics,
    /// whatever the bytes.
    fn normalize(&self, _req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        Ok(Vec::new())
    }

    /// Turns a verified webhook into canonical events, for channels that need I/O to do so
    /// (email: threading looks up earlier Message-IDs in [`ChannelState`]). The bridge's
    /// webhook route calls this; the default is [`normalize`](Channel::normalize).
    async fn receive(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        self.normalize(req)
    }

    /// Pull ingress (polling, IMAP): runs until `stop` is cancelled. Advance the provider's
    /// cursor only after [`Inbox::deliver`] returns, which is after the durable append.
    async fn listen(
        &self,
        _inbox: Arc<dyn Inbox>,
        _stop: CancellationToken,
    ) -> Result<(), ChannelError> {
        Ok(())
    }

    /// Delivers one message already fitted to [`capabilities`](Channel::capabilities).
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ChannelError>;

    /// A cheap proof that credentials and endpoint work.
    async fn health_check(&self) -> Result<(), ChannelError> {
        Ok(())
    }

    /// The provider-side template that stands in for `msg` when the reply window is closed
    /// (WhatsApp: the approved template mapped to `msg.template`), if there is one. The
    /// bridge asks before queueing and before dispatching outside the window; `None` (the
    /// default) means the message fails with [`REPLY_WINDOW_CLOSED`](crate::REPLY_WINDOW_CLOSED).
    fn window_template(&self, _msg: &OutboundMessage) -> Option<String> {
        None
    }

    /// Downloads an inbound message's media (referenced by `media.provider_media_id`),
    /// refusing more than `max_bytes` with `Rejected { code: "media_too_large" }`. `Ok(None)`
    /// (the default) means this channel has nothing to fetch. The bridge calls it after the
    /// event is durable, stores the bytes and appends a `media.stored` event.
    async fn fetch_media(
        &self,
        _media: &Media,
        _max_bytes: u64,
    ) -> Result<Option<FetchedMedia>, ChannelError> {
        Ok(None)
    }
}

/// Media bytes a channel downloaded from its provider.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedMedia {
    /// The file.
    pub bytes: Bytes,
    /// Its MIME type, as the provider reported it.
    pub mime_type: Option<String>,
}

impl FetchedMedia {
    /// Downloaded `bytes` of type `mime_type`.
    pub fn new(bytes: Bytes, mime_type: Option<String>) -> Self {
        Self { bytes, mime_type }
    }
}

/// The code of [`ChannelError::Rejected`] for a webhook body over the channel's own size cap
/// (the bridge answers 413).
pub const BODY_TOO_LARGE: &str = "body_too_large";

/// The code of [`ChannelError::Rejected`] for media larger than the bridge's cap.
pub const MEDIA_TOO_LARGE: &str = "media_too_large";

/// Where pull channels (and push channels with their own connections, like web chat) hand
/// their events to the bridge.
#[async_trait::async_trait]
pub trait Inbox: Send + Sync + 'static {
    /// Appends the events durably, de-duplicating on (channel, dedup key). Returns once every
    /// event is on the bus; only then may the caller acknowledge its provider.
    async fn deliver(&self, events: Vec<InboundEvent>) -> Result<(), InboxError>;
}

/// Small durable key-value state the bridge keeps for one channel (mailbox cursors, thread
/// maps, raw messages awaiting media extraction), in the bridge's store, so it survives
/// restarts and is shared by every bridge instance on that store. Keys are the channel's own
/// (except those starting with `bridge:`, which the bridge keeps for itself, e.g. the numbered
/// options a customer may answer); the bridge namespaces them by channel id.
///
/// Entries are not kept forever: the bridge's retention removes an entry not written for
/// `storage.retention.max_age_secs`, except keys ending in `:cursor` (a provider position such
/// as a mailbox cursor, whose loss would make the channel re-read its provider).
#[async_trait::async_trait]
pub trait ChannelState: Send + Sync + 'static {
    /// The value under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError>;
    /// Sets `key` to `value` (durable when this returns).
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StateError>;
    /// Removes `key` (no error when it is absent).
    async fn delete(&self, key: &str) -> Result<(), StateError>;

    /// Removes the keys starting with `prefix` that were last written more than `age` ago;
    /// returns how many. For channels that keep short-lived data (email keeps a raw mail
    /// until its attachments are stored). The default removes nothing.
    async fn prune(&self, prefix: &str, age: std::time::Duration) -> Result<u64, StateError> {
        let _ = (prefix, age);
        Ok(0)
    }

    /// Sets several keys at once (one durable write where the bridge can: cheaper than a
    /// `put` each). The default puts them one by one.
    async fn put_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StateError> {
        for (key, value) in entries {
            self.put(key, value).await?;
        }
        Ok(())
    }
}

/// The bridge's store could not read or write [`ChannelState`].
#[derive(Debug, thiserror::Error)]
#[error("channel state unavailable: {0}")]
pub struct StateError(pub String);

/// Why an [`Inbox`] could not take events; the caller keeps them and retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InboxError {
    /// The bus is unreachable or refused the write.
    #[error("the bus is unavailable: {0}")]
    Unavailable(String),
    /// The bridge is shutting down.
    #[error("the bridge is shutting down")]
    ShuttingDown,
}

/// A webhook request as received, before anything parsed it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct WebhookRequest<'a> {
    /// HTTP method.
    pub method: &'a Method,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Raw query string, without the `?`.
    pub query: Option<&'a str>,
    /// The body exactly as received: verify signatures over these bytes.
    pub body: &'a Bytes,
    /// The path after `/webhooks/{channel id}`, without the leading `/` (`""` for the
    /// webhook itself, `"status"` for `/webhooks/{id}/status`); only paths listed in
    /// [`Channel::webhook_subpaths`] reach the channel.
    pub subpath: &'a str,
}

impl<'a> WebhookRequest<'a> {
    /// Wraps a received request.
    pub fn new(
        method: &'a Method,
        headers: &'a HeaderMap,
        query: Option<&'a str>,
        body: &'a Bytes,
    ) -> Self {
        Self {
            method,
            headers,
            query,
            body,
            subpath: "",
        }
    }

    /// The same request, received at `/webhooks/{channel id}/{subpath}`.
    pub fn with_subpath(mut self, subpath: &'a str) -> Self {
        self.subpath = subpath;
        self
    }

    /// A header's value as text, if present and valid ASCII.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// What the bridge hands a channel when it builds it.
#[derive(Clone)]
#[non_exhaustive]
pub struct ChannelContext {
    /// The configured id of this channel (`[[channels]] id = "acme-wa"`).
    pub id: String,
    /// The bridge's public base URL, for links in messages.
    pub public_url: String,
    /// The channel's durable key-value state, when the bridge provides one.
    pub state: Option<Arc<dyn ChannelState>>,
    /// Where [`secret`](ChannelContext::secret) reads from (none: every secret is unset).
    secrets: Option<SecretSource>,
}

impl ChannelContext {
    /// A context for the channel configured as `id`.
    pub fn new(id: impl Into<String>, public_url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            public_url: public_url.into(),
            state: None,
            secrets: None,
        }
    }

    /// Gives the channel its secrets (the bridge passes its environment).
    pub fn with_secrets(mut self, secrets: SecretSource) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// The value of the secret env var `var`, or [`ChannelError::Config`] naming it when it
    /// is unset or empty. The error names the variable only, never a value.
    pub fn secret(&self, var: &str) -> Result<String, ChannelError> {
        self.secret_opt(var)
            .ok_or_else(|| ChannelError::config("", format!("env var {var} is not set")))
    }

    /// The value of the secret env var `var`, if it is set and not empty.
    pub fn secret_opt(&self, var: &str) -> Option<String> {
        self.secrets
            .as_ref()
            .and_then(|source| source(var))
            .filter(|value| !value.is_empty())
    }

    /// Gives the channel its durable state.
    pub fn with_state(mut self, state: Arc<dyn ChannelState>) -> Self {
        self.state = Some(state);
        self
    }
}

impl std::fmt::Debug for ChannelContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelContext")
            .field("id", &self.id)
            .field("public_url", &self.public_url)
            .field("state", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for dyn ChannelState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelState")
    }
}

/// Builds a channel from its `[[channels]]` table in the bridge's config: the one seam
/// through which every channel kind, built-in or a business's own crate, reaches the bridge.
///
/// The bridge reads the table's keys (all but its own `id`, `type` and `max_media_bytes`)
/// into [`Config`](ChannelFactory::Config), then calls [`build`](ChannelFactory::build).
/// `omnibridge check` does the same with stand-in secrets, so whatever `build` refuses is
/// reported without starting anything. `build` must not do I/O: connect in
/// [`Channel::listen`] or [`Channel::health_check`]. `testkit::check_factory` (feature
/// `testkit`) checks a factory the way the bridge uses it.
///
/// ```ignore
/// // main.rs of a business's own bridge binary:
/// omnibridge::Bridge::new().with_channel_factory(AcmeSmsFactory).run().await
/// ```
pub trait ChannelFactory: Send + Sync + 'static {
    /// The `type` value in config that selects this factory (lowercase, e.g. `acme-sms`).
    const KIND: &'static str;
    /// The channel's config table (use `#[serde(deny_unknown_fields)]`).
    type Config: serde::de::DeserializeOwned + Send;
    /// Builds the channel. Read secrets with [`ChannelContext::secret`], naming the env var
    /// the table names (`*_env` keys); report a table that cannot work with
    /// [`ChannelError::Config`] naming the key.
    fn build(
        &self,
        config: Self::Config,
        cx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, ChannelError>;
}

/// Where a channel's secrets come from: the bridge's environment when serving; a recording
/// stand-in under `omnibridge check`.
pub type SecretSource = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;
