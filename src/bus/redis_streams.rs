//! Redis Streams event log: the distributed backend of [`EventLog`], for several bridge
//! instances sharing one bus.
//!
//! # Keys (all under `{<namespace>}:`, one hash slot)
//! - `seq`: the seq counter (INCR); `events`: the stream, entry ids `<seq>-0` (so seqs are
//!   plain `u64` as on SQLite), fields `env` (envelope JSON without `seq`) and `conv`;
//! - `conv:<conversation id>`: sorted set of that conversation's seqs, so
//!   [`EventLog::read_conversation`] does not scan the stream;
//! - `dedup:<channel>`: hash from dedup key to the original seq; `dedupat:<channel>`: sorted
//!   set of the same keys scored by their time, and `dedupch`: the channels having them;
//! - `times`: sorted set of seqs (each append call's last one) scored by append time (ms), and
//!   `bytes`: the total size of the stored envelopes, both for retention
//!   ([`EventLog::trim`]: `XTRIM MINID`, never past an entry a consumer group has not acked
//!   before the hard limit).
//!
//! One Lua script per [`EventLog::append`] call checks the dedup key, INCRs the counter,
//! XADDs and records the key atomically, so concurrent redeliveries produce one event.
//! Consumer groups are native: `XGROUP CREATE ... 0 MKSTREAM`, `XREADGROUP >`, `XACK`,
//! `XAUTOCLAIM`, `XPENDING`; `alive:<consumer>` keys (renewed while a process runs) let the
//! others take over a killed process's pending events within seconds (see `liveness`). [`EventLog::watch_head`] is fed by a background task blocked in
//! `XREAD` on the events stream, so another instance's append moves it at once (and at least
//! every [`POLL_INTERVAL`]); it ends when the bus is dropped.
//!
//! # Durability
//! "Durable" means what the server's persistence gives when the script returns: with
//! `appendonly yes` and `appendfsync always` an acknowledged append is on disk; with
//! `appendfsync everysec` up to about a second of appends can be lost on a power loss or OS
//! crash; without AOF everything since the last RDB snapshot is lost on restart. Replication
//! is asynchronous, so a failover can also lose acknowledged appends. Operators choose this in
//! the Redis configuration.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use omnibridge_sdk::{ConversationId, Envelope};
use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamRangeReply};
use redis::{RedisError, cmd};
use tokio::sync::watch;

use super::{Appended, BusError, EventLog, LogTrim, LogTrimmed, NewEvent, Seq};

mod groups;
mod liveness;
mod scripts;
mod trim;

pub use liveness::ALIVE_TTL;

/// How long the head follower's blocking `XREAD` waits for another instance's append before
/// it re-reads the seq counter anyway (and checks that the bus still exists).
pub const POLL_INTERVAL: Duration = Duration::from_millis(1000);

/// How long the follower waits before reconnecting after Redis failed.
const FOLLOW_RETRY: Duration = Duration::from_millis(250);

/// The Redis Streams event log. Cheap to clone.
#[derive(Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

struct Inner {
    con: ConnectionManager,
    prefix: String,
    seq_key: String,
    events_key: String,
    head: watch::Sender<Seq>,
    groups: Mutex<HashSet<String>>,
    liveness: liveness::Liveness,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(error: RedisError) -> BusError {
    BusError::Unavailable(error.to_string())
}

fn is_code(error: &RedisError, code: &str) -> bool {
    error.code() == Some(code)
}

impl RedisBus {
    /// The sorted set indexing one conversation's seqs.
    fn conversation_key(&self, conversation: &ConversationId) -> String {
        format!("{}:conv:{}", self.inner.prefix, conversation.as_str())
    }

    /// Connects to `url` (`redis://host:port/db`) and uses keys under `{namespace}:`. Starts
    /// the head poller, so it must be called inside a tokio runtime.
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, BusError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let con = client.get_connection_manager().await.map_err(unavailable)?;
        let prefix = format!("{{{namespace}}}");
        let inner = Arc::new(Inner {
            con,
            seq_key: format!("{prefix}:seq"),
            events_key: format!("{prefix}:events"),
            prefix,
            head: watch::Sender::new(0),
            groups: Mutex::new(HashSet::new()),
            liveness: liveness::Liveness::default(),
        });
        let head = inner.read_head().await?;
        inner.advance(head);
        spawn_follower(client, Arc::downgrade(&inner));
        liveness::spawn_heartbeat(Arc::downgrade(&inner));
        tracing::info!(namespace, "redis bus connected");
        Ok(Self { inner })
    }
}

/// Moves the head watch when any instance appends: a blocking `XREAD` on the events stream
/// (its own connection, so no other command waits behind it) returns as soon as an entry newer
/// than the head is added, then the seq counter is read. Every [`POLL_INTERVAL`] without news
/// it reads the counter anyway. Holds the bus only weakly: it stops once the bus is dropped.
fn spawn_follower(client: redis::Client, weak: Weak<Inner>) {
    tokio::spawn(async move {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(POLL_INTERVAL)
            .set_response_timeout(POLL_INTERVAL * 3);
        let block_ms = u64::try_from(POLL_INTERVAL.as_millis()).unwrap_or(1000);
        let mut follower: Option<redis::aio::MultiplexedConnection> = None;
        while let Some((last, events_key)) = weak
            .upgrade()
            .map(|inner| (*inner.head.borrow(), inner.events_key.clone()))
        {
            let con = match &mut follower {
                Some(con) => con,
                None => match client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                {
                    Ok(con) => follower.insert(con),
                    Err(error) => {
                        tracing::warn!(%error, "redis bus: head follower cannot connect");
                        tokio::time::sleep(FOLLOW_RETRY).await;
                        continue;
                    }
                },
            };
            let news: Result<redis::Value, RedisError> = cmd("XREAD")
                .arg("BLOCK")
                .arg(block_ms)
                .arg("COUNT")
                .arg(1)
                .arg("STREAMS")
                .arg(&events_key)
                .arg(format!("{last}-0"))
                .query_async(con)
                .await;
            if let Err(error) = news {
                tracing::warn!(%error, "redis bus: head follower read failed; reconnecting");
                follower = None;
                tokio::time::sleep(FOLLOW_RETRY).await;
            }
            let Some(inner) = weak.upgrade() else { break };
            match inner.read_head().await {
                Ok(seq) => inner.advance(seq),
                Err(error) => tracing::warn!(%error, "redis bus: head read failed"),
            }
        }
        tracing::debug!("redis bus: head follower stopped");
    });
}

impl Inner {
    fn con(&self) -> ConnectionManager {
        self.con.clone()
    }

    fn advance(&self, seq: Seq) {
        self.head.send_if_modified(|head| {
            let moved = seq > *head;
            if moved {
                *head = seq;
            }
            moved
        });
    }

    async fn read_head(&self) -> Result<Seq, BusError> {
        let head: Option<Seq> = cmd("GET")
            .arg(&self.seq_key)
            .query_async(&mut self.con())
            .await
            .map_err(unavailable)?;
        Ok(head.unwrap_or(0))
    }
}

fn stream_id(seq: Seq) -> String {
    format!("{seq}-0")
}

/// Decodes one stream entry into its envelope, stamping the seq from the entry id.
fn decode(entry: &StreamId) -> Result<Envelope, BusError> {
    let seq = entry
        .id
        .split_once('-')
        .and_then(|(seq, _)| seq.parse::<Seq>().ok())
        .ok_or_else(|| BusError::Corrupt {
            seq: 0,
            reason: format!("bad entry id {}", entry.id),
        })?;
    let json: String = entry.get("env").ok_or_else(|| BusError::Corrupt {
        seq,
        reason: "entry without envelope".to_owned(),
    })?;
    decode_json(seq, &json)
}

fn decode_json(seq: Seq, json: &str) -> Result<Envelope, BusError> {
    let mut envelope: Envelope = serde_json::from_str(json).map_err(|e| BusError::Corrupt {
        seq,
        reason: e.to_string(),
    })?;
    envelope.seq = Some(seq);
    Ok(envelope)
}

fn decode_all(entries: &[StreamId]) -> Result<Vec<Envelope>, BusError> {
    entries.iter().map(decode).collect()
}

/// Envelopes from a conversation script's flat `seq, envelope, …` answer.
fn decode_pairs(flat: &[String]) -> Result<Vec<Envelope>, BusError> {
    flat.chunks_exact(2)
        .map(|pair| {
            let seq = pair[0].parse::<Seq>().map_err(|e| BusError::Corrupt {
                seq: 0,
                reason: format!("bad seq in conversation index: {e}"),
            })?;
            decode_json(seq, &pair[1])
        })
        .collect()
}

#[async_trait::async_trait]
impl EventLog for RedisBus {
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, BusError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = scripts::APPEND.prepare_invoke();
        invocation
            .arg(&self.inner.prefix)
            .arg(chrono::Utc::now().timestamp_millis());
        for NewEvent {
            mut envelope,
            dedup_key,
        } in events
        {
            envelope.seq = None;
            let json = serde_json::to_string(&envelope).map_err(|e| BusError::Corrupt {
                seq: 0,
                reason: e.to_string(),
            })?;
            invocation
                .arg(envelope.channel.as_str())
                .arg(if dedup_key.is_some() { "1" } else { "0" })
                .arg(dedup_key.as_deref().unwrap_or(""))
                .arg(envelope.conversation_id.as_str())
                .arg(json);
        }
        let flat: Vec<u64> = invocation
            .invoke_async(&mut self.inner.con())
            .await
            .map_err(unavailable)?;
        let appended: Vec<Appended> = flat
            .chunks_exact(2)
            .map(|pair| Appended {
                seq: pair[0],
                duplicate: pair[1] == 1,
            })
            .collect();
        if let Some(max) = appended.iter().map(|a| a.seq).max() {
            self.inner.advance(max);
        }
        Ok(appended)
    }

    async fn read_after(&self, after: Seq, limit: usize) -> Result<Vec<Envelope>, BusError> {
        if limit == 0 || after == Seq::MAX {
            return Ok(Vec::new());
        }
        let reply: StreamRangeReply = cmd("XRANGE")
            .arg(&self.inner.events_key)
            .arg(stream_id(after + 1))
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut self.inner.con())
            .await
            .map_err(unavailable)?;
        decode_all(&reply.ids)
    }

    async fn read_conversation_latest(
        &self,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Vec<Envelope>, BusError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let flat: Vec<String> = scripts::READ_CONVERSATION_LATEST
            .key(self.conversation_key(conversation))
            .key(&self.inner.events_key)
            .arg(limit)
            .invoke_async(&mut self.inner.con())
            .await
            .map_err(unavailable)?;
        let mut events = decode_pairs(&flat)?;
        events.reverse();
        Ok(events)
    }

    async fn read_conversation(
        &self,
        conversation: &ConversationId,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Envelope>, BusError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let flat: Vec<String> = scripts::READ_CONVERSATION
            .key(self.conversation_key(conversation))
            .key(&self.inner.events_key)
            .arg(after)
            .arg(limit)
            .invoke_async(&mut self.inner.con())
            .await
            .map_err(unavailable)?;
        decode_pairs(&flat)
    }

    async fn head(&self) -> Result<Seq, BusError> {
        let head = self.inner.read_head().await?;
        self.inner.advance(head);
        Ok(head)
    }

    fn watch_head(&self) -> watch::Receiver<Seq> {
        self.inner.head.subscribe()
    }

    async fn group_read(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Envelope>, BusError> {
        self.inner.read_group(group, consumer, count).await
    }

    async fn group_ack(&self, group: &str, seqs: &[Seq]) -> Result<(), BusError> {
        self.inner.ack(group, seqs).await
    }

    async fn claim_stale(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Envelope>, BusError> {
        self.inner.claim(group, consumer, min_idle, count).await
    }

    async fn pending_count(&self, group: &str) -> Result<u64, BusError> {
        self.inner.pending(group).await
    }

    async fn trim(&self, trim: LogTrim) -> Result<LogTrimmed, BusError> {
        self.inner.trim(trim).await
    }

    async fn ping(&self) -> Result<(), BusError> {
        let _pong: String = cmd("PING")
            .query_async(&mut self.inner.con())
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
