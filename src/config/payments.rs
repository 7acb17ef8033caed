//! `[payments]` and `[payments.stripe]`: the payment engine and its MPP endpoint.
//!
//! The challenge-binding HMAC secret never sits in TOML: `secret_env` names the env var that
//! holds it (at least 32 bytes). Without that variable and with `live = false`, the bridge
//! generates one into the data dir at start (`payments.secret`), like the web-chat token
//! secret; with `live = true` the variable is required. `previous_secret_envs` name retired
//! secrets that still verify the challenges they issued until those expire.

use serde::Deserialize;

use super::Secret;
pub use super::wallet::{LinkedSourceSettings, WalletSettings};

/// Shortest accepted challenge-binding secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// `[payments]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    /// The MPP protection space (`realm` of every challenge), e.g. the public host name.
    pub realm: String,
    /// Lifetime of an MPP challenge, in seconds (never beyond the intent's own expiry).
    pub challenge_ttl_secs: u64,
    /// Real money moves: refuses the `sandbox` method and requires `secret_env` to be set.
    pub live: bool,
    /// Offer the keyless `sandbox` method (magic tokens, see the README).
    pub sandbox: bool,
    /// The env var holding the challenge-binding HMAC secret (≥ 32 bytes).
    pub secret_env: String,
    /// Env vars holding retired secrets that still verify their unexpired challenges.
    #[serde(default)]
    pub previous_secret_envs: Vec<String>,
    /// The Stripe method's settings.
    pub stripe: StripeSettings,
    /// Words that, as the first line of a customer's message, confirm the conversation's
    /// only open intent (case-insensitive).
    #[serde(default = "default_confirm_keywords")]
    pub confirm_keywords: Vec<String>,
    /// The in-channel wallet.
    pub wallet: WalletSettings,
    /// Settlements whose outcome is unknown, intents left `processing`, and expiry.
    pub reconcile: ReconcileSettings,
    /// Customers linked to a payment source (`[[payments.linked_sources]]`).
    #[serde(default)]
    pub linked_sources: Vec<LinkedSourceSettings>,
    /// The secret read from `secret_env`, when that variable is set.
    #[serde(skip)]
    pub secret: Option<Secret>,
    /// The secrets read from `previous_secret_envs`.
    #[serde(skip)]
    pub previous_secrets: Vec<Secret>,
}

/// `[payments.stripe]`: read by the Stripe method.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSettings {
    /// Offer the `stripe` method.
    #[serde(default)]
    pub enabled: bool,
    /// Stripe's API base URL (a local fake in tests).
    pub api_base: String,
    /// The env var holding the Stripe secret key (`sk_…`).
    pub secret_key_env: String,
    /// The Stripe business network id, sent as `methodDetails.networkId`.
    pub network_id: String,
    /// `methodDetails.paymentMethodTypes` (non-empty, e.g. `["card"]`).
    pub payment_method_types: Vec<String>,
    /// The env var holding the webhook signing secret (`whsec_…`).
    pub webhook_secret_env: String,
    /// Timeout of one HTTP attempt to Stripe, in milliseconds.
    pub timeout_ms: u64,
    /// Attempts per Stripe call (timeouts, network errors, 429 and 5xx are retried with the
    /// same idempotency key); after the last one a settlement's outcome is unknown.
    pub max_attempts: u32,
    /// The secret key read from `secret_key_env`, when that variable is set.
    #[serde(skip)]
    pub secret_key: Option<Secret>,
    /// The webhook secret read from `webhook_secret_env`, when that variable is set.
    #[serde(skip)]
    pub webhook_secret: Option<Secret>,
}

/// `[payments.reconcile]`: the job that resolves settlements whose outcome is unknown (a
/// timeout, a lost or unreadable answer), sweeps intents a crash left `processing`, and moves
/// overdue intents to `expired`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    /// Milliseconds between two runs of the job (it also runs once at start).
    pub interval_ms: u64,
    /// A `processing` intent no settlement of this instance is working on is looked up at the
    /// processor once it has been `processing` this long (seconds). Longer than one
    /// settlement can take (Stripe: 3 attempts of 10 s).
    pub stale_after_secs: u64,
    /// An intent the processor holds no charge for is re-opened only after it has been
    /// `processing` this long (seconds): the processor's search can lag behind its charges.
    pub not_found_grace_secs: u64,
    /// `Retry-After` (seconds) of the answer a payer gets while the outcome is unknown.
    pub retry_after_secs: u64,
}

fn default_confirm_keywords() -> Vec<String> {
    vec!["PAY".to_owned(), "PAGAR".to_owned()]
}

/// Why the payment secrets could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum SecretProblem {
    /// The named variable is not set.
    #[error("missing")]
    Missing(String),
    /// The value is shorter than [`MIN_SECRET_BYTES`].
    #[error("short")]
    Short(String),
}

impl PaymentSettings {
    /// Reads `secret_env` (optional) and `previous_secret_envs` (each required) from `env`.
    pub(super) fn resolve_secrets(
        &mut self,
        env: &std::collections::HashMap<String, String>,
    ) -> Result<(), SecretProblem> {
        let read = |var: &str| -> Result<Option<Secret>, SecretProblem> {
            match env.get(var).filter(|value| !value.is_empty()) {
                None => Ok(None),
                Some(value) if value.len() < MIN_SECRET_BYTES => {
                    Err(SecretProblem::Short(var.to_owned()))
                }
                Some(value) => Ok(Some(Secret::new(value.clone()))),
            }
        };
        self.secret = read(&self.secret_env)?;
        // Stripe's secrets are checked at start, and only when the method is enabled.
        let plain = |var: &str| {
            env.get(var)
                .filter(|value| !value.trim().is_empty())
                .map(|value| Secret::new(value.clone()))
        };
        self.stripe.secret_key = plain(&self.stripe.secret_key_env);
        self.stripe.webhook_secret = plain(&self.stripe.webhook_secret_env);
        self.previous_secrets = self
            .previous_secret_envs
            .iter()
            .map(|var| read(var)?.ok_or_else(|| SecretProblem::Missing(var.clone())))
            .collect::<Result<_, _>>()?;
        Ok(())
    }
}
