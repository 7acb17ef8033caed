//! The `stripe` payment method: settles MPP `charge` credentials carrying a Shared Payment
//! Token (SPT) by creating a confirmed PaymentIntent (`specs/mpp-method-stripe-charge.md`),
//! refunds them, and verifies and reconciles Stripe webhooks.
//!
//! # Layout
//! - [`config`]: [`StripeConfig`], validated by [`StripeMethod::new`].
//! - `client`: the async-stripe client, retries with one idempotency key, [`redact`].
//! - `settle`, `refund`: request building and the mapping of Stripe answers.
//! - `lookup`: what Stripe holds for one of our intents (search by `metadata['intent_id']`),
//!   for settlements whose answer was lost.
//! - [`webhook`]: `Stripe-Signature` verification and event parsing into [`StripeUpdate`].
//! - [`state`]: the pure, convergent state logic ([`apply`]).
//!
//! Secrets and SPTs never appear in logs or errors: the idempotency key is a hash, and every
//! text that comes from Stripe is [`redact`]ed.

use serde_json::{Value, json};
use stripe_core::Refund;

use stripe_core::payment_intent::SearchPaymentIntent;

use crate::payments::method::{Charge, Lookup, PaymentMethod, Refunded, SettleError, Settlement};

mod client;
pub mod config;
pub mod endpoint;
mod lookup;
mod messages;
mod refund;
mod settle;
pub mod state;
pub mod webhook;

pub use client::redact;
pub use config::{StripeConfig, StripeConfigError};
pub use messages::customer_message;
pub use state::{IntentPhase, IntentStateSnapshot, Transition, apply};
pub use webhook::{StripeUpdate, UpdateKind, WebhookError, reconcile, verify_stripe_signature};

use client::{CallError, StripeApi};

/// The settlement call, as named in logs and errors.
const CREATE: &str = "create PaymentIntent";

/// The Stripe settlement method.
#[derive(Clone, Debug)]
pub struct StripeMethod {
    config: StripeConfig,
    api: StripeApi,
}

impl StripeMethod {
    /// Validates `config` and builds the client (no network call).
    pub fn new(config: StripeConfig) -> Result<StripeMethod, StripeConfigError> {
        config.validate()?;
        let api = StripeApi::new(&config)?;
        Ok(StripeMethod { config, api })
    }

    /// The configuration this method runs with.
    pub fn config(&self) -> &StripeConfig {
        &self.config
    }

    /// Verifies a Stripe webhook body against its `Stripe-Signature` header with the
    /// configured webhook secret, allowing `tolerance_secs` around `now` (unix seconds).
    pub fn verify_webhook(
        &self,
        payload: &[u8],
        header: &str,
        now: i64,
        tolerance_secs: i64,
    ) -> Result<(), WebhookError> {
        let secret = self
            .config
            .webhook_secret
            .as_ref()
            .ok_or(WebhookError::NotConfigured)?;
        verify_stripe_signature(
            payload,
            header,
            secret.expose().as_bytes(),
            now,
            tolerance_secs,
        )
    }
}

#[async_trait::async_trait]
impl PaymentMethod for StripeMethod {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn method_details(&self, _charge: &Charge) -> Value {
        json!({
            "networkId": self.config.network_id,
            "paymentMethodTypes": self.config.payment_method_types,
        })
    }

    async fn settle(
        &self,
        charge: &Charge,
        challenge_id: &str,
        payload: &Value,
    ) -> Result<Settlement, SettleError> {
        let spt = settle::parse_spt(payload)?;
        // Fail fast on what cannot be sent before any call.
        settle::create_request(charge, challenge_id, spt)?;
        let key = refund::key(&settle::idempotency_key(challenge_id, spt))?;
        let timeout = self.api.timeout();
        let result = self
            .api
            .call(CREATE, &key, |key| async move {
                let request = settle::create_request(charge, challenge_id, spt)
                    .map_err(|e| ::stripe::StripeError::ConfigError(e.to_string()))?;
                // Read loosely, then field by field (`settle::read_intent`), so an answer we
                // cannot read names its field and never passes for a refusal.
                request
                    .customize::<miniserde::json::Value>()
                    .request_strategy(::stripe::RequestStrategy::Idempotent(key))
                    .timeout(timeout)
                    .send(self.api.client())
                    .await
            })
            .await;
        let outcome = match result {
            Ok(answer) => settle::read_intent(CREATE, &answer, &charge.intent_id)
                .and_then(|intent| settle::outcome(&intent)),
            Err(CallError::Api { status, error }) => {
                Err(settle::from_api_error(status, &error, &charge.intent_id))
            }
            Err(CallError::Unavailable(why)) => Err(SettleError::Unavailable(why)),
            Err(CallError::Unknown(why)) => Err(SettleError::Unknown(why)),
        };
        match &outcome {
            Ok(settlement) => tracing::info!(intent_id = %charge.intent_id,
                reference = %settlement.reference, "stripe settled the charge"),
            Err(error) => tracing::info!(intent_id = %charge.intent_id, %error,
                "stripe did not settle the charge"),
        }
        outcome
    }

    async fn lookup(&self, charge: &Charge) -> Lookup {
        let query = lookup::query(&charge.intent_id);
        let timeout = self.api.timeout();
        let key = ::stripe::IdempotencyKey::new(format!("lookup-{}", charge.intent_id));
        let found = match key {
            Ok(key) => {
                self.api
                    .call("search PaymentIntents", &key, |_| {
                        let search = SearchPaymentIntent::new(query.clone()).limit(100);
                        async move {
                            ::stripe::StripeRequest::customize(&search)
                                .timeout(timeout)
                                .send(self.api.client())
                                .await
                        }
                    })
                    .await
            }
            Err(_) => return Lookup::Unknown("intent id is not a usable key".into()),
        };
        let lookup = match found {
            Ok(list) => {
                let found: Vec<lookup::Found> = list.data.iter().map(Into::into).collect();
                lookup::outcome(&charge.intent_id, &found)
            }
            Err(CallError::Api { status, error }) => Lookup::Unknown(format!(
                "stripe refused the search ({status} {})",
                error.type_.as_str()
            )),
            Err(CallError::Unavailable(why) | CallError::Unknown(why)) => Lookup::Unknown(why),
        };
        tracing::info!(intent_id = %charge.intent_id, lookup = lookup::name(&lookup),
            "looked up the intent's PaymentIntents at stripe");
        lookup
    }

    async fn refund(
        &self,
        settlement_reference: &str,
        amount_minor: Option<i64>,
        idempotency_key: &str,
    ) -> Result<Refunded, SettleError> {
        let request = refund::create_request(settlement_reference, amount_minor)?;
        let key = refund::key(idempotency_key)?;
        let timeout = self.api.timeout();
        let result = self
            .api
            .call("create Refund", &key, |key| {
                let request = request.clone();
                async move {
                    ::stripe::StripeRequest::customize(&request)
                        .request_strategy(::stripe::RequestStrategy::Idempotent(key))
                        .timeout(timeout)
                        .send(self.api.client())
                        .await
                }
            })
            .await;
        let outcome = match result {
            Ok(created) => refund::outcome(&created as &Refund),
            Err(CallError::Api { status, error }) => Err(refund::from_api_error(status, &error)),
            Err(CallError::Unavailable(why)) => Err(SettleError::Unavailable(why)),
            Err(CallError::Unknown(why)) => Err(SettleError::Unknown(why)),
        };
        if let Ok(refunded) = &outcome {
            tracing::info!(reference = %settlement_reference, refund = %refunded.reference,
                amount_minor = refunded.amount_minor, "stripe refunded");
        }
        outcome
    }
}
