//! Guardrails on money: the checks a guarded API key's intents and refunds go through.
//!
//! Per intent ([`check_intent`], before the store): the currency is allowed and the amount is
//! within `max_amount`; above `approval_above` the intent is created `requires_approval`
//! ([`needs_approval`]) and nothing reaches the customer until a person approves it. The daily
//! limits are sums over the key's recent intents, so they are checked by the store in the same
//! write as the insert ([`SpendCheck`], built by [`spend_check`]): concurrent creates cannot
//! exceed them together. Refunds: [`check_refund`] against `refunds`.
//!
//! A refusal is a [`GuardrailRefusal`]: which limit, in which currency, and how much room is
//! left, in words in its `Display`.

use std::fmt;

use omnibridge_sdk::Timestamp;

pub use crate::config::{Guardrails, RefundRights, SpendGuard};

use super::error::PaymentError;
use super::intent::PaymentIntent;
use super::store::SpendCheck;

/// The daily limits' window: the last 24 hours.
pub const DAILY_WINDOW_SECS: i64 = 24 * 3600;

/// A request refused by a guardrail: which limit, and how much room it leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardrailRefusal {
    /// `max_amount`, `daily_limit.per_conversation`, `daily_limit.per_key`, `currencies` or
    /// `refunds`.
    pub limit: &'static str,
    /// The upper-case currency of the request.
    pub currency: String,
    /// The limit, minor units (`None` for `currencies`).
    pub limit_minor: Option<i64>,
    /// What is left under the limit, minor units (`None` for `currencies`).
    pub remaining_minor: Option<i64>,
    /// The amount asked for, minor units.
    pub requested_minor: i64,
}

impl fmt::Display for GuardrailRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (currency, requested) = (&self.currency, self.requested_minor);
        let limit = self.limit_minor.unwrap_or(0);
        let remaining = self.remaining_minor.unwrap_or(0);
        match self.limit {
            "currencies" => write!(
                f,
                "currencies: {currency} is not a currency this API key may charge in"
            ),
            "max_amount" => write!(
                f,
                "amount {requested} {currency} is over this key's max_amount of {limit} {currency}"
            ),
            "refunds" if limit == 0 => write!(
                f,
                "refunds: this API key may not refund {currency} payments"
            ),
            "refunds" => write!(
                f,
                "refunds: {remaining} of {limit} {currency} left to refund on this intent with \
                 this key (asked for {requested})"
            ),
            name => write!(
                f,
                "{name}: {remaining} of {limit} {currency} left in the last 24 h (this intent is \
                 {requested})"
            ),
        }
    }
}

impl From<GuardrailRefusal> for PaymentError {
    fn from(refusal: GuardrailRefusal) -> Self {
        PaymentError::Guardrail(refusal)
    }
}

/// Checks the currency and `max_amount` of a validated intent (upper-case currency).
pub fn check_intent(guard: &SpendGuard, intent: &PaymentIntent) -> Result<(), GuardrailRefusal> {
    let rails = &guard.guardrails;
    let currency = intent.currency.as_str();
    if !rails.allows_currency(currency) {
        return Err(GuardrailRefusal {
            limit: "currencies",
            currency: currency.to_owned(),
            limit_minor: None,
            remaining_minor: None,
            requested_minor: intent.amount,
        });
    }
    if let Some(max) = rails.max_amount(currency)
        && intent.amount > max
    {
        return Err(GuardrailRefusal {
            limit: "max_amount",
            currency: currency.to_owned(),
            limit_minor: Some(max),
            remaining_minor: Some(max),
            requested_minor: intent.amount,
        });
    }
    Ok(())
}

/// Whether the intent is above the key's `approval_above` and waits for a person.
pub fn needs_approval(guard: &SpendGuard, intent: &PaymentIntent) -> bool {
    guard
        .guardrails
        .approval_above(&intent.currency)
        .is_some_and(|above| intent.amount > above)
}

/// The daily-limit check the store runs with the insert of `intent` (at `now`); it also
/// records the key as the intent's creator.
pub fn spend_check(guard: &SpendGuard, intent: &PaymentIntent, now: Timestamp) -> SpendCheck {
    let rails = &guard.guardrails;
    SpendCheck {
        key_name: guard.key_name.clone(),
        currency: intent.currency.clone(),
        per_key_limit: rails.daily_per_key(&intent.currency),
        per_conversation_limit: rails.daily_per_conversation(&intent.currency),
        since: now - chrono::Duration::seconds(DAILY_WINDOW_SECS),
    }
}

/// Checks a refund of `requested` minor units of `intent` against the key's `refunds`: the
/// intent's refunded total after it must stay within the key's cap in that currency.
pub fn check_refund(
    guard: &SpendGuard,
    intent: &PaymentIntent,
    requested: i64,
) -> Result<(), GuardrailRefusal> {
    let Some(cap) = guard.guardrails.refunds().cap(&intent.currency) else {
        return Ok(());
    };
    if intent.refunded_minor + requested <= cap {
        return Ok(());
    }
    Err(GuardrailRefusal {
        limit: "refunds",
        currency: intent.currency.clone(),
        limit_minor: Some(cap),
        remaining_minor: Some((cap - intent.refunded_minor).max(0)),
        requested_minor: requested,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use figment::providers::{Format, Toml};
    use omnibridge_sdk::ConversationId;

    use super::*;
    use crate::payments::intent::IntentState;

    fn guard(toml: &str) -> SpendGuard {
        SpendGuard {
            key_name: "agent".into(),
            guardrails: Arc::new(
                figment::Figment::from(Toml::string(toml))
                    .extract()
                    .unwrap(),
            ),
        }
    }

    fn intent(amount: i64, currency: &str, refunded: i64) -> PaymentIntent {
        let now = chrono::Utc::now();
        PaymentIntent {
            id: PaymentIntent::new_id(),
            conversation_id: ConversationId::new("cv_1"),
            amount,
            currency: currency.into(),
            description: "x".into(),
            external_id: None,
            locale: "en".into(),
            expires_at: now,
            metadata: None,
            state: IntentState::Succeeded,
            refunded_minor: refunded,
            method: None,
            reference: None,
            settled_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn intents_are_checked_against_currency_and_max_amount() {
        let g = guard(
            "currencies = [\"EUR\"]\nmax_amount = { EUR = 50000 }\napproval_above = { EUR = 20000 }",
        );
        assert!(check_intent(&g, &intent(50000, "EUR", 0)).is_ok());
        let over = check_intent(&g, &intent(60000, "EUR", 0)).unwrap_err();
        assert_eq!(
            (over.limit, over.limit_minor, over.remaining_minor),
            ("max_amount", Some(50000), Some(50000))
        );
        assert_eq!(
            over.to_string(),
            "amount 60000 EUR is over this key's max_amount of 50000 EUR"
        );
        let usd = check_intent(&g, &intent(1, "USD", 0)).unwrap_err();
        assert_eq!(usd.limit, "currencies");
        assert!(usd.to_string().contains("USD is not a currency"), "{usd}");
        assert!(!needs_approval(&g, &intent(20000, "EUR", 0)));
        assert!(needs_approval(&g, &intent(20001, "EUR", 0)));
        let check = spend_check(&g, &intent(5, "EUR", 0), chrono::Utc::now());
        assert_eq!(
            (check.per_key_limit, check.per_conversation_limit),
            (None, None)
        );
    }

    #[test]
    fn refunds_follow_the_rights() {
        let none = guard("");
        let refused = check_refund(&none, &intent(1000, "EUR", 0), 1).unwrap_err();
        assert_eq!(
            (refused.limit, refused.remaining_minor),
            ("refunds", Some(0))
        );
        assert!(refused.to_string().contains("may not refund"), "{refused}");
        assert!(check_refund(&guard("refunds = \"all\""), &intent(9, "EUR", 0), 9).is_ok());
        let capped = guard("refunds = { EUR = 500 }");
        assert!(check_refund(&capped, &intent(1000, "EUR", 200), 300).is_ok());
        let over = check_refund(&capped, &intent(1000, "EUR", 200), 301).unwrap_err();
        assert_eq!(over.remaining_minor, Some(300));
        assert!(
            over.to_string().starts_with("refunds: 300 of 500 EUR left"),
            "{over}"
        );
        assert!(check_refund(&capped, &intent(1000, "USD", 0), 1).is_err());
    }

    #[test]
    fn daily_refusals_say_how_much_room_is_left() {
        let refusal = GuardrailRefusal {
            limit: "daily_limit.per_key",
            currency: "EUR".into(),
            limit_minor: Some(50000),
            remaining_minor: Some(12000),
            requested_minor: 20000,
        };
        assert!(
            refusal
                .to_string()
                .starts_with("daily_limit.per_key: 12000 of 50000 EUR left in the last 24 h"),
            "{refusal}"
        );
    }
}
