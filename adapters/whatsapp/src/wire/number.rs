//! Byte counts that Meta writes either way: the media lookup's `file_size` is a **string** in
//! Meta's OpenAPI description of the Cloud API (`"file_size": "303833"`), while older answers
//! and some client libraries use a JSON number. [`u64_or_numeric_string`] reads both and
//! refuses anything else with an error that names what it expected (never echoing the value).

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// Deserializes a non-negative integer given as a JSON number (`303833`) or as a string of
/// decimal digits (`"303833"`). Negative, fractional, empty and non-numeric values are errors.
pub fn u64_or_numeric_string<'de, D>(deserializer: D) -> Result<u64, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_any(ByteCount)
}

struct ByteCount;

impl Visitor<'_> for ByteCount {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte count: a non-negative integer or a string of decimal digits")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
        Ok(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
        u64::try_from(value).map_err(|_| E::custom("a byte count cannot be negative"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<u64, E> {
        Err(E::custom("a byte count must be a whole number"))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<u64, E> {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom(
                "a byte count given as a string must hold decimal digits only",
            ));
        }
        value
            .parse()
            .map_err(|_| E::custom("a byte count given as a string is too large"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Lookup {
        #[serde(deserialize_with = "u64_or_numeric_string")]
        file_size: u64,
    }

    fn read(json: &str) -> Result<u64, String> {
        serde_json::from_str::<Lookup>(json)
            .map(|s| s.file_size)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn numbers_and_numeric_strings_are_read_alike() {
        assert_eq!(read(r#"{"file_size": "303833"}"#), Ok(303_833));
        assert_eq!(read(r#"{"file_size": 303833}"#), Ok(303_833));
        assert_eq!(read(r#"{"file_size": "0"}"#), Ok(0));
    }

    #[test]
    fn anything_else_is_refused_clearly_without_echoing_the_value() {
        for (json, why) in [
            (r#"{"file_size": "12kB"}"#, "decimal digits only"),
            (r#"{"file_size": ""}"#, "decimal digits only"),
            (r#"{"file_size": " 12"}"#, "decimal digits only"),
            (r#"{"file_size": "-12"}"#, "decimal digits only"),
            (r#"{"file_size": -12}"#, "cannot be negative"),
            (r#"{"file_size": 1.5}"#, "whole number"),
            (r#"{"file_size": "99999999999999999999999"}"#, "too large"),
            (r#"{"file_size": null}"#, "a byte count"),
            (r#"{"file_size": true}"#, "a byte count"),
        ] {
            let error = read(json).unwrap_err();
            assert!(error.contains(why), "{json}: {error}");
            assert!(!error.contains("12kB"), "{error}");
        }
    }
}
