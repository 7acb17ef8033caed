//! Payment sources: what pays for a customer. The wallet hands a source the challenge it
//! fetched; the source answers with the credential payload for that challenge's method
//! (`{"token": …}` for the sandbox, `{"spt": …}` for Stripe), or `None` when it cannot pay it.

use ::mpp::protocol::core::PaymentChallenge;
use serde_json::{Value, json};

/// A customer: a user on a kind of channel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CustomerRef {
    /// The channel kind (`webchat`, `whatsapp`).
    pub channel: String,
    /// The user's id on that channel.
    pub user_id: String,
}

/// A challenge fetched from a pay URL, with its `request` decoded.
#[derive(Clone, Debug)]
pub struct ParsedChallenge {
    /// The challenge as received (echoed in the credential).
    pub challenge: PaymentChallenge,
    /// Amount, minor units.
    pub amount: i64,
    /// ISO 4217 code, lower case.
    pub currency: String,
    /// `methodDetails` of the request.
    pub method_details: Value,
    /// When the challenge expires (unix seconds), when it says.
    pub expires_at: Option<i64>,
}

impl ParsedChallenge {
    /// Decodes a challenge's `request`; `None` when it is not a charge we understand.
    pub fn parse(challenge: PaymentChallenge) -> Option<ParsedChallenge> {
        let request: Value = challenge.request.decode_value().ok()?;
        let amount = request.get("amount")?.as_str()?.parse::<i64>().ok()?;
        let currency = request.get("currency")?.as_str()?.to_ascii_lowercase();
        let method_details = request.get("methodDetails").cloned().unwrap_or(Value::Null);
        let expires_at = challenge
            .expires
            .as_deref()
            .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
            .map(|t| t.timestamp());
        Some(ParsedChallenge {
            challenge,
            amount,
            currency,
            method_details,
            expires_at,
        })
    }

    /// The challenge's method (`sandbox`, `stripe`).
    pub fn method(&self) -> &str {
        self.challenge.method.as_str()
    }
}

/// Why a source could not produce a credential. Never carries a token or a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The provider could not be reached or refused the request.
    #[error("payment source unavailable: {0}")]
    Unavailable(String),
}

/// What pays for a customer.
#[async_trait::async_trait]
pub trait PaymentSource: Send + Sync + 'static {
    /// The MPP method this source pays with (`sandbox`, `stripe`).
    fn method(&self) -> &'static str;

    /// The credential payload for `challenge` (of this source's method), or `None` when
    /// this source cannot pay it.
    async fn credential(
        &self,
        customer: &CustomerRef,
        challenge: &ParsedChallenge,
    ) -> Result<Option<Value>, SourceError>;
}

/// The sandbox source: pays with a configured magic token (`tok_sandbox_success` by
/// default; `tok_sandbox_decline` makes the customer's payments decline).
#[derive(Clone, Debug)]
pub struct SandboxSource {
    token: String,
}

impl SandboxSource {
    /// A source paying with `token`.
    pub fn new(token: impl Into<String>) -> SandboxSource {
        SandboxSource {
            token: token.into(),
        }
    }
}

#[async_trait::async_trait]
impl PaymentSource for SandboxSource {
    fn method(&self) -> &'static str {
        "sandbox"
    }

    async fn credential(
        &self,
        _customer: &CustomerRef,
        challenge: &ParsedChallenge,
    ) -> Result<Option<Value>, SourceError> {
        Ok((challenge.method() == self.method()).then(|| json!({ "token": self.token })))
    }
}
