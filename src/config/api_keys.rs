//! Business API keys: sha256 hashes from config plus plaintext keys from `OMNIBRIDGE_API_KEYS`,
//! each with the [`Scopes`] it grants.
//!
//! A configured key lists its scopes (`scopes = ["messages"]`); without `scopes` it has all of
//! them, so configs written before scopes existed keep working. Env keys have all scopes.
//! `scopes = []` is refused: a key that may do nothing is a mistake, not a policy (and could be
//! misread as "unrestricted"). A configured key may also carry [`Guardrails`] on money; env keys
//! have none.

use std::fmt;

use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Guardrails, Secret};

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

/// What an API key may do. Every business API route requires exactly one scope; no scope
/// implies another (`admin` does not grant `messages`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Conversations, their events, sending, outbound status, media and the `/v1/events` stream.
    Messages,
    /// Payment intents and linked payment sources.
    Payments,
    /// Message templates (the `/v1/templates` routes).
    Templates,
    /// Operating the bridge itself (dead letters, replays); no route requires it yet.
    Admin,
    /// The agent (MCP) interface.
    Agent,
}

impl Scope {
    /// Every scope, in the order config errors list them.
    pub const ALL: [Scope; 5] = [
        Scope::Messages,
        Scope::Payments,
        Scope::Templates,
        Scope::Admin,
        Scope::Agent,
    ];

    /// The name used in config and in errors: `messages`, `payments` ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Messages => "messages",
            Scope::Payments => "payments",
            Scope::Templates => "templates",
            Scope::Admin => "admin",
            Scope::Agent => "agent",
        }
    }

    /// The scope named `name` (exact, lowercase), if there is one.
    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The valid names, comma-separated, for error messages.
    pub fn valid_names() -> String {
        Scope::ALL.map(Scope::as_str).join(", ")
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Scope::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown scope `{name}`; valid scopes: {}",
                Scope::valid_names()
            ))
        })
    }
}

/// A set of [`Scope`]s. In config, a non-empty array of scope names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// Every scope: what env keys and keys configured without `scopes` get.
    pub const fn all() -> Scopes {
        let mut bits = 0;
        let mut i = 0;
        while i < Scope::ALL.len() {
            bits |= Scope::ALL[i].bit();
            i += 1;
        }
        Scopes(bits)
    }

    /// No scope at all (never from config, which refuses `scopes = []`).
    pub const fn none() -> Scopes {
        Scopes(0)
    }

    /// True if `scope` is in the set.
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The set plus `scope`.
    #[must_use]
    pub const fn with(self, scope: Scope) -> Scopes {
        Scopes(self.0 | scope.bit())
    }

    /// The scopes in the set, in [`Scope::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// True if the set holds no scope.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        iter.into_iter().fold(Scopes::none(), Scopes::with)
    }
}

impl From<Scope> for Scopes {
    fn from(scope: Scope) -> Self {
        Scopes::none().with(scope)
    }
}

impl fmt::Display for Scopes {
    /// The names, comma-separated (`messages, payments`), or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(", "))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Vec::<Scope>::deserialize(deserializer)?;
        if list.is_empty() {
            return Err(serde::de::Error::custom(format!(
                "an empty list grants nothing; list some of: {} (or leave `scopes` out for all)",
                Scope::valid_names()
            )));
        }
        Ok(list.into_iter().collect())
    }
}

/// One configured API key: `{ name = "ops", sha256 = "<hex>", scopes = ["messages"] }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyHash {
    /// Who holds the key; returned by [`ApiKeys::verify`] and used in logs.
    pub name: String,
    /// Hex of sha256(key); the key itself never appears in config.
    pub sha256: Sha256Hex,
    /// What the key may do; all scopes when absent.
    #[serde(default = "Scopes::all")]
    pub scopes: Scopes,
    /// Limits on the money the key may move (`[api.keys.guardrails]`); `None` = no limits.
    #[serde(default)]
    pub guardrails: Option<Guardrails>,
}

/// Verifies presented bearer keys against configured hashes and env keys.
#[derive(Clone, Debug, Default)]
pub struct ApiKeys {
    keys: Vec<ApiKeyHash>,
}

impl ApiKeys {
    /// Builds a verifier from configured hashes and plaintext env keys; env keys are named
    /// `env-1`, `env-2` ... in order and have all scopes.
    pub fn new(hashed: &[ApiKeyHash], env_keys: &[Secret]) -> ApiKeys {
        let mut keys = hashed.to_vec();
        for (i, key) in env_keys.iter().enumerate() {
            keys.push(ApiKeyHash {
                name: format!("env-{}", i + 1),
                sha256: Sha256Hex::of(key.expose().as_bytes()),
                scopes: Scopes::all(),
                guardrails: None,
            });
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

    /// The key matching `presented` (its name and scopes), comparing digests in constant time
    /// against every configured key.
    pub fn verify(&self, presented: &str) -> Option<&ApiKeyHash> {
        let digest = Sha256Hex::of(presented.as_bytes());
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.sha256.0.ct_eq(&digest.0)) && found.is_none() {
                found = Some(key);
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
            scopes: Scope::Payments.into(),
            guardrails: None,
        }];
        let keys = ApiKeys::new(&hashed, &ApiKeys::parse_env(" local1 , ,local2"));
        let name = |k: &str| keys.verify(k).map(|key| key.name.as_str());
        assert_eq!(name("k-ops"), Some("ops"));
        assert_eq!(name("local1"), Some("env-1"));
        assert_eq!(name("local2"), Some("env-2"));
        assert_eq!(name("k-ops "), None);
        assert_eq!(name(""), None);
        assert!(ApiKeys::default().verify("x").is_none());
        assert_eq!(keys.verify("k-ops").unwrap().scopes, Scope::Payments.into());
        assert_eq!(keys.verify("local2").unwrap().scopes, Scopes::all());
    }

    #[test]
    fn scopes_parse_and_name_the_unknown_one() {
        let parsed: Scopes =
            serde_json::from_value(serde_json::json!(["messages", "agent"])).unwrap();
        assert!(parsed.contains(Scope::Messages) && parsed.contains(Scope::Agent));
        assert!(!parsed.contains(Scope::Payments) && !parsed.contains(Scope::Admin));
        assert_eq!(parsed.to_string(), "messages, agent");
        assert_eq!(format!("{parsed:?}"), "{Messages, Agent}");
        assert_eq!(Scopes::all().iter().count(), Scope::ALL.len());
        for scope in Scope::ALL {
            assert_eq!(Scope::from_name(scope.as_str()), Some(scope));
            assert!(Scopes::all().contains(scope) && !Scopes::none().contains(scope));
        }

        let err = serde_json::from_value::<Scopes>(serde_json::json!(["messages", "payment"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "unknown scope `payment`; valid scopes: messages, payments, templates, admin, agent"
            ),
            "{err}"
        );
        let err = serde_json::from_value::<Scopes>(serde_json::json!([])).unwrap_err();
        assert!(
            err.to_string().contains("an empty list grants nothing"),
            "{err}"
        );
    }

    #[test]
    fn hex_digest_parses() {
        let hex = hex::encode(Sha256Hex::of(b"abc").0);
        let parsed: Sha256Hex = serde_json::from_value(hex.into()).unwrap();
        assert_eq!(parsed, Sha256Hex::of(b"abc"));
        assert!(serde_json::from_value::<Sha256Hex>("zz".into()).is_err());
    }
}
