//! [`MediaWorker`]: the bus consumer group `media`. For each `message.received` whose media
//! the bridge has not stored yet, it asks the channel to fetch it, stores it and appends
//! `media.stored` or `media.failed`. At least once, like every consumer group: the follow-up
//! event is de-duplicated on `media:<message event id>`.
//!
//! Each media item is its own task with its own retries, so one slow or failing provider
//! never holds up the others: at most [`MAX_FETCHES`] fetches run at once (a task waiting
//! out a retry delay holds no slot), and at most [`MAX_QUEUED`] items are taken from the bus
//! before earlier ones finish. A permanent failure (the provider refused, or answered
//! something unreadable) becomes `media.failed` at once; transient ones are retried with the
//! `[outbox]` backoff, each retry logged at `debug` and the give-up at `warn`, with the
//! error's code and secret-free reason.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use omnibridge_sdk::{
    ChannelError, Content, Envelope, EventBody, InboundEvent, Media, MediaUpdate, Participant, Role,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{DEFAULT_MAX_MEDIA_BYTES, MediaStore};
use crate::bus::{BusError, EventLog, Seq};
use crate::channels::{ChannelHandle, ChannelRegistry};
use crate::ingest::Ingest;
use crate::outbox::RetryPolicy;
use crate::store::Store;

/// The consumer group's name.
pub const GROUP: &str = "media";
/// Events taken from the bus per read.
const BATCH: usize = 32;
/// Only customers' messages carry media to fetch; the group moves past every other type
/// without handing it out.
const WANTED: &[&str] = &["message.received"];
/// A pending event idle this long is taken over from a consumer that died.
const TAKEOVER_AFTER: Duration = Duration::from_secs(120);
/// Media fetched from providers at the same time.
pub const MAX_FETCHES: usize = 8;
/// Media items in progress (fetching, waiting to fetch or waiting out a retry) before the
/// worker stops taking new events from the bus.
pub const MAX_QUEUED: usize = 64;

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

/// What the media tasks of one running worker share.
struct Running {
    worker: MediaWorker,
    /// Fetch slots ([`MAX_FETCHES`]).
    fetches: Semaphore,
    /// Seqs of the events whose media a task is handling, so a takeover of stale events does
    /// not start a second task for one that is merely retrying slowly.
    busy: Mutex<HashSet<Seq>>,
}

impl Running {
    fn busy(&self) -> MutexGuard<'_, HashSet<Seq>> {
        self.busy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Marks an event as handled by a task until dropped (also when the task panics).
struct BusyGuard {
    running: Arc<Running>,
    seq: Seq,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.running.busy().remove(&self.seq);
    }
}

impl MediaWorker {
    /// Handles media until `stop`; an event in progress at shutdown stays pending.
    pub async fn run(self, stop: CancellationToken) {
        let running = Arc::new(Running {
            worker: self,
            fetches: Semaphore::new(MAX_FETCHES),
            busy: Mutex::new(HashSet::new()),
        });
        let mut head = running.worker.bus.watch_head();
        let mut tasks = JoinSet::new();
        while !stop.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            let room = tasks.len() < MAX_QUEUED;
            let taken = match room {
                true => match Self::take(&running, &mut tasks, &stop).await {
                    Ok(count) => count,
                    Err(error) => {
                        tracing::warn!(%error, "Media step failed; retrying.");
                        0
                    }
                },
                false => 0,
            };
            if taken == 0 {
                tokio::select! {
                    () = stop.cancelled() => break,
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                    () = crate::bus::head_moved(&mut head), if room => {}
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            crate::bus::linger_after(taken, BATCH, &stop).await;
        }
        // Tasks see `stop` and end at their next wait; their events stay pending.
        while tasks.join_next().await.is_some() {}
    }

    /// Takes over stale events (except those a task is still on), else reads new ones; acks
    /// those without pending media and starts a task for each of the others. Returns how
    /// many events it took.
    async fn take(
        running: &Arc<Running>,
        tasks: &mut JoinSet<()>,
        stop: &CancellationToken,
    ) -> Result<usize, BusError> {
        let worker = &running.worker;
        let mut events = worker
            .bus
            .claim_stale(GROUP, &worker.consumer, TAKEOVER_AFTER, BATCH)
            .await?;
        {
            let busy = running.busy();
            events.retain(|event| event.seq.is_some_and(|seq| !busy.contains(&seq)));
        }
        let mut count = events.len();
        if events.is_empty() {
            let batch = worker
                .bus
                .group_read_of(GROUP, &worker.consumer, BATCH, WANTED)
                .await?;
            count = batch.read;
            events = batch.events;
        }
        // Most messages carry no media: ack them in one call per batch, not one each.
        let mut done = Vec::with_capacity(events.len());
        for event in events {
            let Some(seq) = event.seq else { continue };
            if pending_media(&event).is_none() {
                done.push(seq);
                continue;
            }
            if !running.busy().insert(seq) {
                continue;
            }
            let guard = BusyGuard {
                running: Arc::clone(running),
                seq,
            };
            let stop = stop.clone();
            tasks.spawn(async move {
                let running = Arc::clone(&guard.running);
                let worker = &running.worker;
                if worker.handle(&running.fetches, &event, &stop).await
                    && let Err(error) = worker.bus.group_ack(GROUP, &[seq]).await
                {
                    tracing::warn!(%error, "Could not ack a media event; it will be redelivered.");
                }
                drop(guard);
            });
        }
        worker.bus.group_ack(GROUP, &done).await?;
        Ok(count)
    }

    /// Fetches, stores and reports the media of `event`; `false` when it must be tried again
    /// later (stopped, or the bridge's own storage failed).
    async fn handle(
        &self,
        fetches: &Semaphore,
        event: &Envelope,
        stop: &CancellationToken,
    ) -> bool {
        let Some(media) = pending_media(event) else {
            return true;
        };
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
            let fetched = tokio::select! {
                () = stop.cancelled() => return false,
                fetched = async {
                    let _slot = fetches.acquire().await;
                    handle.channel.fetch_media(media, cap).await
                } => fetched,
            };
            let error = match fetched {
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
                break failed(event, media, &error, attempts);
            };
            tracing::debug!(
                event_id = %event.id,
                attempt = attempts,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                code = error.code(),
                reason = %error,
                "Inbound media fetch failed; retrying."
            );
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

/// `media.failed` for a permanent failure or the last of the retries, logged at `warn`.
fn failed(event: &Envelope, media: &Media, error: &ChannelError, attempts: u32) -> EventBody {
    let reason = match error {
        ChannelError::Rejected { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    tracing::warn!(
        event_id = %event.id,
        attempts,
        code = error.code(),
        reason = %reason,
        "Inbound media could not be stored; giving up."
    );
    EventBody::MediaFailed(MediaUpdate::failed(
        event.id,
        media.clone(),
        error.code(),
        reason,
    ))
}
