//! What a provider's HTTP answer to a send means for the bridge, for channels that call an
//! HTTP API: `429` and `5xx` are retried (after `Retry-After` when the provider sends it),
//! any other refusal is permanent and dead-lettered with a bounded excerpt of the answer.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::header::RETRY_AFTER;
use http::{HeaderMap, StatusCode};

use crate::error::ChannelError;

/// Most characters of a refusal's body kept in the error (and so in the failed
/// `delivery.updated`).
pub const EXCERPT_CHARS: usize = 256;

/// The error for a non-2xx answer `status` with `headers` and body `answer` from `provider`
/// (a name for messages): `429` → [`ChannelError::RateLimited`]; `5xx` → rate limited when it
/// says how long to wait, else [`ChannelError::Transient`]; anything else →
/// [`ChannelError::Rejected`] with code `http_<status>` and an [`excerpt`] of the answer.
pub fn refusal(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    answer: &[u8],
    now: DateTime<Utc>,
) -> ChannelError {
    let retry_after = retry_after(headers, now);
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ChannelError::RateLimited { retry_after };
    }
    if status.is_server_error() {
        return match retry_after {
            Some(wait) => ChannelError::RateLimited {
                retry_after: Some(wait),
            },
            None => ChannelError::transient(format!("{provider} answered {status}")),
        };
    }
    ChannelError::rejected(format!("http_{}", status.as_u16()), excerpt(answer))
}

/// The wait a `Retry-After` header asks for: delay-seconds, or an HTTP-date (a date already
/// past means no wait). `None` without a readable header.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// At most [`EXCERPT_CHARS`] characters of an answer, cut on a character boundary.
pub fn excerpt(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer)
        .chars()
        .take(EXCERPT_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(retry: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, retry.parse().unwrap());
        headers
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc2822("Sun, 06 Nov 1994 08:49:37 GMT")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn retry_after_takes_seconds_or_http_dates() {
        assert_eq!(
            retry_after(&headers("7"), now()),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:50:07 GMT"), now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:00:00 GMT"), now()),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon"), now()), None);
        assert_eq!(retry_after(&HeaderMap::new(), now()), None);
    }

    #[test]
    fn answers_map_to_retry_or_dead_letter() {
        let none = HeaderMap::new();
        let limited = refusal("acme", StatusCode::TOO_MANY_REQUESTS, &none, b"", now());
        assert!(matches!(
            limited,
            ChannelError::RateLimited { retry_after: None }
        ));
        let busy = refusal(
            "acme",
            StatusCode::SERVICE_UNAVAILABLE,
            &headers("1"),
            b"",
            now(),
        );
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(1)));
        let down = refusal("acme", StatusCode::BAD_GATEWAY, &none, b"", now());
        assert!(matches!(down, ChannelError::Transient(_)));
        let long = "é".repeat(1000);
        let refused = refusal(
            "acme",
            StatusCode::BAD_REQUEST,
            &none,
            long.as_bytes(),
            now(),
        );
        assert_eq!(refused.code(), "http_400");
        let ChannelError::Rejected { reason, .. } = refused else {
            panic!("rejected");
        };
        assert_eq!(reason.chars().count(), EXCERPT_CHARS);
    }
}
