//! Signatures, both ways.
//!
//! **Outbound** (requests this channel posts, when `outbound.secret_env` and
//! `outbound.signature_header` are set): the header value is
//! `t=<unix seconds>,v1=<hex HMAC-SHA256>` over `"<t>.<raw body>"`, exactly the bridge's
//! business-webhook signature. Receivers check it with [`verify`].
//!
//! **Inbound** (the provider's webhooks): HMAC-SHA256 of the raw body, or of
//! `"<timestamp>.<raw body>"`, hex or base64, optionally prefixed; [`sign_webhook`] computes
//! what a provider sends, for tests and simulators. The channel verifies in constant time
//! before anything parses the body.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use http::HeaderName;
use omnibridge_sdk::{ChannelError, WebhookRequest};
use sha2::Sha256;

use crate::config::SignatureEncoding;

/// Standard base64, padded or not (decoding); padded (encoding).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The outbound signature header value for `body` sent at `timestamp` (unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mac = hmac(secret, &[timestamp.to_string().as_bytes(), b".", body]);
    format!("t={timestamp},v1={}", hex::encode(mac))
}

/// Checks an outbound signature header (as made by [`sign`]) against `body` in constant
/// time, refusing a timestamp more than `tolerance_secs` away from `now` (unix seconds).
/// The receiver's side, for tests and Rust receivers.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: u64) -> bool {
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
    if now.abs_diff(timestamp) > tolerance_secs {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// The header value a provider configured like `[channels.inbound]` sends with `body`:
/// `prefix` + the HMAC-SHA256 (under `secret`) of `body`, or of `"<timestamp>.<body>"` when
/// `timestamp` is given, encoded as `encoding` says. For tests and simulators.
pub fn sign_webhook(
    secret: &[u8],
    encoding: SignatureEncoding,
    prefix: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
) -> String {
    let mac = match timestamp {
        Some(timestamp) => hmac(secret, &[timestamp.as_bytes(), b".", body]),
        None => hmac(secret, &[body]),
    };
    let encoded = match encoding {
        SignatureEncoding::HmacSha256Hex => hex::encode(mac),
        SignatureEncoding::HmacSha256Base64 => BASE64.encode(mac),
    };
    format!("{}{encoded}", prefix.unwrap_or(""))
}

fn hmac(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Verifies the provider's webhooks as `[channels.inbound]` says. `Debug` hides the key.
pub(crate) struct WebhookVerifier {
    pub(crate) secret: Vec<u8>,
    pub(crate) header: HeaderName,
    pub(crate) encoding: SignatureEncoding,
    pub(crate) prefix: Option<String>,
    /// With `timestamp.body`: the timestamp header and the tolerance in seconds.
    pub(crate) timestamp: Option<(HeaderName, u64)>,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("header", &self.header)
            .field("encoding", &self.encoding)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

const fn unauthorized(reason: &'static str) -> ChannelError {
    ChannelError::Unauthorized { reason }
}

impl WebhookVerifier {
    /// Checks the request's signature (and timestamp) at `now` (unix seconds), before
    /// anything reads the body.
    pub(crate) fn verify(&self, req: &WebhookRequest<'_>, now: i64) -> Result<(), ChannelError> {
        let header = req
            .headers
            .get(&self.header)
            .ok_or(unauthorized("missing_signature"))?
            .to_str()
            .map_err(|_| unauthorized("bad_signature"))?
            .trim();
        let encoded = match &self.prefix {
            Some(prefix) => header
                .strip_prefix(prefix.as_str())
                .ok_or(unauthorized("bad_signature"))?,
            None => header,
        };
        let signature = match self.encoding {
            SignatureEncoding::HmacSha256Hex => hex::decode(encoded.trim()).ok(),
            SignatureEncoding::HmacSha256Base64 => BASE64.decode(encoded.trim()).ok(),
        }
        .ok_or(unauthorized("bad_signature"))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret)
            .map_err(|_| unauthorized("bad_signature"))?;
        let timestamp = match &self.timestamp {
            Some((name, tolerance)) => {
                let text = req
                    .headers
                    .get(name)
                    .ok_or(unauthorized("missing_timestamp"))?
                    .to_str()
                    .map_err(|_| unauthorized("bad_timestamp"))?
                    .trim();
                let seconds = text
                    .parse::<i64>()
                    .map_err(|_| unauthorized("bad_timestamp"))?;
                mac.update(text.as_bytes());
                mac.update(b".");
                Some((seconds, *tolerance))
            }
            None => None,
        };
        mac.update(req.body);
        mac.verify_slice(&signature)
            .map_err(|_| unauthorized("bad_signature"))?;
        if let Some((seconds, tolerance)) = timestamp
            && now.abs_diff(seconds) > tolerance
        {
            return Err(unauthorized("stale_timestamp"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, Method};

    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn verifier(
        encoding: SignatureEncoding,
        prefix: Option<&str>,
        timestamp: bool,
    ) -> WebhookVerifier {
        WebhookVerifier {
            secret: b"k3y".to_vec(),
            header: HeaderName::from_static("x-signature"),
            encoding,
            prefix: prefix.map(str::to_owned),
            timestamp: timestamp.then(|| (HeaderName::from_static("x-timestamp"), 300)),
        }
    }

    fn check(
        verifier: &WebhookVerifier,
        headers: &[(&'static str, &str)],
        body: &str,
    ) -> Result<(), ChannelError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let body = Bytes::copy_from_slice(body.as_bytes());
        verifier.verify(&WebhookRequest::new(&Method::POST, &map, None, &body), NOW)
    }

    fn reason(result: Result<(), ChannelError>) -> &'static str {
        match result {
            Err(ChannelError::Unauthorized { reason }) => reason,
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    #[test]
    fn hex_signatures_verify_in_either_case_and_tampering_fails() {
        let v = verifier(SignatureEncoding::HmacSha256Hex, None, false);
        let body = r#"{"id":"m1"}"#;
        let sig = sign_webhook(
            b"k3y",
            SignatureEncoding::HmacSha256Hex,
            None,
            None,
            body.as_bytes(),
        );
        assert_eq!(sig.len(), 64);
        check(&v, &[("x-signature", &sig)], body).unwrap();
        check(&v, &[("x-signature", &sig.to_uppercase())], body).unwrap();
        assert_eq!(
            reason(check(&v, &[("x-signature", &sig)], r#"{"id":"m2"}"#)),
            "bad_signature"
        );
        assert_eq!(reason(check(&v, &[], body)), "missing_signature");
        assert_eq!(
            reason(check(&v, &[("x-signature", "zz")], body)),
            "bad_signature"
        );
        let other = sign_webhook(
            b"other",
            SignatureEncoding::HmacSha256Hex,
            None,
            None,
            body.as_bytes(),
        );
        assert_eq!(
            reason(check(&v, &[("x-signature", &other)], body)),
            "bad_signature"
        );
    }

    #[test]
    fn base64_signatures_verify_padded_or_not() {
        let v = verifier(SignatureEncoding::HmacSha256Base64, None, false);
        let body = "hello";
        let sig = sign_webhook(
            b"k3y",
            SignatureEncoding::HmacSha256Base64,
            None,
            None,
            body.as_bytes(),
        );
        assert!(sig.ends_with('='), "{sig}");
        check(&v, &[("x-signature", &sig)], body).unwrap();
        check(&v, &[("x-signature", sig.trim_end_matches('='))], body).unwrap();
        let hex = sign_webhook(
            b"k3y",
            SignatureEncoding::HmacSha256Hex,
            None,
            None,
            body.as_bytes(),
        );
        assert_eq!(
            reason(check(&v, &[("x-signature", &hex)], body)),
            "bad_signature"
        );
        assert_eq!(
            reason(check(&v, &[("x-signature", "!!!")], body)),
            "bad_signature"
        );
    }

    #[test]
    fn a_configured_prefix_is_required_and_stripped() {
        let v = verifier(SignatureEncoding::HmacSha256Hex, Some("sha256="), false);
        let body = "x";
        let sig = sign_webhook(
            b"k3y",
            SignatureEncoding::HmacSha256Hex,
            Some("sha256="),
            None,
            body.as_bytes(),
        );
        assert!(sig.starts_with("sha256="));
        check(&v, &[("x-signature", &sig)], body).unwrap();
        let bare = sig.trim_start_matches("sha256=");
        assert_eq!(
            reason(check(&v, &[("x-signature", bare)], body)),
            "bad_signature"
        );
    }

    #[test]
    fn timestamped_signatures_cover_the_timestamp_and_refuse_stale_ones() {
        let v = verifier(SignatureEncoding::HmacSha256Hex, None, true);
        let body = r#"{"id":"m1"}"#;
        let signed_at = |ts: i64| {
            let ts = ts.to_string();
            let sig = sign_webhook(
                b"k3y",
                SignatureEncoding::HmacSha256Hex,
                None,
                Some(&ts),
                body.as_bytes(),
            );
            (ts, sig)
        };
        let (ts, sig) = signed_at(NOW - 299);
        check(&v, &[("x-signature", &sig), ("x-timestamp", &ts)], body).unwrap();
        let (ts, sig) = signed_at(NOW + 300);
        check(&v, &[("x-signature", &sig), ("x-timestamp", &ts)], body).unwrap();
        let (ts, sig) = signed_at(NOW - 301);
        assert_eq!(
            reason(check(
                &v,
                &[("x-signature", &sig), ("x-timestamp", &ts)],
                body
            )),
            "stale_timestamp"
        );
        let (ts, sig) = signed_at(NOW + 1000);
        assert_eq!(
            reason(check(
                &v,
                &[("x-signature", &sig), ("x-timestamp", &ts)],
                body
            )),
            "stale_timestamp"
        );
        // The timestamp is signed: moving it breaks the signature.
        let (_, sig) = signed_at(NOW);
        let moved = (NOW + 1).to_string();
        assert_eq!(
            reason(check(
                &v,
                &[("x-signature", &sig), ("x-timestamp", &moved)],
                body
            )),
            "bad_signature"
        );
        // A body-only signature does not pass as a timestamped one.
        let body_only = sign_webhook(
            b"k3y",
            SignatureEncoding::HmacSha256Hex,
            None,
            None,
            body.as_bytes(),
        );
        assert_eq!(
            reason(check(
                &v,
                &[
                    ("x-signature", &body_only),
                    ("x-timestamp", &NOW.to_string())
                ],
                body
            )),
            "bad_signature"
        );
        assert_eq!(
            reason(check(&v, &[("x-signature", &sig)], body)),
            "missing_timestamp"
        );
        assert_eq!(
            reason(check(
                &v,
                &[("x-signature", &sig), ("x-timestamp", "soon")],
                body
            )),
            "bad_timestamp"
        );
        // Extreme timestamps never overflow.
        let (ts, sig) = signed_at(i64::MIN);
        assert_eq!(
            reason(check(
                &v,
                &[("x-signature", &sig), ("x-timestamp", &ts)],
                body
            )),
            "stale_timestamp"
        );
    }

    #[test]
    fn outbound_signatures_match_the_bridge_format() {
        let header = sign(b"s3cret", NOW, b"{\"a\":1}");
        let (t, v1) = header.split_once(',').unwrap();
        assert_eq!(t, format!("t={NOW}"));
        let expected = hmac(b"s3cret", &[format!("{NOW}.").as_bytes(), b"{\"a\":1}"]);
        assert_eq!(v1, format!("v1={}", hex::encode(expected)));
        assert!(verify(b"s3cret", &header, b"{\"a\":1}", NOW + 10, 300));
        assert!(!verify(b"s3cret", &header, b"{\"a\":2}", NOW + 10, 300));
        assert!(!verify(b"other", &header, b"{\"a\":1}", NOW + 10, 300));
        assert!(!verify(b"s3cret", &header, b"{\"a\":1}", NOW + 1000, 300));
        assert!(!verify(b"s3cret", "garbage", b"{\"a\":1}", NOW, 300));
        assert!(!verify(
            b"s3cret",
            "t=-9223372036854775808,v1=00",
            b"",
            NOW,
            300
        ));
    }
}
