//! The async-stripe client and how one call is sent: a fixed idempotency key on every attempt,
//! a per-attempt timeout, and bounded retries with backoff for what Stripe documents as
//! transient (timeouts, network errors, 429, 5xx, 409 `idempotency_key_in_use`).
//!
//! Everything that comes back from Stripe and may end up in a log or an error goes through
//! [`redact`] first, so a token or key echoed in a message never leaves this module.

use std::future::Future;
use std::time::Duration;

use ::stripe::{ApiErrors, ApiErrorsCode, ClientBuilder, IdempotencyKey, StripeError};

use super::config::{StripeConfig, StripeConfigError};
use crate::outbox::retry::RetryPolicy;

/// The configured async-stripe client with our retry policy.
#[derive(Clone, Debug)]
pub(crate) struct StripeApi {
    client: ::stripe::Client,
    timeout: Duration,
    retry: RetryPolicy,
}

/// Why a call did not return an object.
#[derive(Debug)]
pub(crate) enum CallError {
    /// Stripe answered with an error object that retrying will not change.
    Api {
        /// HTTP status of the answer.
        status: u16,
        /// Stripe's error object.
        error: Box<ApiErrors>,
    },
    /// The request was never executed by Stripe (the client refused to build or send it);
    /// the text is redacted and safe to show.
    Unavailable(String),
    /// Every attempt timed out, lost its answer, got an unreadable answer or a 5xx: Stripe
    /// may have executed the request. The text is redacted and safe to show.
    Unknown(String),
}

impl StripeApi {
    /// Builds the client for `config` (already validated).
    pub(crate) fn new(config: &StripeConfig) -> Result<StripeApi, StripeConfigError> {
        let client = ClientBuilder::new(config.secret_key.expose())
            .url(config.api_base_with_slash())
            .timeout(config.timeout)
            .app_info(
                "omnibridge",
                Some(env!("CARGO_PKG_VERSION").to_owned()),
                None,
            )
            .build()
            // async-stripe's config errors name the setting, not its value.
            .map_err(|e| StripeConfigError::Client(redact(&e.to_string())))?;
        Ok(StripeApi {
            client,
            timeout: config.timeout,
            retry: config.retry,
        })
    }

    /// The async-stripe client, for building requests.
    pub(crate) fn client(&self) -> &::stripe::Client {
        &self.client
    }

    /// The per-attempt timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `attempt` (which must send with `key`) until it succeeds, fails for good, or the
    /// retry policy runs out. `what` names the call in logs.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        what: &'static str,
        key: &IdempotencyKey,
        attempt: F,
    ) -> Result<T, CallError>
    where
        F: Fn(IdempotencyKey) -> Fut,
        Fut: Future<Output = Result<T, StripeError>>,
    {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let error = match attempt(key.clone()).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !is_transient(&error) {
                return Err(match error {
                    StripeError::Stripe(error, status) => CallError::Api { status, error },
                    other => CallError::Unavailable(describe(&other)),
                });
            }
            let description = describe(&error);
            match self.retry.next_delay(attempts, None) {
                Some(delay) => {
                    tracing::warn!(call = what, attempts, error = %description, ?delay,
                        "stripe call failed, retrying with the same idempotency key");
                    tokio::time::sleep(delay).await;
                }
                None => {
                    tracing::error!(call = what, attempts, error = %description,
                        "stripe call failed on every attempt; its outcome is unknown");
                    return Err(CallError::Unknown(format!(
                        "stripe unavailable after {attempts} attempts: {description}"
                    )));
                }
            }
        }
    }
}

/// Whether Stripe documents the failure as worth retrying with the same idempotency key.
fn is_transient(error: &StripeError) -> bool {
    match error {
        // Timeouts, connection errors, and bodies that are not Stripe's JSON (a proxy's 502
        // page): retrying with the same key replays, never doubles.
        StripeError::Timeout | StripeError::ClientError(_) | StripeError::JSONDeserialize(_) => {
            true
        }
        StripeError::Stripe(api, status) => {
            *status >= 500
                || *status == 429
                || (*status == 409 && api.code == Some(ApiErrorsCode::IdempotencyKeyInUse))
        }
        StripeError::ConfigError(_) => false,
    }
}

/// A one-line, redacted description of a Stripe error for logs and `Unavailable`.
pub(crate) fn describe(error: &StripeError) -> String {
    match error {
        StripeError::Stripe(api, status) => {
            let code = api.code.as_ref().map_or("-", |c| c.as_str());
            let message = api.message.as_deref().map(redact).unwrap_or_default();
            format!("stripe {status} {}/{code}: {message}", api.type_.as_str())
        }
        StripeError::Timeout => "timed out".to_owned(),
        StripeError::ClientError(e) => format!("network error: {}", redact(e)),
        StripeError::JSONDeserialize(e) => {
            format!(
                "unreadable answer (the body is not the expected object): {}",
                redact(e)
            )
        }
        StripeError::ConfigError(e) => format!("client configuration: {}", redact(e)),
    }
}

/// Prefixes of values that must never be shown: shared payment tokens, API keys, webhook
/// secrets, client secrets.
const SECRET_PREFIXES: &[&str] = &["spt_", "sk_", "rk_", "whsec_", "pk_"];

/// `text` with every token that looks like a secret (`spt_…`, `sk_…`, `rk_…`, `whsec_…`)
/// replaced by its prefix and `[redacted]`; also hides PaymentIntent client secrets
/// (`pi_…_secret_…`).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let word_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if word_len == 0 {
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                out.push(c);
            }
            rest = chars.as_str();
            continue;
        }
        let (word, tail) = rest.split_at(word_len);
        let starts_word = out
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        match SECRET_PREFIXES.iter().find(|p| word.starts_with(**p)) {
            Some(prefix) if starts_word => {
                out.push_str(prefix);
                out.push_str("[redacted]");
            }
            _ if word.contains("_secret_") => {
                out.push_str(word.split("_secret_").next().unwrap_or_default());
                out.push_str("_secret_[redacted]");
            }
            _ => out.push_str(word),
        }
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_other_words_kept() {
        let text =
            "No such token: 'spt_1N4Zv32eZvKYlo2C'; key sk_test_abc, whsec_x1 pi_123_secret_9";
        let out = redact(text);
        assert!(!out.contains("1N4Zv32"), "{out}");
        assert!(
            !out.contains("sk_test_abc") && !out.contains("whsec_x1"),
            "{out}"
        );
        assert!(out.contains("spt_[redacted]") && out.contains("pi_123_secret_[redacted]"));
        assert_eq!(
            redact("card declined: pi_123, desk_x"),
            "card declined: pi_123, desk_x"
        );
        assert_eq!(redact("été spt_a."), "été spt_[redacted].");
    }

    #[test]
    fn only_documented_transient_errors_are_retried() {
        assert!(is_transient(&StripeError::Timeout));
        assert!(is_transient(&StripeError::ClientError("reset".into())));
        assert!(!is_transient(&StripeError::ConfigError("x".into())));
    }
}
