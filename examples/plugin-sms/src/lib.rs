//! An outside business's own channel kind for omnibridge, in its own crate: an SMS gateway
//! (`[[channels]] type = "sms-gateway"`) with a signed JSON webhook in and a JSON API out.
//!
//! Nothing here is part of the bridge: the crate depends on the channel SDK
//! (`omnibridge-sdk`) for the [`Channel`] trait and on the bridge (`omnibridge`) only for its
//! `main`, which registers [`SmsGatewayFactory`] with one line:
//!
//! ```no_run
//! # use omnibridge_plugin_sms::SmsGatewayFactory;
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     omnibridge::Bridge::new().with_channel_factory(SmsGatewayFactory).run().await
//! }
//! ```
//!
//! # The gateway's protocol
//! - **Inbound**: the gateway posts `{"messages":[{"id","from","text","received_at"?}]}` to
//!   `POST /webhooks/<channel id>`, signed with `X-Sms-Signature: <hex HMAC-SHA256 of the
//!   raw body>` under the webhook secret ([`webhook`]).
//! - **Outbound**: `POST {api_url}/messages` with `{"from","to","text"}`,
//!   `Authorization: Bearer <api key>` and `Idempotency-Key: <outbound id>`; it answers
//!   `{"id": "<gateway message id>"}` ([`outbound`]).
//!
//! # Layout
//! - [`config`]: [`SmsGatewayConfig`], the `[[channels]]` table.
//! - [`webhook`]: signature check and webhook body → events (pure), and [`webhook::sign`]
//!   (what the gateway sends, for tests and simulators).
//! - [`outbound`]: posting a message and what the gateway's answer means.
#![forbid(unsafe_code)]

pub mod config;
pub mod outbound;
pub mod webhook;

use std::sync::Arc;

use omnibridge_sdk::{
    Capabilities, Channel, ChannelContext, ChannelError, ChannelFactory, ChannelKind, InboundEvent,
    OutboundMessage, SendReceipt, WebhookRequest,
};

pub use config::SmsGatewayConfig;

/// The `type` of this channel in `[[channels]]`, and its [`ChannelKind`].
pub const KIND: &str = "sms-gateway";

/// Longest text of one SMS, in characters: the bridge splits longer text into several
/// messages before [`Channel::send`] sees it.
pub const SEGMENT_CHARS: usize = 160;

/// Builds [`SmsGateway`] channels for the bridge: `type = "sms-gateway"`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmsGatewayFactory;

impl ChannelFactory for SmsGatewayFactory {
    const KIND: &'static str = KIND;
    type Config = SmsGatewayConfig;

    fn build(
        &self,
        config: SmsGatewayConfig,
        cx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, ChannelError> {
        Ok(Arc::new(SmsGateway::new(config, cx)?))
    }
}

/// One business number on the SMS gateway.
pub struct SmsGateway {
    kind: ChannelKind,
    capabilities: Capabilities,
    number: String,
    verifier: webhook::Verifier,
    outbound: outbound::Outbound,
}

impl std::fmt::Debug for SmsGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsGateway")
            .field("number", &self.number)
            .field("outbound", &self.outbound)
            .finish_non_exhaustive()
    }
}

impl SmsGateway {
    /// Checks the table (`number` set, `api_url` an http(s) URL), then reads the two secrets
    /// the table names through [`ChannelContext::secret`]. No I/O.
    pub fn new(config: SmsGatewayConfig, cx: &ChannelContext) -> Result<Self, ChannelError> {
        let kind =
            ChannelKind::new(KIND).map_err(|message| ChannelError::config("type", message))?;
        let number = config.number.trim().to_owned();
        if number.is_empty() {
            return Err(ChannelError::config("number", "must not be empty"));
        }
        let url = outbound::messages_url(&config.api_url)?;
        let api_key = cx.secret(&config.api_key_env)?;
        let webhook_secret = cx.secret(&config.webhook_secret_env)?;
        let outbound = outbound::Outbound::new(url, number.clone(), &api_key)?;
        Ok(Self {
            kind,
            capabilities: Capabilities::text_only(SEGMENT_CHARS),
            verifier: webhook::Verifier::new(webhook_secret.into_bytes()),
            number,
            outbound,
        })
    }
}

#[async_trait::async_trait]
impl Channel for SmsGateway {
    fn kind(&self) -> ChannelKind {
        self.kind.clone()
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        self.verifier.verify(req)
    }

    fn normalize(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        webhook::normalize(&self.number, req.body)
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        self.outbound.send(msg).await
    }
}
