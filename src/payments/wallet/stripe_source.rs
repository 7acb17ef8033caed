//! The Stripe source: issues a Shared Payment Token from the customer's saved
//! PaymentMethod, scoped to the challenge (`POST /v1/shared_payment/issued_tokens` with
//! `payment_method`, `seller_details[network_business_profile]` = the challenge's
//! `networkId`, `usage_limits[currency|max_amount|expires_at]` = its currency, amount and
//! expiry), and pays with `{"spt": <id>}`. The secret key and the SPT are never logged.

use std::time::Duration;

use serde_json::{Value, json};

use super::source::{CustomerRef, ParsedChallenge, PaymentSource, SourceError};
use crate::config::Secret;

/// Issuing SPTs with one Stripe account.
#[derive(Clone, Debug)]
pub struct StripeIssuer {
    api_base: String,
    secret_key: Secret,
    client: reqwest::Client,
}

impl StripeIssuer {
    /// An issuer against `api_base` (no `/v1`) with `secret_key`.
    pub fn new(api_base: &str, secret_key: Secret) -> Result<StripeIssuer, SourceError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SourceError::Unavailable(e.to_string()))?;
        Ok(StripeIssuer {
            api_base: api_base.trim().trim_end_matches('/').to_owned(),
            secret_key,
            client,
        })
    }

    /// A source paying from `payment_method` (`pm_…`).
    pub fn source(&self, payment_method: &str) -> StripeSource {
        StripeSource {
            issuer: self.clone(),
            payment_method: payment_method.to_owned(),
        }
    }
}

/// Pays from one saved PaymentMethod through SPTs.
#[derive(Clone, Debug)]
pub struct StripeSource {
    issuer: StripeIssuer,
    payment_method: String,
}

#[async_trait::async_trait]
impl PaymentSource for StripeSource {
    fn method(&self) -> &'static str {
        "stripe"
    }

    async fn credential(
        &self,
        _customer: &CustomerRef,
        challenge: &ParsedChallenge,
    ) -> Result<Option<Value>, SourceError> {
        if challenge.method() != self.method() {
            return Ok(None);
        }
        let Some(network) = challenge
            .method_details
            .get("networkId")
            .and_then(Value::as_str)
        else {
            return Ok(None);
        };
        let expires_at = challenge
            .expires_at
            .unwrap_or_else(|| chrono::Utc::now().timestamp() + 300);
        let form = [
            ("payment_method", self.payment_method.clone()),
            (
                "seller_details[network_business_profile]",
                network.to_owned(),
            ),
            ("usage_limits[currency]", challenge.currency.clone()),
            ("usage_limits[max_amount]", challenge.amount.to_string()),
            ("usage_limits[expires_at]", expires_at.to_string()),
        ];
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let issuer = &self.issuer;
        let response = issuer
            .client
            .post(format!(
                "{}/v1/shared_payment/issued_tokens",
                issuer.api_base
            ))
            .bearer_auth(issuer.secret_key.expose())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| SourceError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .map_err(|e| SourceError::Unavailable(e.without_url().to_string()))?;
        if !status.is_success() {
            let code = answer
                .pointer("/error/code")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            return Err(SourceError::Unavailable(format!(
                "stripe refused to issue a token ({status}, {code})"
            )));
        }
        let spt = answer
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| id.starts_with("spt_"))
            .ok_or_else(|| SourceError::Unavailable("stripe answered no token id".into()))?;
        Ok(Some(json!({ "spt": spt })))
    }
}

/// `application/x-www-form-urlencoded` escaping of one key or value.
fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_encoding_escapes_brackets() {
        assert_eq!(
            super::urlencode("usage_limits[currency]"),
            "usage_limits%5Bcurrency%5D"
        );
    }
}
