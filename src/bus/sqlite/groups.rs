//! Consumer groups on SQLite, with the semantics of Redis `XREADGROUP >`, `XACK`,
//! `XAUTOCLAIM` and `XPENDING`. Every function here runs on the writer thread (except
//! [`pending`]), inside the group-commit transaction.

use rusqlite::{Connection, params};

use crate::sqlite::{DbError, now_millis};

/// Hands up to `limit` events after the group's cursor to `consumer`, records them as
/// pending and moves the cursor. Creates the group at the start of the log if needed.
pub(super) fn read_new(
    conn: &Connection,
    group: &str,
    consumer: &str,
    limit: i64,
) -> Result<Vec<(i64, String)>, DbError> {
    Ok(read_new_of(conn, group, consumer, limit, None)?.0)
}

/// [`read_new`] for a consumer that handles only the event types `wanted` (`None`: all):
/// the cursor moves past up to `limit` events, but only those of a wanted type (or of no
/// recorded type) are read, handed out and recorded as pending; the others are done with at
/// once. Also answers how many events the cursor moved past.
pub(super) fn read_new_of(
    conn: &Connection,
    group: &str,
    consumer: &str,
    limit: i64,
    wanted: Option<&[&str]>,
) -> Result<(Vec<(i64, String)>, usize), DbError> {
    conn.prepare_cached("INSERT OR IGNORE INTO bus_groups (name, cursor) VALUES (?1, 0)")?
        .execute([group])?;
    let cursor: i64 = conn
        .prepare_cached("SELECT cursor FROM bus_groups WHERE name = ?1")?
        .query_row([group], |r| r.get(0))?;
    let mut last = None;
    let mut moved_past = 0;
    let mut rows = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, event_type, envelope FROM bus_events WHERE seq > ?1 \
             ORDER BY seq LIMIT ?2",
        )?;
        let mut found = stmt.query(params![cursor, limit])?;
        while let Some(row) = found.next()? {
            let seq: i64 = row.get(0)?;
            last = Some(seq);
            moved_past += 1;
            let event_type: Option<String> = row.get(1)?;
            let wanted = match (wanted, event_type.as_deref()) {
                (Some(types), Some(event_type)) => types.contains(&event_type),
                _ => true,
            };
            if wanted {
                rows.push((seq, row.get(2)?));
            }
        }
    }
    let Some(last) = last else {
        return Ok((rows, 0));
    };
    let now = now_millis();
    let mut pend = conn.prepare_cached(
        "INSERT OR REPLACE INTO bus_pending (group_name, seq, consumer, delivered_at, deliveries) \
         VALUES (?1, ?2, ?3, ?4, 1)",
    )?;
    for (seq, _) in &rows {
        pend.execute(params![group, seq, consumer, now])?;
    }
    conn.prepare_cached("UPDATE bus_groups SET cursor = ?1 WHERE name = ?2")?
        .execute(params![last, group])?;
    Ok((rows, moved_past))
}

/// Removes `seqs` from the group's pending entries.
pub(super) fn ack(conn: &Connection, group: &str, seqs: &[i64]) -> Result<(), DbError> {
    let mut stmt =
        conn.prepare_cached("DELETE FROM bus_pending WHERE group_name = ?1 AND seq = ?2")?;
    for seq in seqs {
        stmt.execute(params![group, seq])?;
    }
    Ok(())
}

/// Gives up to `limit` entries delivered at least `min_idle_ms` ago to `consumer`, oldest
/// first, resetting their delivery time and counting the delivery.
pub(super) fn claim(
    conn: &Connection,
    group: &str,
    consumer: &str,
    min_idle_ms: i64,
    limit: i64,
) -> Result<Vec<(i64, String)>, DbError> {
    let now = now_millis();
    let rows = conn
        .prepare_cached(
            "SELECT p.seq, e.envelope FROM bus_pending p JOIN bus_events e ON e.seq = p.seq \
             WHERE p.group_name = ?1 AND p.delivered_at <= ?2 ORDER BY p.seq LIMIT ?3",
        )?
        .query_map(
            params![group, now.saturating_sub(min_idle_ms), limit],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<Vec<(i64, String)>, _>>()?;
    let mut take = conn.prepare_cached(
        "UPDATE bus_pending SET consumer = ?1, delivered_at = ?2, deliveries = deliveries + 1 \
         WHERE group_name = ?3 AND seq = ?4",
    )?;
    for (seq, _) in &rows {
        take.execute(params![consumer, now, group, seq])?;
    }
    if !rows.is_empty() {
        tracing::info!(
            group,
            consumer,
            count = rows.len(),
            "bus: claimed stale pending events"
        );
    }
    Ok(rows)
}

/// Number of pending (delivered, unacked) entries of `group`.
pub(super) fn pending(conn: &Connection, group: &str) -> Result<u64, DbError> {
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM bus_pending WHERE group_name = ?1")?
        .query_row([group], |r| r.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}
