//! Visitor sessions and their signed tokens.
//!
//! A session id (`s_` + 32 hex digits, 128 random bits) names one visitor's conversation
//! thread. The widget keeps a token `<session>.<expiry unix seconds>.<signature>`, where the
//! signature is `base64url(HMAC-SHA256(secret, "omnibridge-webchat-v1\n<session>.<expiry>"))`,
//! and presents it on reconnect to keep the same session.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use omnibridge_sdk::{ChannelError, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Shortest secret [`SessionTokens`] accepts, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// Longest token [`SessionTokens::verify`] looks at, in bytes.
pub const MAX_TOKEN_BYTES: usize = 256;

const PREFIX: &str = "s_";
const HEX_DIGITS: usize = 32;
const SIGNATURE_BYTES: usize = 32;
const MAC_CONTEXT: &[u8] = b"omnibridge-webchat-v1\n";

/// One visitor's session id: the conversation thread of their chat.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

impl SessionId {
    /// A fresh session id from 128 random bits.
    pub fn generate() -> Self {
        Self(format!("{PREFIX}{:032x}", rand::random::<u128>()))
    }

    /// Parses a session id: `s_` followed by 32 lowercase hex digits.
    pub fn parse(id: &str) -> Result<Self, ChannelError> {
        let valid = id.strip_prefix(PREFIX).is_some_and(|hex| {
            hex.len() == HEX_DIGITS && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(ChannelError::Malformed(
                "invalid web-chat session id".to_owned(),
            ))
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SessionId {
    type Error = ChannelError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SessionId> for String {
    fn from(value: SessionId) -> Self {
        value.0
    }
}

/// The token secret is too short to be safe.
#[derive(Debug, thiserror::Error)]
#[error("the web-chat token secret must be at least {MIN_SECRET_BYTES} bytes")]
pub struct WeakSecret;

/// Issues and verifies session tokens with a secret the bridge passes in.
#[derive(Clone)]
pub struct SessionTokens {
    /// HMAC-SHA256 keyed with the secret, cloned for every token.
    keyed: Hmac<Sha256>,
    /// How long a token stays valid.
    ttl: Duration,
}

impl fmt::Debug for SessionTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionTokens")
            .field("secret", &"<redacted>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl SessionTokens {
    /// Tokens signed with `secret` (at least [`MIN_SECRET_BYTES`]) that live for `ttl`.
    pub fn new(secret: impl Into<Vec<u8>>, ttl: Duration) -> Result<Self, WeakSecret> {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(WeakSecret);
        }
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&secret).map_err(|_| WeakSecret)?;
        Ok(Self { keyed, ttl })
    }

    /// How long a token stays valid after it is issued.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new session and its token.
    pub fn issue(&self, now: Timestamp) -> (SessionId, String) {
        let session = SessionId::generate();
        let token = self.issue_for(&session, now);
        (session, token)
    }

    /// A fresh token for an existing session (send one in every `welcome`, so an active
    /// visitor's session never expires).
    pub fn issue_for(&self, session: &SessionId, now: Timestamp) -> String {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let expires = now.timestamp().saturating_add(ttl);
        let claims = format!("{session}.{expires}");
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&claims).finalize().into_bytes());
        format!("{claims}.{signature}")
    }

    /// Checks a token's signature in constant time, then its expiry, and returns its session.
    /// Errors are [`ChannelError::Unauthorized`] with reason `malformed_token`, `bad_token`
    /// or `expired_token`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<SessionId, ChannelError> {
        let malformed = ChannelError::Unauthorized {
            reason: "malformed_token",
        };
        if token.len() > MAX_TOKEN_BYTES {
            return Err(malformed);
        }
        let Some((claims, signature)) = token.rsplit_once('.') else {
            return Err(malformed);
        };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
            return Err(malformed);
        };
        if signature.len() != SIGNATURE_BYTES {
            return Err(malformed);
        }
        if self.mac(claims).verify_slice(&signature).is_err() {
            return Err(ChannelError::Unauthorized {
                reason: "bad_token",
            });
        }
        let Some((session, expires)) = claims.split_once('.') else {
            return Err(malformed);
        };
        let (Ok(session), Ok(expires)) = (SessionId::parse(session), expires.parse::<i64>()) else {
            return Err(malformed);
        };
        if now.timestamp() >= expires {
            return Err(ChannelError::Unauthorized {
                reason: "expired_token",
            });
        }
        Ok(session)
    }

    fn mac(&self, claims: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(MAC_CONTEXT);
        mac.update(claims.as_bytes());
        mac
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_timestamp(secs, 0).unwrap()
    }

    fn tokens() -> SessionTokens {
        SessionTokens::new(SECRET, Duration::from_secs(3600)).unwrap()
    }

    fn reason(result: Result<SessionId, ChannelError>) -> &'static str {
        match result {
            Err(ChannelError::Unauthorized { reason }) => reason,
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    #[test]
    fn session_ids_are_random_and_parse_back() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 34);
        assert_eq!(SessionId::parse(a.as_str()).unwrap(), a);
        for bad in [
            "",
            "s_",
            "x_0123456789abcdef0123456789abcdef",
            "s_0123456789ABCDEF0123456789abcdef",
        ] {
            assert!(SessionId::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<SessionId>("\"s_nope\"").is_err());
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let tokens = tokens();
        let (session, token) = tokens.issue(at(1_000));
        assert_eq!(tokens.verify(&token, at(1_000)).unwrap(), session);
        assert_eq!(tokens.verify(&token, at(4_599)).unwrap(), session);
        assert_eq!(reason(tokens.verify(&token, at(4_600))), "expired_token");
        let refreshed = tokens.issue_for(&session, at(4_000));
        assert_eq!(tokens.verify(&refreshed, at(7_000)).unwrap(), session);
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let tokens = tokens();
        let (_, token) = tokens.issue(at(1_000));
        let (claims, signature) = token.rsplit_once('.').unwrap();
        let (session, expires) = claims.split_once('.').unwrap();
        let later = format!(
            "{session}.{}.{signature}",
            expires.parse::<i64>().unwrap() + 9_999
        );
        assert_eq!(reason(tokens.verify(&later, at(1_000))), "bad_token");
        let other = SessionId::generate();
        let swapped = format!("{other}.{expires}.{signature}");
        assert_eq!(reason(tokens.verify(&swapped, at(1_000))), "bad_token");
        let foreign = SessionTokens::new([7u8; 32], Duration::from_secs(3600)).unwrap();
        assert_eq!(reason(foreign.verify(&token, at(1_000))), "bad_token");
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(reason(tokens.verify(&flipped, at(1_000))), "bad_token");
        for garbage in [
            "",
            ".",
            "a.b.c",
            "s_x.1.!!!",
            &"a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(
                reason(tokens.verify(garbage, at(1_000))),
                "malformed_token",
                "{garbage}"
            );
        }
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert!(SessionTokens::new(b"short".to_vec(), Duration::from_secs(1)).is_err());
        let debug = format!("{:?}", tokens());
        assert!(debug.contains("redacted"));
        assert!(!debug.contains("0123456789abcdef"));
    }
}
