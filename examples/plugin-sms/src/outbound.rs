//! Posting a message to the gateway, and what its answer means.
//!
//! `POST {api_url}/messages` with `{"from": <number>, "to": <the customer's number>, "text"}`,
//! `Authorization: Bearer <api key>` and `Idempotency-Key: <outbound id>` (stable across the
//! bridge's retries, so a retried message is not sent twice). Redirects are not followed.
//!
//! | Answer | Result |
//! |---|---|
//! | 2xx `{"id": "…"}` | `SendReceipt::sent` with that id (no readable id: sent, without one) |
//! | 429 | `RateLimited { retry_after }` (`Retry-After` seconds or HTTP-date, when sent) |
//! | 5xx with `Retry-After` | `RateLimited { retry_after }` |
//! | 5xx without | `Transient` |
//! | timeout, connection error | `Transient` |
//! | any other status (4xx, 3xx) | `Rejected { code: "http_<status>" }`, reason = at most 256 characters of the answer |
//!
//! Neither the text nor the API key ever goes to a log or an error.

use std::time::Duration;

use chrono::{DateTime, Utc};
use omnibridge_sdk::{ChannelError, OutboundMessage, ProviderMessageId, SendReceipt};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

/// How long one request to the gateway may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Most bytes of an answer read.
const ANSWER_CAP: usize = 64 * 1024;

/// The request body.
#[derive(Serialize)]
struct Send<'a> {
    from: &'a str,
    to: &'a str,
    text: &'a str,
}

/// The answer to an accepted message.
#[derive(Deserialize)]
struct Sent {
    id: String,
}

/// `{api_url}/messages`, or a `Config` error naming `api_url`.
pub(crate) fn messages_url(api_url: &str) -> Result<reqwest::Url, ChannelError> {
    let base = api_url.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(&format!("{base}/messages"))
        .map_err(|error| ChannelError::config("api_url", format!("not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ChannelError::config(
            "api_url",
            "must be an http or https URL",
        ));
    }
    Ok(url)
}

/// The send side of one channel.
pub(crate) struct Outbound {
    client: reqwest::Client,
    url: reqwest::Url,
    from: String,
    /// `Bearer <api key>`, marked sensitive.
    auth: HeaderValue,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// Posts to `url` as `from` with `api_key`. No I/O.
    pub(crate) fn new(
        url: reqwest::Url,
        from: String,
        api_key: &str,
    ) -> Result<Self, ChannelError> {
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", api_key.trim())).map_err(|_| {
                ChannelError::config(
                    "api_key_env",
                    "the API key is not a valid header value (control characters?)",
                )
            })?;
        auth.set_sensitive(true);
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| ChannelError::config("", "the HTTP client could not be built"))?;
        Ok(Self {
            client,
            url,
            from,
            auth,
        })
    }

    /// Sends one SMS (the bridge already cut the text to the segment length and turned any
    /// buttons into numbered text).
    pub(crate) async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
        let idempotency_key = HeaderValue::from_str(msg.id.as_str()).map_err(|_| {
            ChannelError::rejected(
                "invalid_outbound_id",
                "the outbound id is not a valid Idempotency-Key",
            )
        })?;
        let response = self
            .client
            .post(self.url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header("idempotency-key", idempotency_key)
            .json(&Send {
                from: &self.from,
                to: &msg.conversation.thread,
                text: &msg.text,
            })
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let answer = read_capped(response, ANSWER_CAP).await;
        if !status.is_success() {
            return Err(classify(
                status,
                &headers,
                &answer.unwrap_or_default(),
                Utc::now(),
            ));
        }
        let id = answer
            .ok()
            .and_then(|answer| serde_json::from_slice::<Sent>(&answer).ok())
            .map(|sent| sent.id)
            .filter(|id| !id.trim().is_empty());
        if id.is_none() {
            tracing::warn!(
                outbound_id = %msg.id,
                "The SMS gateway accepted a message without a readable id; \
                 it is recorded as sent without a provider message id."
            );
        }
        Ok(SendReceipt::sent(id.map(ProviderMessageId::new)))
    }
}

/// Reads at most `cap` bytes of an answer (the rest is left unread).
async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= cap {
            break;
        }
    }
    Ok(out)
}

/// What a non-2xx answer means for the bridge's outbox, at time `now`: the SDK's reading of
/// HTTP answers (429 and 5xx retried, honouring `Retry-After`; any other refusal
/// dead-lettered with an excerpt of the answer).
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    answer: &[u8],
    now: DateTime<Utc>,
) -> ChannelError {
    omnibridge_sdk::answer::refusal("the SMS gateway", status, headers, answer, now)
}

/// A request that got no answer: retry later. The error names the failure's kind only.
fn transport(error: reqwest::Error) -> ChannelError {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else {
        "request"
    };
    ChannelError::transient(format!("the request to the SMS gateway failed ({kind})"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn now() -> DateTime<Utc> {
        // Sun, 06 Nov 1994 08:49:37 GMT
        DateTime::from_timestamp(784_111_777, 0).unwrap()
    }

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_str(retry_after).unwrap(),
        );
        headers
    }

    #[test]
    fn answers_map_to_what_the_outbox_does_next() {
        let limited = classify(StatusCode::TOO_MANY_REQUESTS, &headers("3"), b"", now());
        assert!(matches!(
            limited,
            ChannelError::RateLimited { retry_after: Some(wait) } if wait == Duration::from_secs(3)
        ));
        let limited = classify(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), b"", now());
        assert!(matches!(
            limited,
            ChannelError::RateLimited { retry_after: None }
        ));
        let busy = classify(StatusCode::SERVICE_UNAVAILABLE, &headers("2"), b"", now());
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)));
        let down = classify(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>", now());
        assert!(matches!(down, ChannelError::Transient(_)));
        match classify(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            b" bad number ",
            now(),
        ) {
            ChannelError::Rejected { code, reason } => {
                assert_eq!(code, "http_400");
                assert_eq!(reason, "bad number");
            }
            other => panic!("{other:?}"),
        }
        let redirect = classify(StatusCode::FOUND, &HeaderMap::new(), b"", now());
        assert_eq!(redirect.code(), "http_302");
        assert!(!redirect.is_retryable());
        let long = "é".repeat(1000);
        match classify(
            StatusCode::UNPROCESSABLE_ENTITY,
            &HeaderMap::new(),
            long.as_bytes(),
            now(),
        ) {
            ChannelError::Rejected { reason, .. } => {
                assert_eq!(
                    reason.chars().count(),
                    omnibridge_sdk::answer::EXCERPT_CHARS
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn api_urls_must_be_http() {
        assert_eq!(
            messages_url("https://gw.example/v1/").unwrap().as_str(),
            "https://gw.example/v1/messages"
        );
        assert_eq!(
            messages_url("http://127.0.0.1:9").unwrap().as_str(),
            "http://127.0.0.1:9/messages"
        );
        for bad in ["", "gw.example", "ftp://gw.example", "file:///tmp"] {
            match messages_url(bad) {
                Err(ChannelError::Config { key, .. }) => assert_eq!(key, "api_url", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
