//! MPP responses: 402 with fresh challenges and a problem under
//! `https://paymentauth.org/problems/`, and 200 with a `Payment-Receipt`.

use ::mpp::protocol::core::accept_payment;
use ::mpp::protocol::core::{PaymentChallenge, Receipt, format_receipt, format_www_authenticate};
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Mpp;
use super::challenge::issue;
use crate::payments::intent::PaymentIntent;

/// The problem types of the payment scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentProblem {
    /// No credential was presented.
    PaymentRequired,
    /// The credential could not be parsed.
    MalformedCredential,
    /// The challenge is unknown, tampered, foreign, used, or for another intent.
    InvalidChallenge,
    /// The payment was refused or could not be verified.
    VerificationFailed,
    /// The challenge expired.
    PaymentExpired,
}

impl PaymentProblem {
    /// The problem's slug (`invalid-challenge`).
    pub fn slug(self) -> &'static str {
        match self {
            Self::PaymentRequired => "payment-required",
            Self::MalformedCredential => "malformed-credential",
            Self::InvalidChallenge => "invalid-challenge",
            Self::VerificationFailed => "verification-failed",
            Self::PaymentExpired => "payment-expired",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::PaymentRequired => "Payment Required",
            Self::MalformedCredential => "Malformed Credential",
            Self::InvalidChallenge => "Invalid Challenge",
            Self::VerificationFailed => "Payment Verification Failed",
            Self::PaymentExpired => "Payment Expired",
        }
    }
}

/// The fresh challenges for `intent`, one per enabled method, filtered and ordered by the
/// client's `Accept-Payment` (ignored when malformed or when nothing would be left).
pub fn challenges(mpp: &Mpp, intent: &PaymentIntent, headers: &HeaderMap) -> Vec<PaymentChallenge> {
    let ttl = chrono::Duration::seconds(i64::try_from(mpp.challenge_ttl_secs).unwrap_or(300));
    let expires = (chrono::Utc::now() + ttl).min(intent.expires_at);
    let offers: Vec<PaymentChallenge> = mpp
        .engine
        .methods()
        .iter()
        .filter_map(|method| {
            issue(&mpp.keys, &mpp.realm, intent, method.as_ref(), expires)
                .map_err(|error| {
                    tracing::error!(method = method.name(), %error, "challenge not issued");
                })
                .ok()
        })
        .collect();
    let preferences = headers
        .get("accept-payment")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| accept_payment::parse(value).ok());
    match preferences {
        Some(preferences) => {
            let ranked: Vec<PaymentChallenge> = accept_payment::rank(&offers, &preferences)
                .into_iter()
                .cloned()
                .collect();
            if ranked.is_empty() { offers } else { ranked }
        }
        None => offers,
    }
}

/// A 402: fresh challenges, `Cache-Control: no-store`, and the problem.
pub fn payment_required(
    mpp: &Mpp,
    intent: &PaymentIntent,
    headers: &HeaderMap,
    problem: PaymentProblem,
    detail: &str,
) -> Response {
    let body = json!({
        "type": format!("https://paymentauth.org/problems/{}", problem.slug()),
        "title": problem.title(),
        "status": 402,
        "detail": detail,
        "payment_intent_id": intent.id,
    });
    let mut response = (StatusCode::PAYMENT_REQUIRED, Json(body)).into_response();
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for challenge in challenges(mpp, intent, headers) {
        match header_value(&challenge) {
            Some(value) => {
                out.append(header::WWW_AUTHENTICATE, value);
            }
            None => tracing::error!(method = %challenge.method, "challenge could not be formatted"),
        }
    }
    response
}

fn header_value(challenge: &PaymentChallenge) -> Option<HeaderValue> {
    let text = format_www_authenticate(challenge).ok().or_else(|| {
        // A description the header syntax cannot carry is dropped (it is not bound).
        let mut plain = challenge.clone();
        plain.description = None;
        format_www_authenticate(&plain).ok()
    })?;
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

/// The receipt of a settled intent.
pub fn receipt(intent: &PaymentIntent) -> Option<Receipt> {
    let method = intent.method.clone()?;
    let reference = intent.reference.clone()?;
    let mut receipt = Receipt::success(method, reference);
    if let Some(at) = intent.settled_at {
        receipt.timestamp = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    }
    if let Some(external_id) = &intent.external_id {
        receipt = receipt.with_external_id(external_id.clone());
    }
    Some(receipt)
}

/// A 200 with the intent's JSON, its `Payment-Receipt` and `Cache-Control: private`.
pub fn paid(intent: &PaymentIntent, body: serde_json::Value) -> Response {
    let mut response = (StatusCode::OK, Json(body)).into_response();
    let out = response.headers_mut();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    if let Some(value) = receipt(intent)
        .and_then(|receipt| format_receipt(&receipt).ok())
        .and_then(|text| HeaderValue::from_str(&text).ok())
    {
        out.insert("payment-receipt", value);
    }
    response
}
