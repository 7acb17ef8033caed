//! The durable event bus: an append-only log of [`Envelope`]s with strictly increasing
//! sequence numbers, de-duplication on (channel, dedup key), consumer groups with
//! at-least-once delivery, and a wake-up for live readers.
//!
//! Two backends implement [`EventLog`], chosen by config: [`sqlite::SqliteBus`] (embedded
//! default, one WAL file, single writer with group commit) and
//! [`redis_streams::RedisBus`] (Redis Streams, for several bridge instances). The same suite
//! (`tests/bus_suite.rs`) runs against both.

use std::time::Duration;

use omnibridge_sdk::{ConversationId, Envelope};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub mod redis_streams;
pub mod sqlite;

/// A position on the bus. `0` means "before the first event".
pub type Seq = u64;

/// One event to append.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// The stamped envelope (`seq` is ignored: the bus assigns it).
    pub envelope: Envelope,
    /// De-duplication key, scoped to `envelope.channel`; `None` never de-duplicates.
    pub dedup_key: Option<String>,
}

/// What happened to one appended event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The event's position (for a duplicate: the position of the original).
    pub seq: Seq,
    /// Whether an event with the same (channel, dedup key) was already on the bus; nothing new
    /// was written.
    pub duplicate: bool,
}

/// What [`EventLog::trim`] may remove. Times are milliseconds since the Unix epoch by the
/// bridge's wall clock (the bus stamps each append with it); "before" is strict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogTrim {
    /// Events appended before this are removed once every consumer group has acked them.
    pub events_before_ms: i64,
    /// Events appended before this are removed even if a consumer group has not acked (or
    /// not read) them: the hard limit.
    pub unacked_before_ms: i64,
    /// Size budget of the log (sum of stored envelope sizes): the oldest acked events beyond
    /// it are removed. `None`: no budget.
    pub max_log_bytes: Option<u64>,
    /// De-duplication records made before this are removed (a redelivery after that is a
    /// new event).
    pub dedup_before_ms: i64,
}

/// What one [`EventLog::trim`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogTrimmed {
    /// Events removed from the log.
    pub events: u64,
    /// De-duplication records removed.
    pub dedup: u64,
}

/// Errors of the bus.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The backend could not be reached or refused the operation.
    #[error("bus backend unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded.
    #[error("corrupt record at seq {seq}: {reason}")]
    Corrupt {
        /// Where.
        seq: Seq,
        /// What was wrong.
        reason: String,
    },
    /// The bus is closed (shutting down).
    #[error("bus is closed")]
    Closed,
}

/// What [`EventLog::group_read_of`] handed to a consumer.
#[derive(Debug, Default)]
pub struct GroupRead {
    /// The events of the wanted types, pending until acked.
    pub events: Vec<Envelope>,
    /// How many events the group moved past, wanted or not (at most the count asked for).
    pub read: usize,
}

/// A durable, ordered, de-duplicating event log with consumer groups.
///
/// Contract (checked by `tests/bus_suite.rs` for every backend):
/// - `append` returns only after the events are durable; within one call and across calls,
///   seqs strictly increase in append order, so per-conversation order is append order;
/// - at most one event per (channel, dedup key) is ever written, also under concurrent appends
///   from many tasks or processes; a duplicate returns the original's seq;
/// - `read_after` returns events with `seq > after` in order, each carrying its `seq`;
/// - a consumer group delivers every event to one of its consumers at least once: events read
///   but not acked stay pending, and `claim_stale` hands those idle longer than `min_idle` to
///   another consumer;
/// - `trim` removes only what its [`LogTrim`] allows, oldest first.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends events durably, in order, de-duplicating. One result per input, same order.
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, BusError>;

    /// Up to `limit` events with `seq > after`, oldest first.
    async fn read_after(&self, after: Seq, limit: usize) -> Result<Vec<Envelope>, BusError>;

    /// Up to `limit` events of one conversation with `seq > after`, oldest first.
    async fn read_conversation(
        &self,
        conversation: &ConversationId,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Envelope>, BusError>;

    /// The newest `limit` events of one conversation, oldest first (a transcript's tail).
    async fn read_conversation_latest(
        &self,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Vec<Envelope>, BusError>;

    /// The seq of the newest event (0 when empty).
    async fn head(&self) -> Result<Seq, BusError>;

    /// A receiver whose value moves to the newest known seq when events are appended through
    /// this instance (and, for shared backends, by polling for other instances' appends).
    fn watch_head(&self) -> watch::Receiver<Seq>;

    /// Told that this process appended events up to `seq` to the log's storage without
    /// [`EventLog::append`] (the SQLite store appends `payment.*` events in the same
    /// transaction as the intent's move), so the head moves now rather than at the next poll.
    /// Backends whose storage the store cannot write ignore it.
    fn note_appended(&self, _seq: Seq) {}

    /// Reads up to `count` new events for `consumer` in `group` (creating the group at the
    /// start of the log if needed). They stay pending until acked.
    async fn group_read(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Envelope>, BusError>;

    /// [`EventLog::group_read`] for a consumer that handles only the event types `wanted`:
    /// events of other types are done with at once (acked; the SQLite log never records them
    /// as pending) and not returned. [`GroupRead::read`] counts every event the group moved
    /// past, so a caller can tell a full batch from the end of the log.
    async fn group_read_of(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        wanted: &'static [&'static str],
    ) -> Result<GroupRead, BusError> {
        let events = self.group_read(group, consumer, count).await?;
        let read = events.len();
        let (events, other): (Vec<Envelope>, Vec<Envelope>) = events
            .into_iter()
            .partition(|event| wanted.contains(&event.event_type()));
        let done: Vec<Seq> = other.iter().filter_map(|event| event.seq).collect();
        self.group_ack(group, &done).await?;
        Ok(GroupRead { events, read })
    }

    /// Acknowledges handled events so they are never delivered again.
    async fn group_ack(&self, group: &str, seqs: &[Seq]) -> Result<(), BusError>;

    /// Takes over up to `count` events pending longer than `min_idle` in `group`, for
    /// `consumer`, oldest first (a crashed consumer's leftovers).
    async fn claim_stale(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Envelope>, BusError>;

    /// Events pending (read, not acked) in `group`.
    async fn pending_count(&self, group: &str) -> Result<u64, BusError>;

    /// Applies retention: removes the oldest events `trim` allows (never one a consumer group
    /// has not acked, unless it is past the hard limit; their pending entries go with them)
    /// and old de-dup records. The head never moves back.
    async fn trim(&self, trim: LogTrim) -> Result<LogTrimmed, BusError>;

    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> Result<(), BusError>;
}

/// How long a background consumer group (the media worker, the wallet) lets new events
/// gather before it reads again after a partial batch. On the SQLite bus each group read
/// (pending entries) and each ack is a durable commit of its own: reading after every append
/// added two commits, each with its fsync, beside every webhook's one. Gathering for a few
/// milliseconds makes one read and one ack per many appends. Consumers whose delay a person
/// or a business sees at once (SSE streams, the web-chat hub, MCP waits) do not linger.
pub const GROUP_LINGER: Duration = Duration::from_millis(10);

/// After a group step that read `read` events of at most `batch`: waits [`GROUP_LINGER`]
/// (or until `stop`) unless the batch was full, i.e. there is a backlog to read at once.
pub async fn linger_after(read: usize, batch: usize, stop: &CancellationToken) {
    if read < batch {
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(GROUP_LINGER) => {}
        }
    }
}

/// Waits until `head` moves; if its sender is gone (the bus was dropped), waits forever so
/// callers' `select!` falls through to their other branches instead of spinning.
pub async fn head_moved(head: &mut watch::Receiver<Seq>) {
    if head.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_partial_batch_lingers_and_a_full_one_or_a_stop_does_not() {
        let stop = CancellationToken::new();
        assert!(
            linger_after(32, 32, &stop).now_or_never().is_some(),
            "a full batch: a backlog, read on at once"
        );
        assert!(
            linger_after(3, 32, &stop).now_or_never().is_none(),
            "a partial batch waits for more events"
        );
        let began = tokio::time::Instant::now();
        linger_after(0, 32, &stop).await;
        assert!(began.elapsed() >= GROUP_LINGER);
        stop.cancel();
        assert!(
            linger_after(3, 32, &stop).now_or_never().is_some(),
            "stopping ends the wait"
        );
    }
}
