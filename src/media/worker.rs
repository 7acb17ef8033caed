//! [`MediaWorker`]: the bus consumer group `media`. For each `message.received` whose media
//! the bridge has not stored yet, it asks the channel to fetch it, stores it and appends
//! `media.stored` or `media.failed`. At least once, like every consumer group: the follow-up
//! event is de-duplicated on `media:<message event id>`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use omnibridge_sdk::{
    ChannelError, Content, Envelope, EventBody, InboundEvent, Media, MediaUpdate, Participant, Role,
};
use tokio_util::sync::CancellationToken;

use super::{DEFAULT_MAX_MEDIA_BYTES, MediaStore};
use crate::bus::{BusError, EventLog};
use crate::channels::{ChannelHandle, ChannelRegistry};
use crate::ingest::Ingest;
use crate::outbox::RetryPolicy;
use crate::store::Store;

/// The consumer group's name.
pub const GROUP: &str = "media";
/// Events taken from the bus per read.
const BATCH: usize = 32;
/// A pending event idle this long is taken over from a consumer that died.
const TAKEOVER_AFTER: Duration = Duration::from_secs(120);

/// Downloads and stores inbound media.
pub struct MediaWorker {
    /// Consumer name, unique per bridge instance.
    pub consumer: String,
    /// The bus.
    pub bus: Arc<dyn EventLog>,
    /// Conversations (for the channel id of an event).
    pub store: Arc<dyn Store>,
    /// Where follow-up events go.
    pub ingest: Ingest,
    /// Configured channels.
    pub channels: Arc<ChannelRegistry>,
    /// Where files go.
    pub media: Arc<dyn MediaStore>,
    /// `max_media_bytes` per channel id ([`DEFAULT_MAX_MEDIA_BYTES`] when absent).
    pub caps: HashMap<String, u64>,
    /// `server.public_url`, for `data.media.url`.
    pub public_url: String,
    /// Retries of transient download failures.
    pub retry: RetryPolicy,
}

impl MediaWorker {
    /// Handles media until `stop`; an event in progress at shutdown stays pending.
    pub async fn run(self, stop: CancellationToken) {
        let mut head = self.bus.watch_head();
        while !stop.is_cancelled() {
            let handled = match self.step(&stop).await {
                Ok(count) => count,
                Err(error) => {
                    tracing::warn!(%error, "Media step failed; retrying.");
                    0
                }
            };
            if handled == 0 {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = crate::bus::head_moved(&mut head) => {}
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }

    /// Takes over stale events, else reads new ones, and handles them in order.
    pub async fn step(&self, stop: &CancellationToken) -> Result<usize, BusError> {
        let mut events = self
            .bus
            .claim_stale(GROUP, &self.consumer, TAKEOVER_AFTER, BATCH)
            .await?;
        if events.is_empty() {
            events = self.bus.group_read(GROUP, &self.consumer, BATCH).await?;
        }
        let count = events.len();
        // Most events carry no media: ack them in one call per batch, not one each.
        let mut done = Vec::with_capacity(count);
        for event in events {
            if let Some(media) = pending_media(&event)
                && !self.handle(&event, media, stop).await
            {
                self.bus.group_ack(GROUP, &done).await?;
                return Ok(0);
            }
            done.extend(event.seq);
        }
        if !done.is_empty() {
            self.bus.group_ack(GROUP, &done).await?;
        }
        Ok(count)
    }

    /// Fetches, stores and reports one media; `false` when it must be tried again later
    /// (stopped, or the bridge's own storage failed).
    async fn handle(&self, event: &Envelope, media: &Media, stop: &CancellationToken) -> bool {
        let conversation = match self.store.conversation(&event.conversation_id).await {
            Ok(Some(conversation)) => conversation,
            Ok(None) => return true,
            Err(error) => {
                tracing::warn!(%error, "Could not read a conversation; will retry its media.");
                return false;
            }
        };
        let Some(handle) = self.channels.get(&conversation.channel_id) else {
            return true;
        };
        let cap = self
            .caps
            .get(&handle.id)
            .copied()
            .unwrap_or(DEFAULT_MAX_MEDIA_BYTES);
        let mut attempts = 0;
        let body = loop {
            attempts += 1;
            let error = match handle.channel.fetch_media(media, cap).await {
                Ok(None) => return true,
                Ok(Some(fetched)) => match self.stored(event, media, fetched).await {
                    Some(body) => break body,
                    None => return false,
                },
                Err(error) => error,
            };
            let delay = match error.is_retryable() {
                true => self.retry.next_delay(attempts, error.retry_after()),
                false => None,
            };
            let Some(delay) = delay else {
                break failed(event, media, &error);
            };
            tokio::select! {
                () = stop.cancelled() => return false,
                () = tokio::time::sleep(delay) => {}
            }
        };
        self.report(event, handle, body).await
    }

    async fn stored(
        &self,
        event: &Envelope,
        media: &Media,
        fetched: omnibridge_sdk::FetchedMedia,
    ) -> Option<EventBody> {
        let mime = fetched
            .mime_type
            .or_else(|| media.mime_type.clone())
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let stored = match self.media.put(fetched.bytes, &mime).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(%error, "Could not store inbound media; will retry.");
                return None;
            }
        };
        let mut media = media.clone();
        media.url = Some(format!("{}/v1/media/{}", self.public_url, stored.id));
        media.mime_type = Some(stored.mime_type);
        media.size_bytes = Some(stored.size_bytes);
        Some(EventBody::MediaStored(MediaUpdate::stored(event.id, media)))
    }

    async fn report(&self, event: &Envelope, handle: &ChannelHandle, body: EventBody) -> bool {
        let mut update = InboundEvent::new(event.conversation.clone(), body)
            .with_sender(Participant::with_role(Role::System))
            .with_dedup_key(format!("media:{}", event.id));
        update
            .provider_message_id
            .clone_from(&event.provider_message_id);
        match self
            .ingest
            .accept(&handle.id, &handle.kind, vec![update])
            .await
        {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, "Could not append a media event; will retry.");
                false
            }
        }
    }
}

/// The media of a received message that the bridge has not stored yet.
fn pending_media(event: &Envelope) -> Option<&Media> {
    match &event.body {
        EventBody::MessageReceived(message) => match &message.content {
            Content::Media(media) if media.url.is_none() && media.provider_media_id.is_some() => {
                Some(media)
            }
            _ => None,
        },
        _ => None,
    }
}

fn failed(event: &Envelope, media: &Media, error: &ChannelError) -> EventBody {
    let reason = match error {
        ChannelError::Rejected { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    tracing::warn!(code = error.code(), "Inbound media could not be stored.");
    EventBody::MediaFailed(MediaUpdate::failed(
        event.id,
        media.clone(),
        error.code(),
        reason,
    ))
}
