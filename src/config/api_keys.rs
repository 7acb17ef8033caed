//! Business API keys: sha256 hashes from config plus plaintext keys from `OMNIBRIDGE_API_KEYS`.

use std::fmt;

use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Secret;

/// The env var holding comma-separated plaintext API keys, for local use.
pub const API_KEYS_ENV: &str = "OMNIBRIDGE_API_KEYS";

/// A sha256 digest written as 64 hex characters in config.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sha256Hex(pub [u8; 32]);

impl Sha256Hex {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Sha256Hex {
        Sha256Hex(Sha256::digest(data).into())
    }
}

impl fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut out).map_err(|_| {
            serde::de::Error::custom("expected 64 hex characters (sha256 of the key)")
        })?;
        Ok(Sha256Hex(out))
    }
}

/// One configured API key: `{ name = "ops", sha256 = "<hex>" }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyHash {
    /// Who holds the key; returned by [`ApiKeys::verify`] and used in logs.
    pub name: String,
    /// Hex of sha256(key); the key itself never appears in config.
    pub sha256: Sha256Hex,
}

/// Verifies presented bearer keys against configured hashes and env keys.
#[derive(Clone, Debug, Default)]
pub struct ApiKeys {
    keys: Vec<(String, Sha256Hex)>,
}

impl ApiKeys {
    /// Builds a verifier from configured hashes and plaintext env keys; env keys are named
    /// `env-1`, `env-2` ... in order.
    pub fn new(hashed: &[ApiKeyHash], env_keys: &[Secret]) -> ApiKeys {
        let mut keys: Vec<(String, Sha256Hex)> =
            hashed.iter().map(|k| (k.name.clone(), k.sha256)).collect();
        for (i, key) in env_keys.iter().enumerate() {
            keys.push((
                format!("env-{}", i + 1),
                Sha256Hex::of(key.expose().as_bytes()),
            ));
        }
        ApiKeys { keys }
    }

    /// Splits an `OMNIBRIDGE_API_KEYS` value into keys, skipping blanks.
    pub fn parse_env(value: &str) -> Vec<Secret> {
        value
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(Secret::new)
            .collect()
    }

    /// The name of the key matching `presented`, comparing digests in constant time against
    /// every configured key.
    pub fn verify(&self, presented: &str) -> Option<&str> {
        let digest = Sha256Hex::of(presented.as_bytes());
        let mut found = None;
        for (name, hash) in &self.keys {
            if bool::from(hash.0.ct_eq(&digest.0)) && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
    }

    /// True if no key is configured (the API then refuses everything).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn verifies_hashed_and_env_keys() {
        let hashed = vec![ApiKeyHash {
            name: "ops".into(),
            sha256: Sha256Hex::of(b"k-ops"),
        }];
        let keys = ApiKeys::new(&hashed, &ApiKeys::parse_env(" local1 , ,local2"));
        assert_eq!(keys.verify("k-ops"), Some("ops"));
        assert_eq!(keys.verify("local1"), Some("env-1"));
        assert_eq!(keys.verify("local2"), Some("env-2"));
        assert_eq!(keys.verify("k-ops "), None);
        assert_eq!(keys.verify(""), None);
        assert!(ApiKeys::default().verify("x").is_none());
    }

    #[test]
    fn hex_digest_parses() {
        let hex = hex::encode(Sha256Hex::of(b"abc").0);
        let parsed: Sha256Hex = serde_json::from_value(hex.into()).unwrap();
        assert_eq!(parsed, Sha256Hex::of(b"abc"));
        assert!(serde_json::from_value::<Sha256Hex>("zz".into()).is_err());
    }
}
