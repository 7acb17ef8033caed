//! Issuing challenges for an intent and verifying the credentials that echo them, with the
//! `mpp` crate's wire types and HMAC binding.
//!
//! The `request` is the JCS form of `{amount, currency, description, externalId?,
//! methodDetails}` (amount a string of minor units, currency lower-case ISO 4217),
//! base64url without padding. `opaque` is the JCS form of `{"intent_id", "nonce"}`: the
//! random nonce makes every challenge id unique, so a fresh challenge after a failed try
//! never collides with a consumed one.

use ::mpp::protocol::core::{
    Base64UrlJson, PaymentChallenge, PaymentCredential, parse_authorization,
};
use omnibridge_sdk::Timestamp;
use serde_json::{Value, json};

use super::keys::ChallengeKeys;
use crate::payments::engine::PaymentEngine;
use crate::payments::intent::PaymentIntent;
use crate::payments::method::PaymentMethod;

/// The MPP intent we issue.
pub const INTENT_CHARGE: &str = "charge";

/// Why a credential was refused before settlement; each is a 402 with a fresh challenge.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// Not a parsable Payment credential (`malformed-credential`).
    #[error("{0}")]
    Malformed(String),
    /// Unknown, tampered, foreign, used, or for another intent (`invalid-challenge`).
    #[error("{0}")]
    InvalidChallenge(String),
    /// The challenge is genuine but expired (`payment-expired`).
    #[error("the challenge expired at {0}")]
    Expired(String),
}

/// A credential whose challenge is genuine, unexpired and bound to this intent.
#[derive(Debug)]
pub struct Verified {
    /// The challenge id (to consume).
    pub challenge_id: String,
    /// When the challenge expires.
    pub expires: Timestamp,
    /// The method it names (enabled on this bridge).
    pub method: String,
    /// The method-specific payload (never logged).
    pub payload: Value,
}

/// Issues one challenge for `intent` and `method`, expiring at `expires`.
pub fn issue(
    keys: &ChallengeKeys,
    realm: &str,
    intent: &PaymentIntent,
    method: &dyn PaymentMethod,
    expires: Timestamp,
) -> Result<PaymentChallenge, String> {
    let charge = PaymentEngine::charge(intent).map_err(|e| e.to_string())?;
    let mut request = json!({
        "amount": intent.amount.to_string(),
        "currency": intent.currency.to_ascii_lowercase(),
        "description": intent.description,
        "methodDetails": method.method_details(&charge),
    });
    if let Some(external_id) = &intent.external_id {
        request["externalId"] = json!(external_id);
    }
    let request = Base64UrlJson::from_value(&request).map_err(|e| e.to_string())?;
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let opaque = Base64UrlJson::from_value(&json!({ "intent_id": intent.id, "nonce": nonce }))
        .map_err(|e| e.to_string())?;
    let expires = expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(PaymentChallenge::with_secret_key_full(
        keys.current(),
        realm,
        method.name(),
        INTENT_CHARGE,
        request,
        Some(&expires),
        None,
        Some(&intent.description),
        Some(opaque),
        None,
    ))
}

/// Verifies an `Authorization: Payment …` value against `intent`, in the spec's order:
/// parse → binding (realm, method, intent, HMAC with the current or a previous secret) →
/// bound to this intent, amount and currency → not expired. Single use is checked next,
/// atomically, by the store.
pub fn verify(
    keys: &ChallengeKeys,
    realm: &str,
    engine: &PaymentEngine,
    intent: &PaymentIntent,
    authorization: &str,
) -> Result<Verified, Rejection> {
    let credential: PaymentCredential = parse_authorization(authorization)
        .map_err(|error| Rejection::Malformed(error.to_string()))?;
    if !credential.payload.is_object() {
        return Err(Rejection::Malformed("payload must be a JSON object".into()));
    }
    let echo = credential.challenge;
    if echo.realm != realm {
        return Err(Rejection::InvalidChallenge(
            "the challenge was issued for another realm".into(),
        ));
    }
    if engine.method(echo.method.as_str()).is_none() || echo.intent.as_str() != INTENT_CHARGE {
        return Err(Rejection::InvalidChallenge(
            "the challenge names a method or intent this server does not offer".into(),
        ));
    }
    let challenge = PaymentChallenge {
        id: echo.id,
        realm: echo.realm,
        method: echo.method,
        intent: echo.intent,
        request: echo.request,
        expires: echo.expires,
        description: echo.description,
        digest: echo.digest,
        opaque: echo.opaque,
        header: echo.header,
    };
    if !keys.all().any(|secret| challenge.verify(secret)) {
        return Err(Rejection::InvalidChallenge(
            "the challenge id does not match its parameters (unknown or tampered)".into(),
        ));
    }
    let opaque_intent = challenge
        .opaque
        .as_ref()
        .and_then(|opaque| opaque.decode_value().ok())
        .and_then(|value| {
            value
                .get("intent_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    if opaque_intent.as_deref() != Some(intent.id.as_str()) {
        return Err(Rejection::InvalidChallenge(
            "the challenge was issued for another payment intent".into(),
        ));
    }
    let request = challenge
        .request
        .decode_value()
        .map_err(|_| Rejection::InvalidChallenge("the challenge request is not JSON".into()))?;
    let amount_matches =
        request.get("amount").and_then(Value::as_str) == Some(intent.amount.to_string().as_str());
    let currency_matches = request
        .get("currency")
        .and_then(Value::as_str)
        .is_some_and(|currency| currency.eq_ignore_ascii_case(&intent.currency));
    if !amount_matches || !currency_matches {
        return Err(Rejection::InvalidChallenge(
            "the challenge was issued for another amount or currency".into(),
        ));
    }
    let expires_text = challenge
        .expires
        .clone()
        .ok_or_else(|| Rejection::InvalidChallenge("the challenge has no expiry".into()))?;
    let expires = chrono::DateTime::parse_from_rfc3339(&expires_text)
        .map_err(|_| Rejection::InvalidChallenge("the challenge expiry is not RFC 3339".into()))?
        .with_timezone(&chrono::Utc);
    if expires <= chrono::Utc::now() {
        return Err(Rejection::Expired(expires_text));
    }
    Ok(Verified {
        challenge_id: challenge.id,
        expires,
        method: challenge.method.as_str().to_owned(),
        payload: credential.payload,
    })
}
