//! Refunds of settled intents, full or partial, through the method that settled them.

use omnibridge_sdk::EventBody;

use super::engine::{PaymentEngine, update};
use super::error::PaymentError;
use super::guardrails::{self, SpendGuard};
use super::intent::PaymentIntent;

impl PaymentEngine {
    /// Refunds `amount` minor units (the rest when `None`) of a paid intent through the
    /// method that settled it; the intent becomes `partially_refunded` or `refunded`,
    /// `payment.refunded` is appended and `payment_refunded` sent. `idempotency_key` is
    /// passed to the method so a retried request refunds once. With a guard, the key's
    /// `refunds` right must cover it ([`PaymentError::Guardrail`] otherwise).
    pub async fn refund(
        &self,
        id: &str,
        amount: Option<i64>,
        idempotency_key: Option<&str>,
        guard: Option<&SpendGuard>,
    ) -> Result<PaymentIntent, PaymentError> {
        let intent = self.get(id).await?;
        if !intent.state.is_paid() {
            return Err(PaymentError::WrongState(intent.state));
        }
        let refundable = intent.refundable();
        let requested = amount.unwrap_or(refundable);
        if requested <= 0 {
            return Err(if refundable == 0 {
                PaymentError::RefundTooLarge {
                    requested,
                    refundable,
                }
            } else {
                PaymentError::Invalid {
                    field: "amount",
                    reason: "must be a positive integer of minor units".into(),
                }
            });
        }
        if requested > refundable {
            return Err(PaymentError::RefundTooLarge {
                requested,
                refundable,
            });
        }
        if let Some(guard) = guard {
            guardrails::check_refund(guard, &intent, requested)?;
        }
        let method_name = intent.method.clone().unwrap_or_default();
        let method = self
            .method(&method_name)
            .ok_or_else(|| PaymentError::MethodUnavailable(method_name.clone()))?;
        let reference = intent.reference.clone().unwrap_or_default();
        // Same intent, same refunded total, same amount → same key: a retry refunds once.
        let key = match idempotency_key {
            Some(key) => format!("refund:{}:{key}", intent.id),
            None => format!("refund:{}:{}:{requested}", intent.id, intent.refunded_minor),
        };
        let refunded = method.refund(&reference, Some(requested), &key).await?;
        let after = self
            .store()
            .record_refund(&intent.id, intent.refunded_minor, requested)
            .await?;
        let Some(after) = after else {
            // A Stripe `charge.refunded` webhook may have recorded this very refund first
            // (and announced it); otherwise someone else refunded concurrently.
            let now = self.get(id).await?;
            if now.refunded_minor >= intent.refunded_minor + requested {
                return Ok(now);
            }
            return Err(PaymentError::WrongState(now.state));
        };
        let event = update(&after, after.state.as_str())
            .with_refunded_minor(after.refunded_minor)
            .with_reference(refunded.reference.clone());
        self.emit(&after, EventBody::PaymentRefunded(event)).await;
        self.notifier().payment_refunded(&after, requested).await;
        Ok(after)
    }
}
