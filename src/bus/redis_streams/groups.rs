//! Consumer groups on Redis Streams: `XGROUP CREATE ... MKSTREAM`, `XREADGROUP >`, `XACK`,
//! `XAUTOCLAIM` and `XPENDING` on the events stream.

use std::sync::PoisonError;
use std::time::Duration;

use omnibridge_sdk::Envelope;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingReply, StreamReadReply};
use redis::{RedisError, RedisResult, cmd};

use super::{Inner, decode_all, is_code, stream_id, unavailable};
use crate::bus::{BusError, Seq};

impl Inner {
    /// Creates `group` at the start of the log unless this instance already knows it exists.
    async fn ensure_group(&self, group: &str) -> Result<(), BusError> {
        let known = self
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(group);
        if known {
            return Ok(());
        }
        let created: Result<(), RedisError> = cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.events_key)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.con())
            .await;
        match created {
            Ok(()) => tracing::info!(group, "redis bus: consumer group created"),
            Err(error) if is_code(&error, "BUSYGROUP") => {}
            Err(error) => return Err(unavailable(error)),
        }
        self.groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(group.to_owned());
        Ok(())
    }

    async fn xreadgroup(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> RedisResult<Option<StreamReadReply>> {
        cmd("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(&self.events_key)
            .arg(">")
            .query_async(&mut self.con())
            .await
    }

    /// `XREADGROUP >`: up to `count` never-delivered events for `consumer`.
    pub(super) async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Envelope>, BusError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        self.ensure_group(group).await?;
        self.note_consumer(consumer).await?;
        let reply = match self.xreadgroup(group, consumer, count).await {
            Err(error) if is_code(&error, "NOGROUP") => {
                // The group vanished (server restarted without persistence): recreate it.
                self.groups
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(group);
                self.ensure_group(group).await?;
                self.xreadgroup(group, consumer, count).await
            }
            other => other,
        }
        .map_err(unavailable)?;
        let entries: Vec<StreamId> = reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .collect();
        decode_all(&entries)
    }

    /// `XACK`.
    pub(super) async fn ack(&self, group: &str, seqs: &[Seq]) -> Result<(), BusError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = seqs.iter().copied().map(stream_id).collect();
        let _acked: u64 = cmd("XACK")
            .arg(&self.events_key)
            .arg(group)
            .arg(ids)
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// `XAUTOCLAIM` from the oldest pending entry until `count` are claimed or the pending
    /// list is scanned; then, short of `count`, the events of consumers that are gone
    /// (`Inner::claim_from_dead`).
    pub(super) async fn claim(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Envelope>, BusError> {
        self.note_consumer(consumer).await?;
        let min_idle_ms = u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX);
        let mut claimed = Vec::new();
        let mut start = "0-0".to_owned();
        while claimed.len() < count {
            let reply: Result<StreamAutoClaimReply, RedisError> = cmd("XAUTOCLAIM")
                .arg(&self.events_key)
                .arg(group)
                .arg(consumer)
                .arg(min_idle_ms)
                .arg(&start)
                .arg("COUNT")
                .arg(count - claimed.len())
                .query_async(&mut self.con())
                .await;
            let reply = match reply {
                Ok(reply) => reply,
                Err(error) if is_code(&error, "NOGROUP") => break,
                Err(error) => return Err(unavailable(error)),
            };
            claimed.extend(decode_all(&reply.claimed)?);
            if reply.next_stream_id == "0-0" {
                break;
            }
            start = reply.next_stream_id;
        }
        let short = count.saturating_sub(claimed.len());
        claimed.extend(self.claim_from_dead(group, consumer, short).await?);
        if !claimed.is_empty() {
            let count = claimed.len();
            tracing::info!(group, consumer, count, "bus: claimed stale pending events");
        }
        Ok(claimed)
    }

    /// `XPENDING` summary count; 0 for an unknown group.
    pub(super) async fn pending(&self, group: &str) -> Result<u64, BusError> {
        let reply: Result<StreamPendingReply, RedisError> = cmd("XPENDING")
            .arg(&self.events_key)
            .arg(group)
            .query_async(&mut self.con())
            .await;
        match reply {
            Ok(reply) => Ok(u64::try_from(reply.count()).unwrap_or(u64::MAX)),
            Err(error) if is_code(&error, "NOGROUP") => Ok(0),
            Err(error) => Err(unavailable(error)),
        }
    }
}
