//! A channel's receive loop ([`omnibridge_sdk::Channel::listen`]: polling, IMAP) run by one
//! instance at a time: only while this instance holds the lease `listen:<channel id>` in the
//! shared store. Another instance waits, and takes over within [`LEASE_TTL`] of the holder's
//! death (a stopped instance gives its lease up at once). Push channels, whose `listen` returns
//! at once, take and give the lease up once.

use std::sync::Arc;
use std::time::Duration;

use omnibridge_sdk::{Channel, Inbox};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How long a lease lasts unless renewed; the holder renews it every third of that.
pub const LEASE_TTL: Duration = Duration::from_secs(6);

/// One channel's receive loop and what it needs to run under a lease.
pub struct LeasedListen {
    /// The shared store holding the leases.
    pub store: Arc<dyn Store>,
    /// This instance's name among the instances (stable across its restarts, so a restarted
    /// instance takes its own lease back at once).
    pub holder: String,
    /// The channel's configured id.
    pub channel_id: String,
    /// The channel.
    pub channel: Arc<dyn Channel>,
    /// Where it delivers what it receives.
    pub inbox: Arc<dyn Inbox>,
}

impl LeasedListen {
    /// Runs the channel's `listen` whenever this instance holds the lease, until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let name = format!("listen:{}", self.channel_id);
        let every = LEASE_TTL / 3;
        loop {
            let held_until = match self
                .store
                .acquire_lease(&name, &self.holder, LEASE_TTL)
                .await
            {
                Ok(true) => Instant::now() + LEASE_TTL,
                Ok(false) => {
                    if waited(&stop, every).await {
                        return;
                    }
                    continue;
                }
                Err(error) => {
                    tracing::warn!(channel_id = %self.channel_id, %error, "Could not take the channel's lease; retrying.");
                    if waited(&stop, every).await {
                        return;
                    }
                    continue;
                }
            };
            tracing::debug!(channel_id = %self.channel_id, holder = %self.holder, "Lease taken: this instance runs the channel's receive loop.");
            if self.hold(&name, held_until, &stop).await {
                if let Err(error) = self.store.release_lease(&name, &self.holder).await {
                    tracing::warn!(channel_id = %self.channel_id, %error, "Could not give the channel's lease up; it runs out by itself.");
                }
                return;
            }
            // Lost the lease: another instance runs the loop now; wait for it to die.
        }
    }

    /// Runs `listen` while renewing the lease; `true` when the loop ended by itself (stop,
    /// an error, a push channel), `false` when the lease was lost and the loop was stopped.
    async fn hold(&self, name: &str, mut held_until: Instant, stop: &CancellationToken) -> bool {
        let run = stop.child_token();
        let mut listen = tokio::spawn({
            let (channel, inbox, run) = (self.channel.clone(), self.inbox.clone(), run.clone());
            async move { channel.listen(inbox, run).await }
        });
        let every = LEASE_TTL / 3;
        loop {
            tokio::select! {
                ended = &mut listen => {
                    match ended {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => tracing::error!(channel_id = %self.channel_id, %error, "Channel receive loop ended with an error."),
                        Err(error) => tracing::error!(channel_id = %self.channel_id, %error, "Channel receive loop panicked."),
                    }
                    return true;
                }
                () = tokio::time::sleep(every) => {
                    match self.store.acquire_lease(name, &self.holder, LEASE_TTL).await {
                        Ok(true) => held_until = Instant::now() + LEASE_TTL,
                        Ok(false) => {
                            tracing::warn!(channel_id = %self.channel_id, "Another instance took the channel's lease; stopping this receive loop.");
                            break;
                        }
                        Err(error) if Instant::now() + every >= held_until => {
                            tracing::warn!(channel_id = %self.channel_id, %error, "Could not renew the channel's lease before it runs out; stopping this receive loop.");
                            break;
                        }
                        Err(error) => tracing::warn!(channel_id = %self.channel_id, %error, "Could not renew the channel's lease; retrying."),
                    }
                }
            }
        }
        run.cancel();
        // The loop stops at its next step; its cursor is only moved after durable appends.
        let _ = listen.await;
        false
    }
}

/// Sleeps `period`; `true` when `stop` came first.
async fn waited(stop: &CancellationToken, period: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(period) => false,
    }
}
