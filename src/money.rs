//! Money: an integer amount of minor units in an ISO 4217 currency, and its display.
//!
//! Amounts are never floats. The number of minor-unit digits (the ISO 4217 "exponent": JPY 0,
//! USD 2, KWD 3) comes from a small built-in table of active ISO 4217 codes, so an unknown code
//! is an error rather than a guess. Formatting follows the language of a locale (`en`, `de`,
//! `fr-CA` ...); see [`Money::format`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// Errors building a [`Money`] or a [`Currency`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// The code is not an active ISO 4217 currency code we know.
    #[error("unknown currency {0:?} (expected an ISO 4217 code such as USD)")]
    UnknownCurrency(String),
}

/// An ISO 4217 currency: its three-letter code and its minor-unit exponent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

/// Active ISO 4217 codes whose exponent is not 2.
#[rustfmt::skip]
const EXPONENTS: &[(&str, u8)] = &[
    ("BIF", 0), ("CLP", 0), ("DJF", 0), ("GNF", 0), ("ISK", 0), ("JPY", 0), ("KMF", 0),
    ("KRW", 0), ("PYG", 0), ("RWF", 0), ("UGX", 0), ("UYI", 0), ("VND", 0), ("VUV", 0),
    ("XAF", 0), ("XOF", 0), ("XPF", 0),
    ("BHD", 3), ("IQD", 3), ("JOD", 3), ("KWD", 3), ("LYD", 3), ("OMR", 3), ("TND", 3),
    ("CLF", 4), ("UYW", 4),
];

/// Active ISO 4217 codes with exponent 2.
const TWO_DIGIT: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK", "DKK", "DOP",
    "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR",
    "KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK",
    "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO",
    "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB",
    "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC",
    "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "USN",
    "UYU", "UZS", "VED", "VES", "WST", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG",
];

impl Currency {
    /// Looks up an ISO 4217 code, case-insensitively (`"usd"` is USD).
    pub fn from_code(code: &str) -> Result<Currency, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        if let Some(&(code, exponent)) = EXPONENTS.iter().find(|(c, _)| *c == upper) {
            return Ok(Currency { code, exponent });
        }
        match TWO_DIGIT.iter().find(|c| **c == upper) {
            Some(code) => Ok(Currency { code, exponent: 2 }),
            None => Err(MoneyError::UnknownCurrency(code.to_owned())),
        }
    }

    /// The upper-case three-letter code, e.g. `"EUR"`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point (ISO 4217 exponent): JPY 0, USD 2, KWD 3.
    pub fn exponent(&self) -> u8 {
        self.exponent
    }

    /// A short symbol where it is unambiguous enough for chat text (`$`, `€`, `£`, `¥`).
    pub fn symbol(&self) -> Option<&'static str> {
        match self.code {
            "USD" => Some("$"),
            "EUR" => Some("€"),
            "GBP" => Some("£"),
            "JPY" => Some("¥"),
            _ => None,
        }
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::from_code(&code).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// An amount of money: integer minor units (cents, yen, fils) of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Amount in minor units; negative for refunds and credits.
    pub minor: i64,
    /// The currency the amount is in.
    pub currency: Currency,
}

impl Money {
    /// Builds an amount from minor units and an ISO 4217 code.
    pub fn new(minor: i64, code: &str) -> Result<Money, MoneyError> {
        Ok(Money {
            minor,
            currency: Currency::from_code(code)?,
        })
    }

    /// The amount as a plain decimal string with the currency's exponent: `"12.00"`, `"-0.05"`,
    /// `"1200"` (JPY), no grouping and no symbol.
    pub fn decimal(&self) -> String {
        self.number(None, '.')
    }

    /// Formats for a locale (`en`, `de-AT`, `pt-BR` ...); only the language part matters.
    ///
    /// - `en` and any language not listed below: symbol first (`$12.00`, `€1,234.56`,
    ///   `¥1,200`), or the code and a space where there is no symbol (`KWD 1.500`); `,` groups
    ///   thousands.
    /// - `de`, `es`, `pt`, `it`, `nl`: `1.234,56 €`, `1,500 KWD` (symbol or code after a space).
    /// - `fr`: like `de` but thousands are grouped with U+202F NARROW NO-BREAK SPACE
    ///   (`1\u{202f}234,56 €`).
    ///
    /// Negative amounts get a leading `-` (`-$12.00`, `-12,00 €`).
    pub fn format(&self, locale: &str) -> String {
        let lang = locale
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let sign = if self.minor < 0 { "-" } else { "" };
        let unit = self.currency.symbol().unwrap_or(self.currency.code);
        match lang.as_str() {
            "de" | "es" | "pt" | "it" | "nl" => {
                format!("{sign}{} {unit}", self.number(Some('.'), ','))
            }
            "fr" => format!("{sign}{} {unit}", self.number(Some('\u{202f}'), ',')),
            _ => match self.currency.symbol() {
                Some(symbol) => format!("{sign}{symbol}{}", self.number(Some(','), '.')),
                None => format!("{sign}{unit} {}", self.number(Some(','), '.')),
            },
        }
    }

    /// The absolute amount with the given grouping and decimal separators; the sign is the
    /// caller's, except for [`Money::decimal`] which has no grouping.
    fn number(&self, group: Option<char>, decimal_sep: char) -> String {
        let abs = self.minor.unsigned_abs();
        let scale = 10u64.pow(u32::from(self.currency.exponent));
        let (major, fraction) = (abs / scale, abs % scale);
        let digits = major.to_string();
        let mut out = String::with_capacity(digits.len() + 8);
        if group.is_none() && self.minor < 0 {
            out.push('-');
        }
        for (i, ch) in digits.chars().enumerate() {
            if let Some(sep) = group
                && i > 0
                && (digits.len() - i) % 3 == 0
            {
                out.push(sep);
            }
            out.push(ch);
        }
        if self.currency.exponent > 0 {
            out.push(decimal_sep);
            let width = usize::from(self.currency.exponent);
            out.push_str(&format!("{fraction:0width$}"));
        }
        out
    }
}

/// `12.00 USD`: the plain decimal and the code, locale-neutral (logs, errors).
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency.code)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn fmt(minor: i64, code: &str, locale: &str) -> String {
        Money::new(minor, code).unwrap().format(locale)
    }

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(Currency::from_code("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::from_code("usd").unwrap().exponent(), 2);
        assert_eq!(Currency::from_code("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::from_code("usd").unwrap().code(), "USD");
    }

    #[test]
    fn english_formatting() {
        assert_eq!(fmt(1200, "USD", "en"), "$12.00");
        assert_eq!(fmt(1200, "EUR", "en-GB"), "€12.00");
        assert_eq!(fmt(1200, "JPY", "en"), "¥1,200");
        assert_eq!(fmt(1500, "KWD", "en"), "KWD 1.500");
        assert_eq!(fmt(5, "USD", "en"), "$0.05");
        assert_eq!(fmt(12_345_678_901, "USD", "en"), "$123,456,789.01");
    }

    #[test]
    fn continental_formatting() {
        assert_eq!(fmt(1200, "EUR", "de"), "12,00 €");
        assert_eq!(fmt(123_456, "EUR", "de-AT"), "1.234,56 €");
        assert_eq!(fmt(123_456, "EUR", "es"), "1.234,56 €");
        assert_eq!(fmt(1200, "JPY", "de"), "1.200 ¥");
        assert_eq!(fmt(1500, "KWD", "de"), "1,500 KWD");
        assert_eq!(fmt(123_456, "EUR", "fr"), "1\u{202f}234,56 €");
        assert_eq!(fmt(10_000_000_000, "EUR", "pt-BR"), "100.000.000,00 €");
    }

    #[test]
    fn negative_and_extreme_amounts() {
        assert_eq!(fmt(-1200, "USD", "en"), "-$12.00");
        assert_eq!(fmt(-123_456, "EUR", "de"), "-1.234,56 €");
        assert_eq!(fmt(-1500, "KWD", "en"), "-KWD 1.500");
        assert_eq!(fmt(i64::MIN, "JPY", "en"), "-¥9,223,372,036,854,775,808");
        assert_eq!(Money::new(-5, "USD").unwrap().decimal(), "-0.05");
        assert_eq!(Money::new(1200, "JPY").unwrap().to_string(), "1200 JPY");
    }

    #[test]
    fn unknown_currency_is_an_error() {
        assert_eq!(
            Money::new(100, "XYZ"),
            Err(MoneyError::UnknownCurrency("XYZ".to_owned()))
        );
    }

    #[test]
    fn serde_uses_the_code() {
        let m = Money::new(1200, "eur").unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"minor":1200,"currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        assert!(serde_json::from_str::<Money>(r#"{"minor":1,"currency":"ZZZ"}"#).is_err());
    }
}
