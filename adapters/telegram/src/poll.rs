//! Polling mode: `getUpdates` long polls. The offset moves past an update only after its
//! event is durably on the bus ([`Inbox::deliver`] returned), and is kept in the channel's
//! durable state, so a restart, even after SIGKILL, resumes without loss (an update not yet
//! acknowledged is fetched again, and the bridge's de-duplication on `update_id` drops the
//! copy). Also: registering the webhook at start in webhook mode, with retries.

use std::sync::Arc;
use std::time::Duration;

use omnibridge_sdk::{ChannelError, Inbox};
use teloxide_core::payloads::GetUpdatesSetters;
use teloxide_core::requests::Requester;
use tokio_util::sync::CancellationToken;

use crate::channel::{TelegramChannel, allowed_updates};
use crate::errors::{self, WEBHOOK_CONFLICT};
use crate::inbound;

/// The state key of the next `getUpdates` offset.
pub const OFFSET_KEY: &str = "poll:offset";

/// Longest wait between retries after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs the polling loop until `stop` is cancelled.
pub(crate) async fn run(
    channel: &TelegramChannel,
    inbox: Arc<dyn Inbox>,
    stop: CancellationToken,
) -> Result<(), ChannelError> {
    if channel.config.delete_webhook {
        retry(&stop, "deleteWebhook", || async {
            channel
                .bot
                .delete_webhook()
                .await
                .map(drop)
                .map_err(errors::from_request)
        })
        .await;
    }
    let mut offset = load_offset(channel).await?;
    let mut backoff = Duration::from_millis(250);
    loop {
        let request = channel
            .bot
            .get_updates()
            .offset(offset)
            .timeout(channel.config.poll_timeout_secs)
            .allowed_updates(allowed_updates());
        let updates = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            result = request => result.map_err(errors::from_request),
        };
        let updates = match updates {
            Ok(updates) => {
                channel.report(None);
                backoff = Duration::from_millis(250);
                updates
            }
            Err(error) => {
                if error.code() == WEBHOOK_CONFLICT {
                    tracing::error!(
                        channel_id = %channel.account,
                        "Telegram refuses getUpdates: a webhook is set on this bot (or another \
                         poller runs). Delete it, or set delete_webhook = true."
                    );
                    channel.report(Some((
                        WEBHOOK_CONFLICT,
                        "Telegram refuses getUpdates (409): a webhook is set on this bot or \
                         another bridge polls it; set delete_webhook = true to remove it"
                            .to_owned(),
                    )));
                } else {
                    tracing::warn!(channel_id = %channel.account, code = error.code(), "getUpdates failed; retrying.");
                }
                let wait = error.retry_after().unwrap_or(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    () = tokio::time::sleep(wait) => continue,
                }
            }
        };
        if updates.is_empty() {
            continue;
        }
        let mut events = Vec::with_capacity(updates.len());
        let mut next = offset;
        for update in &updates {
            let value = serde_json::to_value(update).unwrap_or_default();
            let normalized = inbound::normalize(&channel.account, update, &value);
            let after = i32::try_from(normalized.update_id.saturating_add(1)).unwrap_or(i32::MAX);
            next = next.max(after);
            events.push(channel.complete(normalized).await);
        }
        // Durable first, then the cursor: a crash in between re-fetches, and de-duplication
        // on update_id keeps each update once.
        loop {
            match inbox.deliver(events.clone()).await {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(channel_id = %channel.account, %error, "Could not append Telegram updates; retrying.");
                    tokio::select! {
                        () = stop.cancelled() => return Ok(()),
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        save_offset(channel, next).await?;
        offset = next;
    }
}

async fn load_offset(channel: &TelegramChannel) -> Result<i32, ChannelError> {
    let Some(state) = &channel.state else {
        return Ok(0);
    };
    let stored = state
        .get(OFFSET_KEY)
        .await
        .map_err(|error| ChannelError::transient(error.to_string()))?;
    Ok(stored
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or(0))
}

async fn save_offset(channel: &TelegramChannel, offset: i32) -> Result<(), ChannelError> {
    if let Some(state) = &channel.state {
        state
            .put(OFFSET_KEY, offset.to_string().as_bytes())
            .await
            .map_err(|error| ChannelError::transient(error.to_string()))?;
    }
    Ok(())
}

/// Webhook mode: `setWebhook` until it succeeds (or `stop`), showing failures on `/readyz`.
pub(crate) async fn until_webhook_set(channel: &TelegramChannel, stop: &CancellationToken) {
    retry(stop, "setWebhook", || async {
        let result = channel.set_webhook().await;
        match &result {
            Ok(()) => channel.report(None),
            Err(error) => channel.report(Some((
                "set_webhook_failed",
                format!("setWebhook failed: {error}"),
            ))),
        }
        result
    })
    .await;
    if !stop.is_cancelled() {
        tracing::info!(channel_id = %channel.account, "Telegram webhook registered.");
    }
}

/// Calls `call` until it succeeds or `stop` is cancelled, backing off (or waiting what a 429
/// asks).
async fn retry<F, Fut>(stop: &CancellationToken, what: &'static str, mut call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ChannelError>>,
{
    let mut backoff = Duration::from_millis(500);
    loop {
        let error = tokio::select! {
            () = stop.cancelled() => return,
            result = call() => match result {
                Ok(()) => return,
                Err(error) => error,
            },
        };
        tracing::warn!(
            call = what,
            code = error.code(),
            "Telegram call failed; retrying."
        );
        let wait = error.retry_after().unwrap_or(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
