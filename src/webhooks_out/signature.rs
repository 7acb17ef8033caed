//! The signature on outbound webhooks.
//!
//! Header `Omnibridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, where the HMAC key
//! is the endpoint's secret and the message is `"<t>.<raw body>"`. To verify: split the header
//! on `,`, take `t` and `v1`, compute the HMAC over `t + "." + body` as received, compare in
//! constant time, and refuse timestamps more than 5 minutes from your clock.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "omnibridge-signature";

/// The signature header value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body))
    )
}

/// Verifies a signature header against `body`, allowing `tolerance_secs` of clock skew
/// around `now`. This is the receiver's side, shipped for tests and for Rust receivers.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signature = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return false;
    };
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    let Ok(mut expected) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    expected.update(format!("{timestamp}.").as_bytes());
    expected.update(body);
    expected.verify_slice(&signature).is_ok()
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_bodies_verify_and_tampering_fails() {
        let header = sign(b"s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(verify(b"s3cret", &header, b"{\"a\":1}", 1_700_000_010, 300));
        assert!(!verify(
            b"s3cret",
            &header,
            b"{\"a\":2}",
            1_700_000_010,
            300
        ));
        assert!(!verify(b"other", &header, b"{\"a\":1}", 1_700_000_010, 300));
        assert!(!verify(
            b"s3cret",
            &header,
            b"{\"a\":1}",
            1_700_001_000,
            300
        ));
        assert!(!verify(
            b"s3cret",
            "garbage",
            b"{\"a\":1}",
            1_700_000_010,
            300
        ));
    }
}
