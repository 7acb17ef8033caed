//! Glue between the IMAP follower and the bridge: the mailbox cursor lives in the channel's
//! state, and fetched mail is turned into events and delivered durably before the follower
//! may advance.

use std::sync::Arc;
use std::time::Duration;

use omnibridge_sdk::{ChannelState, Inbox};

use crate::imap::{CursorStore, FetchedMail, MailSink, MailboxCursor};
use crate::inbound::MailIngest;

/// The state key of the mailbox cursor.
pub const CURSOR_KEY: &str = "imap:cursor";

/// The cursor in the channel's state.
pub struct StateCursor {
    state: Arc<dyn ChannelState>,
}

impl StateCursor {
    /// The cursor of this channel.
    pub fn new(state: Arc<dyn ChannelState>) -> Self {
        Self { state }
    }
}

#[async_trait::async_trait]
impl CursorStore for StateCursor {
    async fn load(&self) -> Result<Option<MailboxCursor>, String> {
        match self
            .state
            .get(CURSOR_KEY)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("unreadable cursor: {e}")),
            None => Ok(None),
        }
    }

    async fn save(&self, cursor: MailboxCursor) -> Result<(), String> {
        let bytes = serde_json::to_vec(&cursor).map_err(|e| e.to_string())?;
        self.state
            .put(CURSOR_KEY, &bytes)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Turns fetched mail into events and delivers them.
pub struct InboxSink {
    ingest: MailIngest,
    inbox: Arc<dyn Inbox>,
}

impl InboxSink {
    /// A sink into `inbox`.
    pub fn new(ingest: MailIngest, inbox: Arc<dyn Inbox>) -> Self {
        Self { ingest, inbox }
    }
}

#[async_trait::async_trait]
impl MailSink for InboxSink {
    async fn deliver(&self, mails: Vec<FetchedMail>) -> Result<(), String> {
        let raws: Vec<&[u8]> = mails.iter().map(|mail| mail.raw.as_slice()).collect();
        let events = self
            .ingest
            .events_batch(&raws, true)
            .await
            .map_err(|e| e.to_string())?;
        if events.is_empty() {
            return Ok(());
        }
        self.inbox.deliver(events).await.map_err(|e| e.to_string())
    }
}

/// How often kept raw mails are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Removes raw mails kept for their attachments once they are older than `keep`: at start,
/// then hourly, until `stop`.
pub async fn prune_raw_mail(
    state: Arc<dyn ChannelState>,
    keep: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        match state.prune(crate::inbound::RAW_PREFIX, keep).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "kept raw mails pruned"),
            Err(error) => tracing::warn!(%error, "could not prune kept raw mails"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}
