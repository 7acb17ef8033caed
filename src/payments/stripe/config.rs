//! What the Stripe method needs to run: API base, secret key, Business Network profile,
//! payment method types, webhook secret, timeouts and retries. A plain struct: the
//! `[payments.stripe]` TOML section is mapped onto it by the config layer.

use std::time::Duration;

use crate::config::Secret;
use crate::outbox::retry::RetryPolicy;

/// Stripe's production API base.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// Settings of the Stripe method.
#[derive(Clone, Debug)]
pub struct StripeConfig {
    /// Stripe API base URL (`https://api.stripe.com`; a local fake in tests). No `/v1` suffix.
    pub api_base: String,
    /// Secret API key (`sk_…` or restricted `rk_…`); never printed.
    pub secret_key: Secret,
    /// Business Network profile id announced as `methodDetails.networkId`.
    pub network_id: String,
    /// Payment method types announced as `methodDetails.paymentMethodTypes` (non-empty).
    pub payment_method_types: Vec<String>,
    /// Webhook endpoint signing secret (`whsec_…`), when Stripe webhooks are received.
    pub webhook_secret: Option<Secret>,
    /// Timeout of one HTTP attempt to Stripe.
    pub timeout: Duration,
    /// Attempts and backoff for timeouts, network errors and Stripe 5xx (same idempotency
    /// key on every attempt).
    pub retry: RetryPolicy,
}

impl StripeConfig {
    /// A configuration with the defaults: production API base, `["card"]`, 10 s per attempt,
    /// 3 attempts with 250 ms–2 s backoff, no webhook secret.
    pub fn new(secret_key: Secret, network_id: impl Into<String>) -> StripeConfig {
        StripeConfig {
            api_base: DEFAULT_API_BASE.to_owned(),
            secret_key,
            network_id: network_id.into(),
            payment_method_types: vec!["card".to_owned()],
            webhook_secret: None,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(250),
                max_backoff: Duration::from_secs(2),
            },
        }
    }

    /// Checks the settings; the error names the setting, never its value when secret.
    pub fn validate(&self) -> Result<(), StripeConfigError> {
        let base = self.api_base.trim();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(StripeConfigError::Invalid(
                "api_base must be an http(s) URL".into(),
            ));
        }
        if base.trim_end_matches('/').ends_with("/v1") {
            return Err(StripeConfigError::Invalid(
                "api_base must not end with /v1 (it is added per request)".into(),
            ));
        }
        if self.secret_key.expose().trim().is_empty() {
            return Err(StripeConfigError::Invalid("secret_key is empty".into()));
        }
        if self.network_id.trim().is_empty() {
            return Err(StripeConfigError::Invalid("network_id is empty".into()));
        }
        if self.payment_method_types.is_empty()
            || self
                .payment_method_types
                .iter()
                .any(|t| t.trim().is_empty())
        {
            return Err(StripeConfigError::Invalid(
                "payment_method_types must be a non-empty list of names".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(StripeConfigError::Invalid("timeout must be > 0".into()));
        }
        if self.retry.max_attempts == 0 {
            return Err(StripeConfigError::Invalid(
                "retry.max_attempts must be ≥ 1".into(),
            ));
        }
        Ok(())
    }

    /// The API base with exactly one trailing slash, as async-stripe joins `v1/...` to it.
    pub(crate) fn api_base_with_slash(&self) -> String {
        format!("{}/", self.api_base.trim().trim_end_matches('/'))
    }
}

/// A Stripe configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StripeConfigError {
    /// A setting is missing or out of range.
    #[error("invalid [payments.stripe] setting: {0}")]
    Invalid(String),
    /// async-stripe refused to build a client (the message names no secret).
    #[error("cannot build the Stripe client: {0}")]
    Client(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> StripeConfig {
        StripeConfig::new(Secret::new("sk_test_123"), "profile_123")
    }

    #[test]
    fn defaults_validate_and_the_base_gets_one_slash() {
        let mut c = config();
        assert!(c.validate().is_ok());
        assert_eq!(c.payment_method_types, vec!["card".to_owned()]);
        assert_eq!(c.api_base_with_slash(), "https://api.stripe.com/");
        c.api_base = "http://127.0.0.1:9/".into();
        assert_eq!(c.api_base_with_slash(), "http://127.0.0.1:9/");
    }

    #[test]
    fn bad_settings_are_named_without_secrets() {
        let mut c = config();
        c.network_id = " ".into();
        assert!(c.validate().unwrap_err().to_string().contains("network_id"));
        let mut c = config();
        c.payment_method_types.clear();
        assert!(c.validate().is_err());
        let mut c = config();
        c.api_base = "ftp://x".into();
        assert!(c.validate().is_err());
        let mut c = config();
        c.api_base = "https://api.stripe.com/v1".into();
        assert!(c.validate().is_err());
        let mut c = config();
        c.secret_key = Secret::new("");
        let message = c.validate().unwrap_err().to_string();
        assert!(message.contains("secret_key") && !message.contains("sk_"));
    }
}
