//! Consumer liveness, so a killed instance's pending events move on within seconds: every
//! consumer name this process reads a group as is kept alive by a key `alive:<consumer>`
//! ([`ALIVE_TTL`], renewed every [`HEARTBEAT`] while the bus lives). The events pending for a
//! consumer whose key ran out (its process died) are taken over once they are [`ALIVE_TTL`]
//! idle, instead of after the caller's much longer `min_idle` (meant for a live consumer that
//! is merely slow, e.g. retrying a webhook).

use std::collections::HashMap;
use std::sync::{PoisonError, Weak};
use std::time::{Duration, Instant};

use omnibridge_sdk::Envelope;
use redis::streams::{StreamClaimReply, StreamPendingCountReply, StreamPendingReply};
use redis::{RedisError, cmd};

use super::{Inner, decode_all, is_code, unavailable};
use crate::bus::BusError;

/// How long a consumer counts as alive after its process last renewed its key.
pub const ALIVE_TTL: Duration = Duration::from_secs(6);
/// How often a process renews its consumers' keys.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// A process looks for dead consumers in one group at most this often.
const DEAD_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Which consumers this process runs, and when it last looked for dead ones per group.
#[derive(Debug, Default)]
pub(super) struct Liveness {
    /// The consumer names this process has read or claimed as.
    consumers: std::sync::Mutex<Vec<String>>,
    /// Per group, when this process last looked for dead consumers.
    checked: std::sync::Mutex<HashMap<String, Instant>>,
}

fn ttl_ms() -> u64 {
    u64::try_from(ALIVE_TTL.as_millis()).unwrap_or(u64::MAX)
}

impl Inner {
    fn alive_key(&self, consumer: &str) -> String {
        format!("{}:alive:{consumer}", self.prefix)
    }

    /// Records that this process consumes as `consumer`; the first time, marks it alive.
    pub(super) async fn note_consumer(&self, consumer: &str) -> Result<(), BusError> {
        let new = {
            let mut consumers = self
                .liveness
                .consumers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let new = !consumers.iter().any(|known| known == consumer);
            if new {
                consumers.push(consumer.to_owned());
            }
            new
        };
        if new {
            self.mark_alive(&[consumer.to_owned()]).await?;
        }
        Ok(())
    }

    async fn mark_alive(&self, consumers: &[String]) -> Result<(), BusError> {
        let mut pipe = redis::pipe();
        for consumer in consumers {
            pipe.cmd("SET")
                .arg(self.alive_key(consumer))
                .arg(1)
                .arg("PX")
                .arg(ttl_ms())
                .ignore();
        }
        pipe.query_async::<()>(&mut self.con())
            .await
            .map_err(unavailable)
    }

    /// Whether this process should look for dead consumers of `group` now (once per
    /// [`DEAD_CHECK_EVERY`]).
    fn dead_check_due(&self, group: &str) -> bool {
        let mut checked = self
            .liveness
            .checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match checked.get(group) {
            Some(last) if now.duration_since(*last) < DEAD_CHECK_EVERY => false,
            _ => {
                checked.insert(group.to_owned(), now);
                true
            }
        }
    }

    /// Takes over, for `consumer`, up to `count` events of `group` pending at least
    /// [`ALIVE_TTL`] for consumers that are not alive (`XPENDING` per consumer, `XCLAIM`
    /// with that minimum idle time, so two instances never take the same event).
    pub(super) async fn claim_from_dead(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Envelope>, BusError> {
        if count == 0 || !self.dead_check_due(group) {
            return Ok(Vec::new());
        }
        let summary: Result<StreamPendingReply, RedisError> = cmd("XPENDING")
            .arg(&self.events_key)
            .arg(group)
            .query_async(&mut self.con())
            .await;
        let owners = match summary {
            Ok(StreamPendingReply::Data(data)) => data.consumers,
            Ok(_) => return Ok(Vec::new()),
            Err(error) if is_code(&error, "NOGROUP") => return Ok(Vec::new()),
            Err(error) => return Err(unavailable(error)),
        };
        let mut claimed = Vec::new();
        for owner in owners {
            if owner.name == consumer || claimed.len() >= count {
                continue;
            }
            let alive: bool = cmd("EXISTS")
                .arg(self.alive_key(&owner.name))
                .query_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            if alive {
                continue;
            }
            let pending: StreamPendingCountReply = cmd("XPENDING")
                .arg(&self.events_key)
                .arg(group)
                .arg("IDLE")
                .arg(ttl_ms())
                .arg("-")
                .arg("+")
                .arg(count - claimed.len())
                .arg(&owner.name)
                .query_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            let ids: Vec<&str> = pending.ids.iter().map(|p| p.id.as_str()).collect();
            if ids.is_empty() {
                continue;
            }
            let reply: StreamClaimReply = cmd("XCLAIM")
                .arg(&self.events_key)
                .arg(group)
                .arg(consumer)
                .arg(ttl_ms())
                .arg(&ids)
                .query_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            let taken = decode_all(&reply.ids)?;
            tracing::info!(group, consumer, dead = %owner.name, count = taken.len(), "bus: took over the pending events of a consumer that is gone");
            claimed.extend(taken);
        }
        Ok(claimed)
    }
}

/// Renews the keys of this process's consumers every [`HEARTBEAT`]. Holds the bus only
/// weakly: it stops once the bus is dropped, and the keys run out [`ALIVE_TTL`] later.
pub(super) fn spawn_heartbeat(weak: Weak<Inner>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { break };
            let consumers = inner
                .liveness
                .consumers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if consumers.is_empty() {
                continue;
            }
            if let Err(error) = inner.mark_alive(&consumers).await {
                tracing::warn!(%error, "redis bus: could not renew the consumers' alive keys");
            }
        }
    });
}
