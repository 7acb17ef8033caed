//! Guardrails on money: per-API-key limits on the payment intents and refunds the key may
//! make, from the key's `[api.keys.guardrails]` table.
//!
//! ```toml
//! [api.keys.guardrails]
//! currencies = ["EUR", "USD"]               # allowed; absent = any
//! max_amount = { EUR = 50000 }              # per intent, minor units; absent currency = no cap
//! approval_above = { EUR = 20000 }          # above this: created `requires_approval`
//! refunds = "none"                          # "none" | "all" | { EUR = 5000 }
//! [api.keys.guardrails.daily_limit]
//! per_conversation = { EUR = 100000 }       # rolling 24 h, this key's intents in one conversation
//! per_key = { EUR = 500000 }                # rolling 24 h, all of this key's intents
//! ```
//!
//! A key without the table has no limits and may refund anything. A key with the table may
//! refund only what `refunds` grants, and `refunds` defaults to `"none"`: a guarded key is
//! given refund rights explicitly. Currency codes must be ISO 4217 codes [`crate::money`]
//! knows, and amounts are integer minor units > 0. Keys from `OMNIBRIDGE_API_KEYS` have no
//! guardrails. The checks themselves live in `crate::payments::guardrails`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::money::Currency;

/// The `[api.keys.guardrails]` table of one API key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guardrails {
    /// The currencies the key may create intents in (upper case); `None` = any.
    #[serde(default)]
    currencies: Option<CurrencyList>,
    /// Largest amount of one intent, per currency.
    #[serde(default)]
    max_amount: CurrencyAmounts,
    /// Intents above this amount are created `requires_approval`, per currency.
    #[serde(default)]
    approval_above: CurrencyAmounts,
    /// What the key may refund; `"none"` when absent.
    #[serde(default)]
    refunds: RefundRights,
    /// Rolling 24-hour limits on the sum of the key's intents.
    #[serde(default)]
    daily_limit: DailyLimit,
}

impl Guardrails {
    /// Whether the key may create intents in `currency` (an upper-case ISO 4217 code).
    pub fn allows_currency(&self, currency: &str) -> bool {
        self.currencies
            .as_ref()
            .is_none_or(|list| list.0.iter().any(|c| c == currency))
    }

    /// The allowed currencies, upper case; `None` when any is allowed.
    pub fn currencies(&self) -> Option<&[String]> {
        self.currencies.as_ref().map(|list| list.0.as_slice())
    }

    /// The largest amount of one intent in `currency`, minor units; `None` = no cap.
    pub fn max_amount(&self, currency: &str) -> Option<i64> {
        self.max_amount.get(currency)
    }

    /// Intents above this amount in `currency` need a person's approval; `None` = never.
    pub fn approval_above(&self, currency: &str) -> Option<i64> {
        self.approval_above.get(currency)
    }

    /// The rolling 24-hour limit on this key's intents in one conversation, in `currency`.
    pub fn daily_per_conversation(&self, currency: &str) -> Option<i64> {
        self.daily_limit.per_conversation.get(currency)
    }

    /// The rolling 24-hour limit on all of this key's intents, in `currency`.
    pub fn daily_per_key(&self, currency: &str) -> Option<i64> {
        self.daily_limit.per_key.get(currency)
    }

    /// What the key may refund.
    pub fn refunds(&self) -> &RefundRights {
        &self.refunds
    }
}

/// Who is spending and under which guardrails: what a guarded API caller hands the payment
/// engine with a new intent or a refund.
#[derive(Clone, Debug)]
pub struct SpendGuard {
    /// The API key's configured name (intents record it, daily limits sum by it).
    pub key_name: String,
    /// The key's limits.
    pub guardrails: Arc<Guardrails>,
}

/// `refunds`: what a guarded key may refund.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundRights {
    /// No refunds at all (the default of a guarded key).
    #[default]
    None,
    /// Any refund.
    All,
    /// Per currency, the most of one intent refunded in total (earlier refunds included);
    /// no refunds in a currency not listed.
    UpTo(CurrencyAmounts),
}

impl RefundRights {
    /// The most of one intent in `currency` that may be refunded in total: `None` = no cap,
    /// `Some(0)` = no refund.
    pub fn cap(&self, currency: &str) -> Option<i64> {
        match self {
            RefundRights::None => Some(0),
            RefundRights::All => None,
            RefundRights::UpTo(amounts) => Some(amounts.get(currency).unwrap_or(0)),
        }
    }
}

impl<'de> Deserialize<'de> for RefundRights {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RightsVisitor;
        impl<'de> Visitor<'de> for RightsVisitor {
            type Value = RefundRights;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"none\", \"all\" or a table of currency = amount in minor units")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RefundRights, E> {
                match value {
                    "none" => Ok(RefundRights::None),
                    "all" => Ok(RefundRights::All),
                    other => Err(E::custom(format!(
                        "unknown refunds value {other:?}; use \"none\", \"all\" or \
                         {{ EUR = 5000 }} (minor units)"
                    ))),
                }
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RefundRights, A::Error> {
                let raw = BTreeMap::<String, i64>::deserialize(
                    de::value::MapAccessDeserializer::new(map),
                )?;
                CurrencyAmounts::from_raw(raw)
                    .map(RefundRights::UpTo)
                    .map_err(de::Error::custom)
            }
        }
        deserializer.deserialize_any(RightsVisitor)
    }
}

/// `[api.keys.guardrails.daily_limit]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct DailyLimit {
    /// The sum of the key's intents in one conversation over the last 24 h, per currency.
    #[serde(default)]
    per_conversation: CurrencyAmounts,
    /// The sum of all of the key's intents over the last 24 h, per currency.
    #[serde(default)]
    per_key: CurrencyAmounts,
}

/// A table of ISO 4217 code → amount in minor units (> 0), codes upper case.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CurrencyAmounts(BTreeMap<String, i64>);

impl CurrencyAmounts {
    /// The amount for `currency` (upper case), if listed.
    pub fn get(&self, currency: &str) -> Option<i64> {
        self.0.get(currency).copied()
    }

    fn from_raw(raw: BTreeMap<String, i64>) -> Result<CurrencyAmounts, String> {
        let mut amounts = BTreeMap::new();
        for (code, amount) in raw {
            let currency = Currency::from_code(&code).map_err(|error| error.to_string())?;
            if amount <= 0 {
                return Err(format!(
                    "{code}: amounts are integer minor units greater than 0, not {amount}"
                ));
            }
            if amounts.insert(currency.code().to_owned(), amount).is_some() {
                return Err(format!("{code} is listed twice"));
            }
        }
        Ok(CurrencyAmounts(amounts))
    }
}

impl<'de> Deserialize<'de> for CurrencyAmounts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, i64>::deserialize(deserializer)?;
        CurrencyAmounts::from_raw(raw).map_err(de::Error::custom)
    }
}

/// A non-empty list of ISO 4217 codes, upper case.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CurrencyList(Vec<String>);

impl<'de> Deserialize<'de> for CurrencyList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Vec::<String>::deserialize(deserializer)?;
        if raw.is_empty() {
            return Err(de::Error::custom(
                "an empty list allows no currency; leave `currencies` out to allow any",
            ));
        }
        let mut codes = Vec::with_capacity(raw.len());
        for code in raw {
            let currency = Currency::from_code(&code).map_err(de::Error::custom)?;
            codes.push(currency.code().to_owned());
        }
        Ok(CurrencyList(codes))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<Guardrails, String> {
        use figment::providers::{Format, Toml};
        figment::Figment::from(Toml::string(toml))
            .extract::<Guardrails>()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_table_parses_and_answers() {
        let g = parse(
            r#"
            currencies = ["eur", "USD"]
            max_amount = { EUR = 50000, usd = 40000 }
            approval_above = { EUR = 20000 }
            refunds = { EUR = 5000 }
            [daily_limit]
            per_conversation = { EUR = 100000 }
            per_key = { EUR = 500000 }
            "#,
        )
        .unwrap();
        assert!(g.allows_currency("EUR") && g.allows_currency("USD"));
        assert!(!g.allows_currency("GBP"));
        assert_eq!(g.currencies().unwrap(), ["EUR", "USD"]);
        assert_eq!(
            (
                g.max_amount("EUR"),
                g.max_amount("USD"),
                g.max_amount("GBP")
            ),
            (Some(50000), Some(40000), None)
        );
        assert_eq!(g.approval_above("EUR"), Some(20000));
        assert_eq!(g.approval_above("USD"), None);
        assert_eq!(g.daily_per_conversation("EUR"), Some(100000));
        assert_eq!(g.daily_per_key("EUR"), Some(500000));
        assert_eq!(g.daily_per_key("USD"), None);
        assert_eq!(g.refunds().cap("EUR"), Some(5000));
        assert_eq!(g.refunds().cap("USD"), Some(0));
    }

    #[test]
    fn refunds_default_to_none_and_take_all() {
        let g = parse("").unwrap();
        assert_eq!(g.refunds(), &RefundRights::None);
        assert_eq!(g.refunds().cap("EUR"), Some(0));
        assert!(g.allows_currency("JPY") && g.max_amount("EUR").is_none());
        let g = parse("refunds = \"all\"").unwrap();
        assert_eq!(g.refunds().cap("EUR"), None);
        assert_eq!(
            parse("refunds = \"none\"").unwrap().refunds(),
            &RefundRights::None
        );
    }

    #[test]
    fn bad_tables_are_refused_with_the_reason() {
        for (toml, expected) in [
            ("max_amount = { EUX = 5 }", "unknown currency \"EUX\""),
            ("max_amount = { EUR = 0 }", "greater than 0"),
            ("approval_above = { EUR = -5 }", "greater than 0"),
            ("max_amount = { EUR = 5, eur = 6 }", "listed twice"),
            ("currencies = []", "an empty list allows no currency"),
            ("currencies = [\"XXX\"]", "unknown currency \"XXX\""),
            ("refunds = \"some\"", "unknown refunds value \"some\""),
            ("refunds = { EUR = 0 }", "greater than 0"),
            ("max_amonut = { EUR = 5 }", "found `max_amonut`"),
            ("[daily_limit]\nper_day = { EUR = 5 }", "found `per_day`"),
        ] {
            let error = parse(toml).unwrap_err();
            assert!(error.contains(expected), "{toml}: {error}");
        }
    }
}
