//! Appending on the writer thread: dedup check, event insert and dedup record in the same
//! transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::seq_from_sql;
use crate::bus::Appended;
use crate::sqlite::{DbError, now_millis};

/// One event ready for the writer thread.
pub(super) struct Row {
    pub(super) channel: String,
    pub(super) conversation_id: String,
    pub(super) dedup_key: Option<String>,
    pub(super) json: String,
}

/// Inserts `rows` in order inside the writer transaction, answering duplicates with the
/// original's seq (also for duplicates within `rows`).
pub(super) fn insert(conn: &Connection, rows: Vec<Row>) -> Result<Vec<Appended>, DbError> {
    let mut find =
        conn.prepare_cached("SELECT seq FROM bus_dedup WHERE channel = ?1 AND dedup_key = ?2")?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO bus_events (conversation_id, channel, envelope, appended_at, bytes) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
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
            bytes
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
        conn.prepare_cached("UPDATE bus_stats SET bytes = bytes + ?1 WHERE id = 1")?
            .execute([added_bytes])?;
    }
    Ok(out)
}
