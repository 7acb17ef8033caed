//! The `[[channels]] type = "http"` table. Everything here is checked by
//! [`HttpChannelFactory::build`](crate::HttpChannelFactory) before the bridge starts; an error
//! names the key (`inbound.message_id`, `outbound.body`, `status.map.DELIVRD`).
//!
//! ```toml
//! [[channels]]
//! id = "sms"
//! type = "http"
//!
//! [channels.inbound]
//! secret_env = "SMS_WEBHOOK_SECRET"
//! signature_header = "X-Signature"
//! signature = "hmac-sha256-hex"
//! message_id = "/id"
//! sender_id = "/from"
//! text = "/text"
//!
//! [channels.outbound]
//! url = "https://sms.example/send"
//! body = '{"to": {{json to}}, "text": {{json text}}}'
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

/// Seconds of clock skew allowed on `timestamp.body` signatures unless `tolerance_secs` says
/// otherwise.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// Seconds an outbound request may take unless `timeout_secs` says otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

/// One HTTP channel: how the provider's webhooks are verified and mapped, how messages are
/// posted to its API, and what it can render. Secrets are never in here, only the names of
/// the environment variables holding them (`*_env`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpChannelConfig {
    /// The provider's message webhook (`POST /webhooks/<id>`): its signature and where each
    /// field of a message is in the JSON body.
    pub inbound: InboundConfig,
    /// The provider's send API: where to post and the JSON body to post.
    pub outbound: OutboundConfig,
    /// Delivery-status callbacks at `POST /webhooks/<id>/status`, signed like the inbound
    /// webhook; absent: the channel takes none.
    #[serde(default)]
    pub status: Option<StatusConfig>,
    /// What the provider can render; absent: unlimited plain text only.
    #[serde(default)]
    pub capabilities: CapabilitiesConfig,
}

/// How the provider signs its webhooks.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureEncoding {
    /// HMAC-SHA256, hex encoded (either case).
    #[serde(rename = "hmac-sha256-hex")]
    HmacSha256Hex,
    /// HMAC-SHA256, standard base64 (with or without padding).
    #[serde(rename = "hmac-sha256-base64")]
    HmacSha256Base64,
}

/// What the webhook's HMAC covers.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SignedPayload {
    /// The raw body.
    #[default]
    #[serde(rename = "body")]
    Body,
    /// `"<timestamp>.<raw body>"`, the timestamp taken verbatim from `timestamp_header`.
    #[serde(rename = "timestamp.body")]
    TimestampBody,
}

/// `[channels.inbound]`: the message webhook. Every mapping value is a JSON Pointer
/// (RFC 6901, e.g. `/message/from`) into one message; values may be strings or numbers.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InboundConfig {
    /// Env var holding the HMAC key the provider signs webhooks with.
    pub secret_env: String,
    /// Header carrying the signature (e.g. `X-Signature`).
    pub signature_header: String,
    /// `hmac-sha256-hex` or `hmac-sha256-base64`.
    pub signature: SignatureEncoding,
    /// A prefix the provider puts before the signature (e.g. `sha256=`), stripped before
    /// decoding; a header without it is refused.
    #[serde(default)]
    pub signature_prefix: Option<String>,
    /// `body` (default): the HMAC covers the raw body; `timestamp.body`: it covers
    /// `"<timestamp>.<body>"` with the timestamp from `timestamp_header`.
    #[serde(default)]
    pub signed_payload: SignedPayload,
    /// Header carrying the unix-seconds timestamp; required with `timestamp.body`.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// With `timestamp.body`: how far (seconds) the timestamp may be from our clock; default
    /// 300.
    #[serde(default)]
    pub tolerance_secs: Option<u64>,
    /// Pointer to an array of messages in one body; absent: the body is one message.
    #[serde(default)]
    pub items: Option<String>,
    /// Pointer to the provider's message id (required in every message; the bridge
    /// de-duplicates on it).
    pub message_id: String,
    /// Pointer to the sender's address (required in every message).
    pub sender_id: String,
    /// Pointer to the sender's display name.
    #[serde(default)]
    pub sender_name: Option<String>,
    /// Pointer to the conversation's thread; absent or empty: the sender's address.
    #[serde(default)]
    pub thread: Option<String>,
    /// Pointer to the message text.
    #[serde(default)]
    pub text: Option<String>,
    /// Pointer to a button's payload: a message carrying one becomes `action.invoked`
    /// (its text, if any, is the button's label).
    #[serde(default)]
    pub action_payload: Option<String>,
    /// Pointer to the URL of an attached file (the bridge downloads and stores it).
    #[serde(default)]
    pub media_url: Option<String>,
    /// Pointer to when the message was sent: unix seconds (number or numeric string) or
    /// RFC 3339; absent: when the bridge received it.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// The business's own address on this provider (`ConversationRef::account`); default:
    /// the channel id.
    #[serde(default)]
    pub account: Option<String>,
}

/// `[channels.outbound]`: the provider's send API.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OutboundConfig {
    /// Where messages are POSTed (`http` or `https`).
    pub url: String,
    /// Env var whose value is sent as the `Authorization` header (e.g. `Bearer ...`).
    #[serde(default)]
    pub auth_header_env: Option<String>,
    /// Handlebars template of the JSON body. Variables: `to` and `thread` (the customer's
    /// address), `account`, `text`, `buttons` (`[{label, payload, url}]`), `reply_to` (the
    /// provider message id replied to, or null), `outbound_id`, `attachments`
    /// (`[{media_id, filename, mime_type, base64}]`). `{{json x}}` writes `x` as a JSON
    /// literal; nothing is HTML-escaped; unknown variables are errors.
    pub body: String,
    /// Env var holding the key to sign requests with (needs `signature_header`): the header
    /// value is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Header carrying the request signature (needs `secret_env`).
    #[serde(default)]
    pub signature_header: Option<String>,
    /// Pointer to the provider's message id in its JSON answer; absent or not found: the
    /// outbound id is the provider message id.
    #[serde(default)]
    pub provider_message_id: Option<String>,
    /// Seconds one request may take; default 10.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// `[channels.status]`: delivery-status callbacks at `POST /webhooks/<id>/status`, verified
/// with the `[channels.inbound]` signature settings.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StatusConfig {
    /// Pointer to an array of statuses in one body; absent: the body is one status.
    #[serde(default)]
    pub items: Option<String>,
    /// Pointer to the id of the message the status is about: the provider's id from the send
    /// answer (`outbound.provider_message_id`), or our outbound id.
    pub message_id: String,
    /// Pointer to the provider's status word.
    pub status: String,
    /// Pointer to the customer's address the message went to (the conversation's thread);
    /// absent or not found: the bridge files the status under the conversation of the
    /// message it is about.
    #[serde(default)]
    pub thread: Option<String>,
    /// Provider status word → `sent`, `delivered`, `read` or `failed`. Words not listed that
    /// already are one of those four map to themselves; others are skipped (logged at debug).
    #[serde(default)]
    pub map: BTreeMap<String, String>,
}

/// `[channels.capabilities]`: what the provider renders.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CapabilitiesConfig {
    /// Longest text of one message, in characters (longer texts are split); absent:
    /// unlimited.
    #[serde(default)]
    pub max_text_len: Option<usize>,
    /// Whether the body template renders payload buttons (up to 3, labels up to 20
    /// characters); otherwise the bridge turns buttons into numbered text.
    #[serde(default)]
    pub buttons: bool,
    /// Whether the body template sends attachments (`attachments[].base64`, up to 5 MiB
    /// each).
    #[serde(default)]
    pub media: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_apply_and_unknown_keys_are_refused() {
        let json = serde_json::json!({
            "inbound": {
                "secret_env": "S", "signature_header": "X-Signature",
                "signature": "hmac-sha256-base64", "message_id": "/id", "sender_id": "/from"
            },
            "outbound": {"url": "http://127.0.0.1:9/send", "body": "{}"}
        });
        let config: HttpChannelConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(config.inbound.signed_payload, SignedPayload::Body);
        assert_eq!(
            config.inbound.signature,
            SignatureEncoding::HmacSha256Base64
        );
        assert!(config.status.is_none());
        assert_eq!(config.capabilities, CapabilitiesConfig::default());
        let mut typo = json.clone();
        typo["inbound"]["mesage_id"] = "/x".into();
        assert!(serde_json::from_value::<HttpChannelConfig>(typo).is_err());
        let mut typo = json.clone();
        typo["capabilities"] = serde_json::json!({"button": true});
        assert!(serde_json::from_value::<HttpChannelConfig>(typo).is_err());
        let mut ts = json;
        ts["inbound"]["signed_payload"] = "timestamp.body".into();
        let config: HttpChannelConfig = serde_json::from_value(ts).unwrap();
        assert_eq!(config.inbound.signed_payload, SignedPayload::TimestampBody);
    }
}
