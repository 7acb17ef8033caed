//! Outbound: the Graph API client (`POST /{version}/{phone-number-id}/messages` with the
//! bearer token), message shapes ([`plan`]), approved templates ([`template`]), mark-as-read
//! and the media lookup the media store will use.

pub mod plan;
pub mod template;

use std::time::Duration;

use omnibridge_sdk::{ChannelError, ProviderMessageId};
use serde::Serialize;

use crate::errors::classify;
use crate::wire::graph::{MarkRead, MediaInfo, SendRequest, SendResponse};

/// The `media.failed` code of a media lookup whose 2xx answer is not Meta's documented shape.
pub const UNREADABLE_MEDIA_INFO: &str = "unreadable_media_info";

/// Requests longer than this count as a transient failure.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A Graph API client for one phone number.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    version: String,
    token: String,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.base)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// A client for `base` (e.g. `https://graph.facebook.com`) and `version` (`v21.0`).
    pub fn new(base: &str, version: &str, token: &str) -> Result<Self, ChannelError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(ChannelError::transient)?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            version: version.trim_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// Sends one message from `phone_number_id`; returns its `wamid`.
    pub async fn send(
        &self,
        phone_number_id: &str,
        request: &SendRequest,
    ) -> Result<ProviderMessageId, ChannelError> {
        let answer: SendResponse = self.post(phone_number_id, request).await?;
        answer
            .messages
            .into_iter()
            .next()
            .map(|m| ProviderMessageId::new(m.id))
            .ok_or_else(|| ChannelError::transient("Graph API accepted a send without an id"))
    }

    /// Marks a customer's message as read (blue ticks).
    pub async fn mark_read(
        &self,
        phone_number_id: &str,
        message_id: &str,
    ) -> Result<(), ChannelError> {
        let body = MarkRead {
            messaging_product: "whatsapp",
            status: "read",
            message_id: message_id.to_owned(),
        };
        let _: serde_json::Value = self.post(phone_number_id, &body).await?;
        Ok(())
    }

    /// Looks up a media id: `GET /{version}/{media-id}` → short-lived download URL and
    /// metadata. A 2xx answer that does not have the documented shape is a permanent
    /// failure ([`UNREADABLE_MEDIA_INFO`]): asking again would get the same answer.
    pub async fn media_info(&self, media_id: &str) -> Result<MediaInfo, ChannelError> {
        let url = format!("{}/{}/{media_id}", self.base, self.version);
        let response = self.http.get(url).bearer_auth(&self.token).send().await;
        let body = read_body(response).await?;
        serde_json::from_slice(&body).map_err(|error| {
            ChannelError::rejected(
                UNREADABLE_MEDIA_INFO,
                format!("the Graph API media lookup answered 2xx with an unreadable body: {error}"),
            )
        })
    }

    /// Downloads media from a URL returned by [`GraphClient::media_info`] (bearer required),
    /// refusing bodies larger than `max_bytes`.
    pub async fn download(&self, url: &str, max_bytes: u64) -> Result<bytes::Bytes, ChannelError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(network)?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body = response.bytes().await.unwrap_or_default();
            return Err(classify(status, &body, None));
        }
        if response.content_length().is_some_and(|len| len > max_bytes) {
            return Err(ChannelError::rejected(
                "media_too_large",
                "media exceeds the size cap",
            ));
        }
        let body = response.bytes().await.map_err(network)?;
        if body.len() as u64 > max_bytes {
            return Err(ChannelError::rejected(
                "media_too_large",
                "media exceeds the size cap",
            ));
        }
        Ok(body)
    }

    async fn post<B, T>(&self, phone_number_id: &str, body: &B) -> Result<T, ChannelError>
    where
        B: Serialize + ?Sized,
        T: serde::de::DeserializeOwned,
    {
        let url = format!("{}/{}/{phone_number_id}/messages", self.base, self.version);
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await;
        read_answer(response).await
    }
}

/// A network failure, as a transient error without the request's URL (the media download
/// URL is signed, so it never goes to logs or events).
fn network(error: reqwest::Error) -> ChannelError {
    ChannelError::transient(error.without_url())
}

async fn read_answer<T: serde::de::DeserializeOwned>(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, ChannelError> {
    let body = read_body(response).await?;
    serde_json::from_slice(&body).map_err(|error| {
        ChannelError::transient(format!(
            "Graph API answered 2xx with an unreadable body: {error}"
        ))
    })
}

/// The body of a 2xx answer; any other status mapped by [`classify`].
async fn read_body(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<bytes::Bytes, ChannelError> {
    let response = response.map_err(network)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.map_err(network)?;
    if !(200..300).contains(&status) {
        return Err(classify(status, &body, retry_after));
    }
    Ok(body)
}
