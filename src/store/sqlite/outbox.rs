//! The outbox on SQLite. A lease is `lease_until`: a pending record is due when
//! `due_at <= now` and its lease is unset or has run out. Leasing is one
//! `UPDATE ... WHERE <due and lease expired> RETURNING` in the writer transaction, so two
//! workers (or two processes sharing the file, which serialise on the write lock) never hold
//! the same record at once.

use std::time::Duration;

use omnibridge_sdk::{ConversationId, OutboundId, Timestamp};
use rusqlite::{OptionalExtension, Row, params};

use super::{json_from_sql, json_to_sql, time_from_sql, time_to_sql};
use crate::sqlite::{Database, DbError};
use crate::store::{OutboxOutcome, OutboxRecord, OutboxState, StoreError};

const COLUMNS: &str = "id, conversation_id, message, attempts, state, last_error, created_at";

type RecordRow = (String, String, String, u32, String, Option<String>, i64);

fn record_row(r: &Row<'_>) -> rusqlite::Result<RecordRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn record_from_row(row: RecordRow) -> Result<OutboxRecord, DbError> {
    let (id, conversation_id, message, attempts, state, last_error, created_at) = row;
    Ok(OutboxRecord {
        id: OutboundId::new(id),
        conversation_id: ConversationId::new(conversation_id),
        message: json_from_sql(&message)?,
        attempts,
        state: state_from_sql(&state)?,
        last_error,
        created_at: time_from_sql(created_at),
    })
}

pub(in crate::store) fn state_to_sql(state: OutboxState) -> &'static str {
    match state {
        OutboxState::Pending => "pending",
        OutboxState::Sent => "sent",
        OutboxState::Dead => "dead",
    }
}

pub(in crate::store) fn state_from_sql(state: &str) -> Result<OutboxState, DbError> {
    match state {
        "pending" => Ok(OutboxState::Pending),
        "sent" => Ok(OutboxState::Sent),
        "dead" => Ok(OutboxState::Dead),
        other => Err(DbError::Corrupt(format!("unknown outbox state {other:?}"))),
    }
}

/// Stores `record`, due at its `created_at`. Enqueueing an id that already exists does
/// nothing (the first record wins).
pub(super) async fn enqueue(db: &Database, record: &OutboxRecord) -> Result<(), StoreError> {
    let row = OutboxRow::of(record)?;
    db.write(move |conn| row.insert(conn)).await?;
    Ok(())
}

/// An outbox record ready for the writer thread (serialised off it).
#[derive(Debug)]
pub(super) struct OutboxRow {
    id: String,
    conversation_id: String,
    message: String,
    attempts: u32,
    state: &'static str,
    last_error: Option<String>,
    created_at: i64,
}

impl OutboxRow {
    /// Serialises `record`.
    pub(super) fn of(record: &OutboxRecord) -> Result<Self, DbError> {
        Ok(Self {
            id: record.id.as_str().to_owned(),
            conversation_id: record.conversation_id.as_str().to_owned(),
            message: json_to_sql(&record.message)?,
            attempts: record.attempts,
            state: state_to_sql(record.state),
            last_error: record.last_error.clone(),
            created_at: time_to_sql(record.created_at)?,
        })
    }

    /// Inserts the record (due now, not leased) in the caller's write; an id already queued
    /// is left as it is.
    pub(super) fn insert(&self, conn: &rusqlite::Connection) -> Result<(), DbError> {
        conn.prepare_cached(
            "INSERT INTO outbox (id, conversation_id, message, attempts, state, last_error, \
             created_at, due_at, lease_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, NULL) \
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            self.id,
            self.conversation_id,
            self.message,
            self.attempts,
            self.state,
            self.last_error,
            self.created_at
        ])?;
        Ok(())
    }
}

/// Leases up to `limit` due records until `now + lease`, oldest due first.
pub(super) async fn lease_due(
    db: &Database,
    now: Timestamp,
    lease: Duration,
    limit: usize,
) -> Result<Vec<OutboxRecord>, StoreError> {
    let now_ns = time_to_sql(now)?;
    let lease_ns = i64::try_from(lease.as_nanos()).unwrap_or(i64::MAX);
    let until = now_ns.saturating_add(lease_ns);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = db
        .write(move |conn| {
            let sql = format!(
                "UPDATE outbox SET lease_until = ?1 WHERE id IN (\
                   SELECT id FROM outbox WHERE state = 'pending' AND due_at <= ?2 \
                   AND (lease_until IS NULL OR lease_until <= ?2) \
                   ORDER BY due_at, id LIMIT ?3) \
                 RETURNING {COLUMNS}, due_at"
            );
            let mut rows = conn
                .prepare_cached(&sql)?
                .query_map(params![until, now_ns, limit], |r| {
                    Ok((record_row(r)?, r.get(7)?))
                })?
                .collect::<Result<Vec<(RecordRow, i64)>, _>>()?;
            rows.sort_by(|a, b| (a.1, &a.0.0).cmp(&(b.1, &b.0.0)));
            Ok(rows)
        })
        .await?;
    // Decoded here, not on the writer thread (the messages' JSON is the bulk of a row).
    Ok(rows
        .into_iter()
        .map(|(row, _)| record_from_row(row))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Counts the attempt, releases the lease and records the outcome.
pub(super) async fn finish(
    db: &Database,
    id: &OutboundId,
    outcome: OutboxOutcome,
) -> Result<(), StoreError> {
    let id = id.as_str().to_owned();
    let (state, due, error) = match outcome {
        OutboxOutcome::Sent => (OutboxState::Sent, None, None),
        OutboxOutcome::Retry { at, error } => {
            (OutboxState::Pending, Some(time_to_sql(at)?), Some(error))
        }
        OutboxOutcome::Dead { error } => (OutboxState::Dead, None, Some(error)),
    };
    if state == OutboxState::Dead {
        tracing::warn!(outbound_id = %id, "outbox record dead");
    }
    let changed = db
        .write(move |conn| record_outcome(conn, &id, state, due, error))
        .await?;
    if changed == 0 {
        tracing::warn!("finish_outbound for an unknown outbox record");
    }
    Ok(())
}

/// Records that the outbox record `id`, leased and still pending, was sent, in the caller's
/// write; answers `false` (and changes nothing) when it is no longer pending: another worker
/// finished it after its lease ran out, so what its send produced is already recorded. The
/// compare-and-set that lets [`crate::ingest::OneSqliteTransaction`] append the record's own
/// events exactly once without de-duplication records.
pub fn finish_sent_once(conn: &rusqlite::Connection, id: &OutboundId) -> Result<bool, DbError> {
    let changed = conn
        .prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, lease_until = NULL, state = 'sent' \
             WHERE id = ?1 AND state = 'pending'",
        )?
        .execute([id.as_str()])?;
    if changed == 0 {
        tracing::warn!(outbound_id = %id, "a sent outbox record was no longer pending; its events are not appended again");
    }
    Ok(changed == 1)
}

/// The outcome's update; answers how many records it changed (0: unknown id).
fn record_outcome(
    conn: &rusqlite::Connection,
    id: &str,
    state: OutboxState,
    due: Option<i64>,
    error: Option<String>,
) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, lease_until = NULL, state = ?1, \
             due_at = coalesce(?2, due_at), last_error = coalesce(?3, last_error) \
             WHERE id = ?4",
        )?
        .execute(params![state_to_sql(state), due, error, id])?)
}

/// One record.
pub(super) async fn get(
    db: &Database,
    id: &OutboundId,
) -> Result<Option<OutboxRecord>, StoreError> {
    let id = id.as_str().to_owned();
    let found = db
        .read(move |conn| {
            let sql = format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1");
            let row = conn
                .prepare_cached(&sql)?
                .query_row([id], record_row)
                .optional()?;
            row.map(record_from_row).transpose()
        })
        .await?;
    Ok(found)
}

/// Records still pending.
pub(super) async fn depth(db: &Database) -> Result<u64, StoreError> {
    let count: i64 = db
        .read(|conn| {
            Ok(conn
                .prepare_cached("SELECT count(*) FROM outbox WHERE state = 'pending'")?
                .query_row([], |r| r.get(0))?)
        })
        .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}
