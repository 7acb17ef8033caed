//! Posting a message to the provider, and what its answer means.
//!
//! | Answer | Result |
//! |---|---|
//! | 2xx | `SendReceipt::sent`: the string or number at `outbound.provider_message_id` in the JSON answer, else the outbound id |
//! | 429 | `RateLimited { retry_after }` (`Retry-After` seconds or HTTP-date, when sent) |
//! | 5xx with `Retry-After` | `RateLimited { retry_after }` |
//! | 5xx without | `Transient` |
//! | timeout, connection error | `Transient` |
//! | other (4xx, 3xx: redirects are not followed) | `Rejected { code: "http_<status>" }`, reason = at most 256 characters of the answer |
//!
//! Neither the message body nor a secret ever goes to a log or an error.

use std::time::Duration;

use chrono::DateTime;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use omnibridge_sdk::{
    ChannelError, FetchedMedia, MEDIA_TOO_LARGE, Media, OutboundMessage, ProviderMessageId,
    SendReceipt,
};

use crate::pointer::{self, Found};
use crate::signature;
use crate::template::{self, BodyTemplate};

/// Most characters of a refusal's answer kept in `Rejected::reason`.
pub use omnibridge_sdk::answer::EXCERPT_CHARS;

/// Most bytes of a 2xx answer read for the provider message id.
const ANSWER_CAP: usize = 1024 * 1024;

/// Most bytes of a refusal read for the excerpt.
const ERROR_CAP: usize = 16 * 1024;

/// How long downloading one inbound media file may take.
const MEDIA_TIMEOUT: Duration = Duration::from_secs(60);

/// The send side of one channel, built from `[channels.outbound]`.
pub(crate) struct Outbound {
    /// Posts messages; follows no redirect (a 302 would turn the POST into a GET).
    pub(crate) client: reqwest::Client,
    /// Downloads inbound media; follows up to 5 redirects (media hosts redirect to storage).
    pub(crate) media_client: reqwest::Client,
    pub(crate) url: reqwest::Url,
    /// The `Authorization` value, marked sensitive.
    pub(crate) auth: Option<HeaderValue>,
    pub(crate) template: BodyTemplate,
    /// The signature header and key.
    pub(crate) signing: Option<(HeaderName, Vec<u8>)>,
    pub(crate) provider_message_id: Option<String>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("host", &self.url.host_str())
            .field("auth", &self.auth.is_some())
            .field("signed", &self.signing.is_some())
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// Renders and posts `msg`; `now` is unix seconds (the signature's `t`, HTTP-date
    /// `Retry-After`s).
    pub(crate) async fn send(
        &self,
        msg: &OutboundMessage,
        now: i64,
    ) -> Result<SendReceipt, ChannelError> {
        let body = self.template.render(&template::variables(msg))?;
        let idempotency_key = HeaderValue::from_str(msg.id.as_str()).map_err(|_| {
            ChannelError::rejected(
                "invalid_outbound_id",
                "the outbound id is not a valid Idempotency-Key",
            )
        })?;
        let mut request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("idempotency-key", idempotency_key);
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if let Some((header, secret)) = &self.signing {
            request = request.header(
                header.clone(),
                signature::sign(secret, now, body.as_bytes()),
            );
        }
        let response = request.body(body).send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        if !status.is_success() {
            let answer = read_capped(response, ERROR_CAP).await.unwrap_or_default();
            return Err(classify(status, &headers, &answer, now));
        }
        let Some(pointer) = &self.provider_message_id else {
            return Ok(SendReceipt::sent(Some(msg.id.as_str().into())));
        };
        let answer = match read_capped(response, ANSWER_CAP).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::warn!(
                    outbound_id = %msg.id,
                    error = kind(&error),
                    "The provider accepted a message but its answer could not be read; \
                     the outbound id stands for the provider message id."
                );
                Vec::new()
            }
        };
        let found = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .map(|answer| pointer::scalar(&answer, pointer));
        let id = match found {
            Some(Found::Text(id)) => ProviderMessageId::new(id),
            _ => {
                tracing::debug!(
                    outbound_id = %msg.id,
                    pointer = %pointer,
                    "No string or number at outbound.provider_message_id in the answer; \
                     the outbound id stands for the provider message id."
                );
                msg.id.as_str().into()
            }
        };
        Ok(SendReceipt::sent(Some(id)))
    }

    /// Downloads the inbound media at `media.provider_media_id` (an `http(s)` URL from the
    /// provider's signed webhook), refusing more than `max_bytes`.
    pub(crate) async fn fetch_media(
        &self,
        media: &Media,
        max_bytes: u64,
        now: i64,
    ) -> Result<Option<FetchedMedia>, ChannelError> {
        let Some(url) = media.provider_media_id.as_deref() else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| {
                ChannelError::rejected("invalid_media_url", "the media URL is not http(s)")
            })?;
        let response = self
            .media_client
            .get(url)
            .timeout(MEDIA_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        if !status.is_success() {
            let answer = read_capped(response, ERROR_CAP).await.unwrap_or_default();
            return Err(classify(status, &headers, &answer, now));
        }
        let too_large = || {
            ChannelError::rejected(
                MEDIA_TOO_LARGE,
                format!("the media is larger than {max_bytes} bytes"),
            )
        };
        if response.content_length().is_some_and(|len| len > max_bytes) {
            return Err(too_large());
        }
        let mime_type = headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or("").trim().to_owned())
            .filter(|value| !value.is_empty());
        let cap = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        let bytes = read_capped(response, cap.saturating_add(1))
            .await
            .map_err(transport)?;
        if bytes.len() > cap {
            return Err(too_large());
        }
        Ok(Some(FetchedMedia::new(bytes.into(), mime_type)))
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

/// What a non-2xx answer means for the outbox (see [`omnibridge_sdk::answer::refusal`]).
pub(crate) fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    answer: &[u8],
    now: i64,
) -> ChannelError {
    let now = DateTime::from_timestamp(now, 0).unwrap_or_default();
    omnibridge_sdk::answer::refusal("the provider", status, headers, answer, now)
}

fn kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "request"
    }
}

/// A request that got no answer: retry later. The error text names the failure's kind
/// only (a URL may carry a key in its query).
fn transport(error: reqwest::Error) -> ChannelError {
    ChannelError::transient(format!("the request failed ({})", kind(&error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(retry_after) {
            headers.insert(http::header::RETRY_AFTER, value);
        }
        headers
    }

    const NOW: i64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

    #[test]
    fn answers_map_to_what_the_outbox_does_next() {
        let limited = classify(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), b"", NOW);
        assert!(matches!(
            limited,
            ChannelError::RateLimited { retry_after: None }
        ));
        let busy = classify(StatusCode::SERVICE_UNAVAILABLE, &headers("2"), b"", NOW);
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)));
        let down = classify(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>", NOW);
        assert!(matches!(down, ChannelError::Transient(_)));
        let refused = classify(
            StatusCode::UNPROCESSABLE_ENTITY,
            &HeaderMap::new(),
            b" bad number ",
            NOW,
        );
        match refused {
            ChannelError::Rejected { code, reason } => {
                assert_eq!(code, "http_422");
                assert_eq!(reason, "bad number");
            }
            other => panic!("{other:?}"),
        }
        let redirect = classify(StatusCode::FOUND, &HeaderMap::new(), b"", NOW);
        assert_eq!(redirect.code(), "http_302");
        assert!(!redirect.is_retryable());
    }
}
