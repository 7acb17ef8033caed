//! The `[[channels]]` table of an SMS-gateway channel.

use serde::Deserialize;

/// `[[channels]] type = "sms-gateway"`: one business number on the gateway.
///
/// ```toml
/// [[channels]]
/// id = "acme-sms"
/// type = "sms-gateway"
/// number = "+15550100"
/// api_url = "https://sms-gateway.example/v1"
/// api_key_env = "ACME_SMS_API_KEY"
/// webhook_secret_env = "ACME_SMS_WEBHOOK_SECRET"
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsGatewayConfig {
    /// The business's number on the gateway: the `from` of outbound messages and the
    /// conversations' account.
    pub number: String,
    /// The gateway's API base URL; messages are posted to `{api_url}/messages`.
    pub api_url: String,
    /// The env var holding the gateway API key (sent as `Authorization: Bearer …`).
    pub api_key_env: String,
    /// The env var holding the secret the gateway signs its webhooks with.
    pub webhook_secret_env: String,
}
