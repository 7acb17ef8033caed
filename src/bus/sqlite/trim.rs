//! Retention on the SQLite log: removing the oldest events (by age, or beyond the size
//! budget) that every consumer group has acked, unacked ones only past the hard limit, and
//! old de-dup records. Each step is one short write job of at most [`CHUNK`] rows, so
//! trimming never holds the writer for long.

use rusqlite::{Connection, params};

use crate::bus::LogTrim;
use crate::sqlite::DbError;

/// Rows looked at (events) or removed (de-dup records) per write job.
pub(super) const CHUNK: i64 = 2000;

/// Removes up to [`CHUNK`] of the oldest events `trim` allows, with their pending entries.
/// Answers how many were removed and whether there may be more.
pub(super) fn events_step(conn: &Connection, trim: &LogTrim) -> Result<(u64, bool), DbError> {
    // The oldest seq some group has not acked: its oldest pending entry or, for events it
    // has not read yet, the one after its cursor.
    let floor: Option<i64> = conn
        .prepare_cached(
            "SELECT min(s) FROM (SELECT cursor + 1 AS s FROM bus_groups \
             UNION ALL SELECT min(seq) FROM bus_pending)",
        )?
        .query_row([], |r| r.get(0))?;
    let floor = floor.unwrap_or(i64::MAX);
    let total: i64 = conn
        .prepare_cached("SELECT bytes FROM bus_stats WHERE id = 1")?
        .query_row([], |r| r.get(0))?;
    let budget = trim
        .max_log_bytes
        .map(|bytes| i64::try_from(bytes).unwrap_or(i64::MAX));
    let rows = conn
        .prepare_cached("SELECT seq, appended_at, bytes FROM bus_events ORDER BY seq LIMIT ?1")?
        .query_map([CHUNK], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let (mut last, mut removed, mut freed) = (None, 0_u64, 0_i64);
    for &(seq, appended_at, bytes) in &rows {
        let past_hard_limit = appended_at < trim.unacked_before_ms;
        let acked = seq < floor;
        let too_old = appended_at < trim.events_before_ms;
        let over_budget = budget.is_some_and(|budget| total - freed > budget);
        if !(past_hard_limit || (acked && (too_old || over_budget))) {
            break;
        }
        last = Some(seq);
        removed += 1;
        freed = freed.saturating_add(bytes);
    }
    let Some(last) = last else {
        return Ok((0, false));
    };
    conn.prepare_cached("DELETE FROM bus_events WHERE seq <= ?1")?
        .execute([last])?;
    conn.prepare_cached("DELETE FROM bus_pending WHERE seq <= ?1")?
        .execute([last])?;
    conn.prepare_cached("UPDATE bus_stats SET bytes = max(bytes - ?1, 0) WHERE id = 1")?
        .execute([freed])?;
    let more = usize::try_from(removed).is_ok_and(|n| n == rows.len())
        && i64::try_from(rows.len()).is_ok_and(|n| n == CHUNK);
    Ok((removed, more))
}

/// Removes up to [`CHUNK`] de-dup records made before `before_ms`; answers how many and
/// whether there may be more.
pub(super) fn dedup_step(conn: &Connection, before_ms: i64) -> Result<(u64, bool), DbError> {
    let removed = conn
        .prepare_cached(
            "DELETE FROM bus_dedup WHERE rowid IN \
             (SELECT rowid FROM bus_dedup WHERE created_at < ?1 LIMIT ?2)",
        )?
        .execute(params![before_ms, CHUNK])?;
    let more = i64::try_from(removed).is_ok_and(|n| n == CHUNK);
    Ok((u64::try_from(removed).unwrap_or(u64::MAX), more))
}
