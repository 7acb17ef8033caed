//! Building the payments side from settings at start: the enabled methods (sandbox,
//! Stripe with its secrets from the named env vars), the challenge keys, the engine, the
//! linked sources and the wallet ([`build`]).

use std::net::SocketAddr;
use std::sync::Arc;

use super::engine::PaymentEngine;
use super::method::PaymentMethod;
use super::mpp::Mpp;
use super::mpp::keys::ChallengeKeys;
use super::notify::Notifier;
use super::sandbox::SandboxMethod;
use super::store::PaymentStore;
use super::stripe::{StripeConfig, StripeMethod};
use super::wallet::{LinkedSources, StripeIssuer, Wallet, WalletParts};
use crate::bus::EventLog;
use crate::config::{PaymentSettings, Settings};
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::store::Store;

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
    /// The challenge-binding secrets could not be loaded.
    #[error("{0}")]
    Keys(String),
}

/// What [`build`] needs from the rest of the bridge.
pub struct Parts<'a> {
    /// All settings.
    pub settings: &'a Settings,
    /// Intents and consumed challenges.
    pub payment_store: Arc<dyn PaymentStore>,
    /// Conversations (and the wallet's handled-event marks).
    pub store: Arc<dyn Store>,
    /// The bus (the wallet consumes it).
    pub bus: Arc<dyn EventLog>,
    /// Appends `payment.*` events.
    pub ingest: Ingest,
    /// Payment messages to conversations.
    pub notifier: Notifier,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The bridge's listening address (the wallet's default base URL).
    pub local: SocketAddr,
    /// This instance's consumer name.
    pub consumer: String,
}

/// The payments side, built.
pub struct Built {
    /// The HTTP state of the MPP endpoint, Stripe webhooks and linked sources.
    pub mpp: Arc<Mpp>,
    /// The wallet to run, when enabled.
    pub wallet: Option<Wallet>,
    /// The sandbox method, when enabled (tests read its counter).
    pub sandbox: Option<Arc<SandboxMethod>>,
}

/// Builds methods, keys, engine, linked sources and wallet.
pub fn build(parts: Parts<'_>) -> Result<Built, SetupError> {
    let payments = &parts.settings.payments;
    let built = methods(payments)?;
    let sources = Arc::new(linked_sources(payments)?);
    let keys = ChallengeKeys::from_settings(payments, &parts.settings.storage.data_dir)
        .map_err(|error| SetupError::Keys(error.to_string()))?;
    let engine = PaymentEngine::new(
        parts.payment_store,
        parts.store.clone(),
        parts.ingest,
        parts.notifier.with_confirm_keys(keys.clone()),
        built.methods,
        parts.metrics,
        payments.reconcile,
    );
    let wallet = wallet(
        payments,
        WalletParts {
            engine: engine.clone(),
            sources: sources.clone(),
            bus: parts.bus,
            store: parts.store,
            base_url: wallet_base_url(payments, parts.local),
            keywords: payments.confirm_keywords.clone(),
            consumer: parts.consumer,
        },
    )?;
    let mpp = Arc::new(Mpp {
        engine,
        keys,
        realm: payments.realm.clone(),
        challenge_ttl_secs: payments.challenge_ttl_secs,
        stripe: built.stripe,
        sources,
    });
    Ok(Built {
        mpp,
        wallet,
        sandbox: built.sandbox,
    })
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
    config.timeout = std::time::Duration::from_millis(settings.timeout_ms.max(1));
    config.retry.max_attempts = settings.max_attempts.max(1);
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

/// The wallet, when `payments.wallet.enabled`.
pub fn wallet(
    payments: &PaymentSettings,
    parts: WalletParts,
) -> Result<Option<Wallet>, SetupError> {
    if !payments.wallet.enabled {
        return Ok(None);
    }
    Wallet::new(parts)
        .map(Some)
        .map_err(|error| SetupError::Wallet(error.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> PaymentSettings {
        let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Settings::load_from(None, vars).unwrap().payments
    }

    #[test]
    fn stripe_is_built_from_config_and_named_env_vars() {
        let enabled = [
            ("OMNIBRIDGE__PAYMENTS__STRIPE__ENABLED", "true"),
            ("OMNIBRIDGE__PAYMENTS__STRIPE__NETWORK_ID", "profile_1"),
            (
                "OMNIBRIDGE__PAYMENTS__STRIPE__API_BASE",
                "http://127.0.0.1:9",
            ),
        ];
        let Err(error) = methods(&settings(&enabled)) else {
            panic!("a missing secret key must refuse the start");
        };
        let message = error.to_string();
        assert!(
            message.contains("OMNIBRIDGE_STRIPE_SECRET_KEY"),
            "{message}"
        );

        let mut vars = enabled.to_vec();
        vars.push(("OMNIBRIDGE_STRIPE_SECRET_KEY", "sk_test_setup"));
        let payments = settings(&vars);
        let built = methods(&payments).unwrap();
        let names: Vec<_> = built.methods.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["sandbox", "stripe"]);
        let stripe = built.stripe.unwrap();
        assert_eq!(stripe.config().api_base, "http://127.0.0.1:9");
        assert_eq!(stripe.config().payment_method_types, ["card"]);
        assert!(!format!("{payments:?}").contains("sk_test_setup"));
    }

    #[test]
    fn wallet_defaults_and_base_url() {
        let payments = settings(&[]);
        assert_eq!(payments.confirm_keywords, ["PAY", "PAGAR"]);
        assert!(payments.wallet.enabled);
        let sources = linked_sources(&payments).unwrap();
        let anyone = super::super::wallet::CustomerRef {
            channel: "webchat".into(),
            user_id: "u1".into(),
        };
        assert_eq!(sources.source_for(&anyone).unwrap().method(), "sandbox");
        let local: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(wallet_base_url(&payments, local), "http://127.0.0.1:8080");
    }
}
