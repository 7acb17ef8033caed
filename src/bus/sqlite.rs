//! SQLite event log: the embedded default backend of [`EventLog`].
//!
//! Events live in `bus_events` (`seq INTEGER PRIMARY KEY AUTOINCREMENT`, indexed by
//! conversation). An event with a dedup key also gets a row in `bus_dedup`
//! (`UNIQUE(channel, dedup_key)`) in the same transaction, on the single writer thread of the
//! shared [`Database`], so concurrent redeliveries (also from other processes, which
//! serialise on the file's write lock) produce exactly one event. Appends return after
//! COMMIT, with the fsync policy chosen by the database's [`crate::sqlite::Durability`].
//!
//! Consumer groups mirror Redis Streams: `bus_groups` holds each group's cursor (the last seq
//! handed out) and `bus_pending` the delivered-but-unacked entries with their consumer,
//! delivery time and delivery count (see the `groups` submodule).
//!
//! [`EventLog::watch_head`] moves right after each local commit; a background task also
//! polls the head every [`POLL_INTERVAL`] to notice other processes' appends. It stops when
//! the bus is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use omnibridge_sdk::{ConversationId, Envelope};
use rusqlite::{Connection, params};
use tokio::sync::watch;

use super::{Appended, BusError, EventLog, GroupRead, LogTrim, LogTrimmed, NewEvent, Seq};
use crate::sqlite::{Database, DbError};

mod append;
mod groups;
mod trim;

pub(crate) use append::{Row, insert as insert_rows};

/// How often the head is re-read to notice appends by other processes.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// A reader at most this many events behind the known head (a live SSE stream, the web-chat
/// hub) reads them on its own task ([`Database::read_point`]): a handful of rows by primary
/// key, cheaper than the two thread hand-offs of a blocking read.
const NEAR_HEAD: Seq = 16;

/// The SQLite event log. Cheap to clone; clones share the head watch.
#[derive(Clone, Debug)]
pub struct SqliteBus {
    inner: Arc<BusInner>,
}

#[derive(Debug)]
struct BusInner {
    db: Database,
    head: watch::Sender<Seq>,
}

impl BusInner {
    fn advance(&self, seq: Seq) {
        self.head.send_if_modified(|head| {
            let moved = seq > *head;
            if moved {
                *head = seq;
            }
            moved
        });
    }
}

impl SqliteBus {
    /// An event log on `db`; reads the current head and starts the head poller (so it must be
    /// called inside a tokio runtime).
    pub async fn new(db: Database) -> Result<Self, BusError> {
        let head = db.read(read_head).await?;
        let inner = Arc::new(BusInner {
            db,
            head: watch::Sender::new(head),
        });
        spawn_poller(Arc::downgrade(&inner));
        Ok(Self { inner })
    }

    /// The database this log lives in.
    pub fn database(&self) -> &Database {
        &self.inner.db
    }
}

fn spawn_poller(weak: Weak<BusInner>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { break };
            match inner.db.read(read_head).await {
                Ok(seq) => inner.advance(seq),
                Err(error) => tracing::warn!(%error, "sqlite bus: head poll failed"),
            }
        }
        tracing::debug!("sqlite bus: head poller stopped");
    });
}

impl From<DbError> for BusError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Closed => Self::Closed,
            DbError::Corrupt(reason) => Self::Corrupt { seq: 0, reason },
            DbError::Sqlite(reason) => Self::Unavailable(reason),
        }
    }
}

/// The newest seq ever handed out: retention may have removed it, but `AUTOINCREMENT`
/// remembers it in `sqlite_sequence`, so the head never moves back.
fn read_head(conn: &Connection) -> Result<Seq, DbError> {
    let head: i64 = conn.query_row(
        "SELECT max(coalesce((SELECT max(seq) FROM bus_events), 0), \
         coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'bus_events'), 0))",
        [],
        |row| row.get(0),
    )?;
    Ok(seq_from_sql(head))
}

/// A seq as SQLite stores it (seqs never exceed `i64::MAX`; larger cursors clamp).
pub(super) fn seq_to_sql(seq: Seq) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

pub(super) fn seq_from_sql(seq: i64) -> Seq {
    Seq::try_from(seq).unwrap_or(0)
}

fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Decodes a stored envelope and stamps its seq.
fn decode((seq, json): (i64, String)) -> Result<Envelope, BusError> {
    let seq = seq_from_sql(seq);
    let mut envelope: Envelope = serde_json::from_str(&json).map_err(|e| BusError::Corrupt {
        seq,
        reason: e.to_string(),
    })?;
    envelope.seq = Some(seq);
    Ok(envelope)
}

fn decode_all(rows: Vec<(i64, String)>) -> Result<Vec<Envelope>, BusError> {
    rows.into_iter().map(decode).collect()
}

impl SqliteBus {
    /// Appends `events` like [`EventLog::append`], running `before` first inside the same
    /// write transaction: what `before` writes (the store's conversation records, which share
    /// this database) becomes durable in the same commit as the events, or not at all.
    pub async fn append_with<F>(
        &self,
        events: Vec<NewEvent>,
        before: F,
    ) -> Result<Vec<Appended>, BusError>
    where
        F: FnOnce(&Connection) -> Result<(), DbError> + Send + 'static,
    {
        let rows = events.iter().map(Row::of).collect::<Result<Vec<_>, _>>()?;
        let appended = self
            .inner
            .db
            .write(move |conn| {
                before(conn)?;
                append::insert(conn, rows)
            })
            .await?;
        if let Some(max) = appended.iter().map(|a| a.seq).max() {
            self.inner.advance(max);
        }
        Ok(appended)
    }
}

impl SqliteBus {
    /// Appends those of `events` that `choose` picks, in one write transaction with what
    /// `choose` writes: it runs first and answers, per event, whether to append it (`None`:
    /// none). The results are in the order of `events` (`None` for an event not appended).
    ///
    /// The events are appended **without de-duplication records**: `choose` guarantees that
    /// they are new, e.g. by a compare-and-set in the same transaction that only one write can
    /// win (an outbox record's move to sent, for the events of its send).
    pub async fn append_chosen<F>(
        &self,
        events: Vec<NewEvent>,
        choose: F,
    ) -> Result<Vec<Option<Appended>>, BusError>
    where
        F: FnOnce(&Connection) -> Result<Option<Vec<bool>>, DbError> + Send + 'static,
    {
        let rows = events
            .iter()
            .map(|event| {
                Row::of(event).map(|mut row| {
                    row.dedup_key = None;
                    row
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let appended = self
            .inner
            .db
            .write(move |conn| {
                let count = rows.len();
                let Some(keep) = choose(conn)? else {
                    return Ok((0..count).map(|_| None).collect());
                };
                let chosen = rows
                    .into_iter()
                    .zip(&keep)
                    .filter_map(|(row, keep)| keep.then_some(row))
                    .collect();
                let mut done = append::insert(conn, chosen)?.into_iter();
                Ok(keep
                    .iter()
                    .map(|keep| if *keep { done.next() } else { None })
                    .collect::<Vec<_>>())
            })
            .await?;
        if let Some(max) = appended.iter().flatten().map(|a| a.seq).max() {
            self.inner.advance(max);
        }
        Ok(appended)
    }
}

#[async_trait::async_trait]
impl EventLog for SqliteBus {
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, BusError> {
        self.append_with(events, |_| Ok(())).await
    }

    async fn read_after(&self, after: Seq, limit: usize) -> Result<Vec<Envelope>, BusError> {
        let read = move |conn: &Connection| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, envelope FROM bus_events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![seq_to_sql(after), limit_to_sql(limit)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        };
        let near_head = self.inner.head.borrow().saturating_sub(after) <= NEAR_HEAD;
        let rows = if near_head {
            self.inner.db.read_point(read).await?
        } else {
            self.inner.db.read(read).await?
        };
        decode_all(rows)
    }

    async fn read_conversation_latest(
        &self,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Vec<Envelope>, BusError> {
        let conversation = conversation.as_str().to_owned();
        let mut rows = self
            .inner
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT seq, envelope FROM bus_events WHERE conversation_id = ?1 \
                     ORDER BY seq DESC LIMIT ?2",
                )?;
                let rows = stmt
                    .query_map(params![conversation, limit_to_sql(limit)], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        rows.reverse();
        decode_all(rows)
    }

    async fn read_conversation(
        &self,
        conversation: &ConversationId,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Envelope>, BusError> {
        let conversation = conversation.as_str().to_owned();
        let rows = self
            .inner
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT seq, envelope FROM bus_events WHERE conversation_id = ?1 AND seq > ?2 \
                     ORDER BY seq LIMIT ?3",
                )?;
                let rows = stmt
                    .query_map(
                        params![conversation, seq_to_sql(after), limit_to_sql(limit)],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        decode_all(rows)
    }

    async fn head(&self) -> Result<Seq, BusError> {
        let head = self.inner.db.read_point(read_head).await?;
        self.inner.advance(head);
        Ok(head)
    }

    fn watch_head(&self) -> watch::Receiver<Seq> {
        self.inner.head.subscribe()
    }

    fn note_appended(&self, seq: Seq) {
        self.inner.advance(seq);
    }

    async fn group_read(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Envelope>, BusError> {
        let (group, consumer) = (group.to_owned(), consumer.to_owned());
        let rows = self
            .inner
            .db
            .write(move |conn| groups::read_new(conn, &group, &consumer, limit_to_sql(count)))
            .await?;
        decode_all(rows)
    }

    async fn group_read_of(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        wanted: &'static [&'static str],
    ) -> Result<GroupRead, BusError> {
        let (group, consumer) = (group.to_owned(), consumer.to_owned());
        let (rows, read) = self
            .inner
            .db
            .write(move |conn| {
                groups::read_new_of(conn, &group, &consumer, limit_to_sql(count), Some(wanted))
            })
            .await?;
        Ok(GroupRead {
            events: decode_all(rows)?,
            read,
        })
    }

    async fn group_ack(&self, group: &str, seqs: &[Seq]) -> Result<(), BusError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let group = group.to_owned();
        let seqs: Vec<i64> = seqs.iter().copied().map(seq_to_sql).collect();
        self.inner
            .db
            .write(move |conn| groups::ack(conn, &group, &seqs))
            .await?;
        Ok(())
    }

    async fn claim_stale(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Envelope>, BusError> {
        let (group, consumer) = (group.to_owned(), consumer.to_owned());
        let min_idle = i64::try_from(min_idle.as_millis()).unwrap_or(i64::MAX);
        let rows = self
            .inner
            .db
            .write(move |conn| {
                groups::claim(conn, &group, &consumer, min_idle, limit_to_sql(count))
            })
            .await?;
        decode_all(rows)
    }

    async fn pending_count(&self, group: &str) -> Result<u64, BusError> {
        let group = group.to_owned();
        let count = self
            .inner
            .db
            .read(move |conn| groups::pending(conn, &group))
            .await?;
        Ok(count)
    }

    async fn trim(&self, trim: LogTrim) -> Result<LogTrimmed, BusError> {
        let mut trimmed = LogTrimmed::default();
        loop {
            let (removed, more) = self
                .inner
                .db
                .write(move |conn| trim::events_step(conn, &trim))
                .await?;
            trimmed.events += removed;
            if !more {
                break;
            }
        }
        loop {
            let before = trim.dedup_before_ms;
            let (removed, more) = self
                .inner
                .db
                .write(move |conn| trim::dedup_step(conn, before))
                .await?;
            trimmed.dedup += removed;
            if !more {
                break;
            }
        }
        Ok(trimmed)
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.inner
            .db
            .read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await?;
        Ok(())
    }
}
