//! Appending on the writer thread: dedup check, event insert and dedup record in the same
//! transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::seq_from_sql;
use crate::bus::{Appended, BusError, NewEvent};
use crate::sqlite::{DbError, deferred, now_millis};

/// One event ready for the writer thread (serialised off it, by [`Row::of`]).
#[derive(Debug)]
pub(crate) struct Row {
    pub(super) channel: String,
    pub(super) conversation_id: String,
    pub(super) dedup_key: Option<String>,
    pub(super) event_type: &'static str,
    pub(super) json: String,
}

impl Row {
    /// Serialises one event for [`insert`] (its `seq` is dropped: the bus assigns it).
    pub(crate) fn of(event: &NewEvent) -> Result<Row, BusError> {
        let json = if event.envelope.seq.is_some() {
            let mut envelope = event.envelope.clone();
            envelope.seq = None;
            serde_json::to_string(&envelope)
        } else {
            serde_json::to_string(&event.envelope)
        }
        .map_err(|e| BusError::Corrupt {
            seq: 0,
            reason: e.to_string(),
        })?;
        Ok(Row {
            channel: event.envelope.channel.as_str().to_owned(),
            conversation_id: event.envelope.conversation_id.as_str().to_owned(),
            dedup_key: event.dedup_key.clone(),
            event_type: event.envelope.event_type(),
            json,
        })
    }
}

/// Inserts `rows` in order inside the writer transaction, answering duplicates with the
/// original's seq (also for duplicates within `rows`). The store calls it too, to append
/// `payment.*` events in the same transaction as the intent's move.
pub(crate) fn insert(conn: &Connection, rows: Vec<Row>) -> Result<Vec<Appended>, DbError> {
    let mut find =
        conn.prepare_cached("SELECT seq FROM bus_dedup WHERE channel = ?1 AND dedup_key = ?2")?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO bus_events (conversation_id, channel, envelope, appended_at, bytes, \
         event_type) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut remember = conn.prepare_cached(
        "INSERT INTO bus_dedup (channel, dedup_key, seq, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let now = now_millis();
    let mut added_bytes: i64 = 0;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(key) = &row.dedup_key {
            let original: Option<i64> = find
                .query_row(params![row.channel, key], |r| r.get(0))
                .optional()?;
            if let Some(seq) = original {
                out.push(Appended {
                    seq: seq_from_sql(seq),
                    duplicate: true,
                });
                continue;
            }
        }
        let bytes = i64::try_from(row.json.len()).unwrap_or(i64::MAX);
        insert.execute(params![
            row.conversation_id,
            row.channel,
            row.json,
            now,
            bytes,
            row.event_type
        ])?;
        added_bytes = added_bytes.saturating_add(bytes);
        let seq = conn.last_insert_rowid();
        if let Some(key) = &row.dedup_key {
            remember.execute(params![row.channel, key, seq, now])?;
        }
        out.push(Appended {
            seq: seq_from_sql(seq),
            duplicate: false,
        });
    }
    if added_bytes > 0 {
        deferred::defer(conn, "", LogBytes(added_bytes))?;
    }
    Ok(out)
}

/// Bytes added to the log (`bus_stats`), counted once per transaction.
struct LogBytes(i64);

impl deferred::Merge for LogBytes {
    fn merge(&mut self, later: Self) {
        self.0 = self.0.saturating_add(later.0);
    }

    fn write(&self, conn: &Connection) -> Result<(), DbError> {
        conn.prepare_cached("UPDATE bus_stats SET bytes = bytes + ?1 WHERE id = 1")?
            .execute([self.0])?;
        Ok(())
    }
}
