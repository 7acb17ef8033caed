//! Confirmation links for channels without buttons (email): `GET /confirm/{token}` shows the
//! charge and a button and changes nothing (mail scanners follow links); the button's `POST`
//! runs the wallet for the conversation's customer, which settles through `/pay/{intent_id}`
//! exactly as a Pay button does in chat.
//!
//! A token is `<intent id>.<tag>`, the tag an HMAC-SHA256 (cut to 128 bits, base64url) of the
//! intent id under a key derived from the payment challenge secret, so links keep working
//! across restarts and instances, and across a secret rotation while the old secret is listed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::mpp::keys::ChallengeKeys;

/// The path prefix of confirmation links.
pub const PATH: &str = "/confirm/";

const DOMAIN: &[u8] = b"omnibridge confirm-link v1\0";
const TAG_BYTES: usize = 16;

fn tag(secret: &str, intent_id: &str) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(DOMAIN);
    mac.update(intent_id.as_bytes());
    let digest = mac.finalize().into_bytes();
    Some(URL_SAFE_NO_PAD.encode(&digest[..TAG_BYTES]))
}

/// The token of `intent_id`'s confirmation link (signed with the current secret).
pub fn token(keys: &ChallengeKeys, intent_id: &str) -> String {
    match tag(keys.current(), intent_id) {
        Some(tag) => format!("{intent_id}.{tag}"),
        None => intent_id.to_owned(),
    }
}

/// The intent id a token was issued for, when its tag verifies under any listed secret.
pub fn verify(keys: &ChallengeKeys, token: &str) -> Option<String> {
    let (intent_id, presented) = token.rsplit_once('.')?;
    let presented = URL_SAFE_NO_PAD.decode(presented).ok()?;
    keys.all().find_map(|secret| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
        mac.update(DOMAIN);
        mac.update(intent_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        let expected = digest.get(..TAG_BYTES)?;
        bool::from(subtle::ConstantTimeEq::ct_eq(
            expected,
            presented.as_slice(),
        ))
        .then(|| intent_id.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(current: &str, previous: &[&str]) -> ChallengeKeys {
        ChallengeKeys::new(
            current.to_owned(),
            previous.iter().map(|s| (*s).to_owned()).collect(),
        )
        .unwrap()
    }

    #[test]
    fn tokens_verify_for_their_intent_only() {
        let keys = keys(&"a".repeat(32), &[]);
        let token = token(&keys, "pi_123");
        assert_eq!(verify(&keys, &token).as_deref(), Some("pi_123"));
        let forged = token.replace("pi_123", "pi_124");
        assert_eq!(verify(&keys, &forged), None);
        assert_eq!(verify(&keys, "pi_123"), None);
        assert_eq!(verify(&keys, "pi_123.!!"), None);
    }

    #[test]
    fn rotated_secrets_keep_verifying() {
        let old = keys(&"o".repeat(32), &[]);
        let issued = token(&old, "pi_9");
        let rotated = keys(&"n".repeat(32), &[&"o".repeat(32)]);
        assert_eq!(verify(&rotated, &issued).as_deref(), Some("pi_9"));
        let dropped = keys(&"n".repeat(32), &[]);
        assert_eq!(verify(&dropped, &issued), None);
    }
}
