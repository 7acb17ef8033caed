//! The raw-MIME webhook's authentication: providers' inbound-mail routes (or a relay of
//! ours) `POST` the RFC 5322 message as the body, with
//!
//! - `X-Omnibridge-Timestamp`: Unix seconds when it was sent, and
//! - `X-Omnibridge-Signature`: `v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`
//!   (several `v1=` values separated by commas are accepted, for secret rotation).
//!
//! A timestamp further than the tolerance from now (either way) is refused, so a captured
//! request cannot be replayed later. The comparison is constant-time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "x-omnibridge-timestamp";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-omnibridge-signature";

/// Why a webhook was refused (each becomes a 401 reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No secret is configured: the webhook is off.
    NotConfigured,
    /// A header is missing.
    MissingSignature,
    /// The timestamp is not a number.
    BadTimestamp,
    /// The timestamp is outside the replay window.
    StaleTimestamp,
    /// No signature matched.
    BadSignature,
}

impl Refusal {
    /// The machine-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotConfigured => "webhook_secret_not_configured",
            Self::MissingSignature => "missing_signature",
            Self::BadTimestamp => "bad_timestamp",
            Self::StaleTimestamp => "stale_timestamp",
            Self::BadSignature => "bad_signature",
        }
    }
}

/// The `X-Omnibridge-Signature` value for `body` sent at `timestamp` (for senders and tests).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("v1={}", hex::encode(mac(secret, timestamp, body)))
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; new_from_slice cannot fail for HMAC.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Checks a request's headers and body at time `now` (Unix seconds).
pub fn verify(
    secret: Option<&[u8]>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<(), Refusal> {
    let secret = secret.ok_or(Refusal::NotConfigured)?;
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(Refusal::MissingSignature);
    };
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Refusal::BadTimestamp)?;
    if now.abs_diff(sent) > tolerance_secs {
        return Err(Refusal::StaleTimestamp);
    }
    let expected = mac(secret, sent, body);
    let matched = signature
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .filter_map(|hex_sig| hex::decode(hex_sig).ok())
        .any(|presented| subtle::ConstantTimeEq::ct_eq(expected.as_slice(), &presented).into());
    if matched {
        Ok(())
    } else {
        Err(Refusal::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    #[test]
    fn a_fresh_signed_body_passes_and_anything_changed_fails() {
        let body = b"From: a@b\r\n\r\nhi";
        let sig = sign(SECRET, 1_000, body);
        assert_eq!(
            verify(Some(SECRET), Some("1000"), Some(&sig), body, 1_010, 300),
            Ok(())
        );
        assert_eq!(
            verify(
                Some(SECRET),
                Some("1000"),
                Some(&sig),
                b"From: a@b\r\n\r\nHI",
                1_010,
                300
            ),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(Some(SECRET), Some("1001"), Some(&sig), body, 1_010, 300),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(Some(b"other"), Some("1000"), Some(&sig), body, 1_010, 300),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn stale_missing_and_unconfigured_are_refused() {
        let body = b"x";
        let sig = sign(SECRET, 1_000, body);
        assert_eq!(
            verify(Some(SECRET), Some("1000"), Some(&sig), body, 1_301, 300),
            Err(Refusal::StaleTimestamp)
        );
        assert_eq!(
            verify(Some(SECRET), Some("1000"), Some(&sig), body, 699, 300),
            Err(Refusal::StaleTimestamp)
        );
        assert_eq!(
            verify(Some(SECRET), None, Some(&sig), body, 1_000, 300),
            Err(Refusal::MissingSignature)
        );
        assert_eq!(
            verify(Some(SECRET), Some("soon"), Some(&sig), body, 1_000, 300),
            Err(Refusal::BadTimestamp)
        );
        assert_eq!(
            verify(None, Some("1000"), Some(&sig), body, 1_000, 300),
            Err(Refusal::NotConfigured)
        );
        let rotated = format!("v1=00ff, {sig}");
        assert_eq!(
            verify(Some(SECRET), Some("1000"), Some(&rotated), body, 1_000, 300),
            Ok(())
        );
    }
}
