//! The `sandbox` method: settles locally, with no keys and no network, for local use,
//! demos and tests. The credential payload is `{"token": "<magic token>"}`:
//!
//! | token | outcome |
//! |-------|---------|
//! | `tok_sandbox_success` | settles; reference `sbx_<ulid>` |
//! | `tok_sandbox_decline` | refused `card_declined`: "Your card was declined. Try another card." |
//! | `tok_sandbox_requires_action` | refused `requires_action` (the card needs authentication) |
//! | anything else | `malformed-credential` |
//!
//! Refunds always succeed. The method is on in the embedded defaults and refused at start
//! when `payments.live = true`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::method::{Charge, PaymentMethod, Refunded, SettleError, Settlement};

/// Settles with a payment.
pub const TOKEN_SUCCESS: &str = "tok_sandbox_success";
/// Declines (`card_declined`).
pub const TOKEN_DECLINE: &str = "tok_sandbox_decline";
/// Needs customer action (`requires_action`).
pub const TOKEN_REQUIRES_ACTION: &str = "tok_sandbox_requires_action";

/// The sandbox method. It counts the settlements it made, so tests can check that a
/// credential was never settled twice.
#[derive(Debug, Default)]
pub struct SandboxMethod {
    settlements: AtomicU64,
}

impl SandboxMethod {
    /// A sandbox method with its counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Successful settlements made by this instance.
    pub fn settlements(&self) -> u64 {
        self.settlements.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl PaymentMethod for SandboxMethod {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn method_details(&self, _charge: &Charge) -> Value {
        json!({ "networkId": "sandbox", "paymentMethodTypes": ["card"] })
    }

    async fn settle(
        &self,
        _charge: &Charge,
        _challenge_id: &str,
        payload: &Value,
    ) -> Result<Settlement, SettleError> {
        match payload.get("token").and_then(Value::as_str) {
            Some(TOKEN_SUCCESS) => {
                self.settlements.fetch_add(1, Ordering::SeqCst);
                Ok(Settlement {
                    reference: format!("sbx_{}", ulid::Ulid::new()),
                })
            }
            Some(TOKEN_DECLINE) => Err(SettleError::Refused {
                code: "card_declined".into(),
                customer_message: "Your card was declined. Try another card.".into(),
            }),
            Some(TOKEN_REQUIRES_ACTION) => Err(SettleError::Refused {
                code: "requires_action".into(),
                customer_message:
                    "Your card needs extra authentication. Try another card or payment method."
                        .into(),
            }),
            _ => Err(SettleError::MalformedPayload(
                "the sandbox method takes {\"token\": \"tok_sandbox_…\"}".into(),
            )),
        }
    }

    async fn refund(
        &self,
        _settlement_reference: &str,
        amount_minor: Option<i64>,
        _idempotency_key: &str,
    ) -> Result<Refunded, SettleError> {
        Ok(Refunded {
            reference: format!("sbxre_{}", ulid::Ulid::new()),
            amount_minor: amount_minor.unwrap_or(0),
        })
    }
}
