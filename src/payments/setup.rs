//! Building the payments side from settings at start: the enabled methods (sandbox,
//! Stripe with its secrets from the named env vars), the linked sources and the wallet.

use std::net::SocketAddr;
use std::sync::Arc;

use super::method::PaymentMethod;
use super::sandbox::SandboxMethod;
use super::stripe::{StripeConfig, StripeMethod};
use super::wallet::{LinkedSources, StripeIssuer};
use crate::config::PaymentSettings;

/// Why the payments side could not be built; names settings and env vars, never secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The sandbox is on with `live = true`.
    #[error(
        "payments.live = true and the sandbox method is enabled; set payments.sandbox = false \
         (OMNIBRIDGE__PAYMENTS__SANDBOX=false) for real money"
    )]
    SandboxInLive,
    /// A secret's env var is not set.
    #[error("{key} names env var {var}, which is not set")]
    MissingSecret {
        /// The setting naming the variable.
        key: &'static str,
        /// The variable.
        var: String,
    },
    /// The Stripe settings are invalid.
    #[error("{0}")]
    Stripe(String),
    /// The wallet settings are invalid.
    #[error("payments.wallet: {0}")]
    Wallet(String),
}

/// The built methods.
pub struct Methods {
    /// Enabled methods, in server preference order.
    pub methods: Vec<Arc<dyn PaymentMethod>>,
    /// The sandbox, when enabled (tests read its counter).
    pub sandbox: Option<Arc<SandboxMethod>>,
    /// The Stripe method, when enabled (webhooks).
    pub stripe: Option<Arc<StripeMethod>>,
}

/// The enabled settlement methods: the sandbox first (when on), then Stripe.
pub fn methods(payments: &PaymentSettings) -> Result<Methods, SetupError> {
    let mut methods: Vec<Arc<dyn PaymentMethod>> = Vec::new();
    let mut sandbox = None;
    if payments.sandbox {
        if payments.live {
            return Err(SetupError::SandboxInLive);
        }
        let method = Arc::new(SandboxMethod::new());
        methods.push(method.clone());
        sandbox = Some(method);
    }
    let stripe = if payments.stripe.enabled {
        let method = Arc::new(stripe_method(payments)?);
        methods.push(method.clone());
        Some(method)
    } else {
        None
    };
    if methods.is_empty() {
        tracing::warn!("No payment method is enabled: payment intents cannot be paid.");
    }
    Ok(Methods {
        methods,
        sandbox,
        stripe,
    })
}

fn stripe_method(payments: &PaymentSettings) -> Result<StripeMethod, SetupError> {
    let settings = &payments.stripe;
    let secret_key = settings
        .secret_key
        .clone()
        .ok_or_else(|| SetupError::MissingSecret {
            key: "payments.stripe.secret_key_env",
            var: settings.secret_key_env.clone(),
        })?;
    let mut config = StripeConfig::new(secret_key, settings.network_id.clone());
    config.api_base = settings.api_base.clone();
    config.payment_method_types = settings.payment_method_types.clone();
    config.webhook_secret = settings.webhook_secret.clone();
    if config.webhook_secret.is_none() {
        tracing::warn!(var = %settings.webhook_secret_env,
            "No Stripe webhook secret: Stripe webhooks will be refused.");
    }
    StripeMethod::new(config).map_err(|error| SetupError::Stripe(error.to_string()))
}

/// The linked-sources registry (Stripe links issue SPTs with the Stripe secret key).
pub fn linked_sources(payments: &PaymentSettings) -> Result<LinkedSources, SetupError> {
    let issuer = match (&payments.stripe.secret_key, payments.stripe.enabled) {
        (Some(key), true) => Some(
            StripeIssuer::new(&payments.stripe.api_base, key.clone())
                .map_err(|error| SetupError::Wallet(error.to_string()))?,
        ),
        _ => None,
    };
    LinkedSources::from_settings(&payments.wallet, &payments.linked_sources, issuer)
        .map_err(SetupError::Wallet)
}

/// The wallet's base URL: `payments.wallet.base_url`, or this bridge's own address.
pub fn wallet_base_url(payments: &PaymentSettings, local: SocketAddr) -> String {
    if !payments.wallet.base_url.trim().is_empty() {
        return payments.wallet.base_url.trim().to_owned();
    }
    let host = if local.ip().is_unspecified() {
        match local {
            SocketAddr::V4(_) => "127.0.0.1".to_owned(),
            SocketAddr::V6(_) => "[::1]".to_owned(),
        }
    } else if local.is_ipv6() {
        format!("[{}]", local.ip())
    } else {
        local.ip().to_string()
    };
    format!("http://{host}:{}", local.port())
}
