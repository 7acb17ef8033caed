//! Giving deleted space back: the file runs with `auto_vacuum = INCREMENTAL`, and the
//! retention job calls [`step`] after trimming.

use rusqlite::Connection;

use super::DbError;

/// `INCREMENTAL` in `PRAGMA auto_vacuum`.
const INCREMENTAL: i64 = 2;

/// Turns on incremental auto-vacuum. On a new file the pragma alone does it (it must come
/// before the first table, and before `journal_mode = WAL` writes the header); a file made
/// without it needs a one-time `VACUUM`, logged because it rewrites the whole file.
pub(super) fn enable_incremental(conn: &Connection) -> Result<(), DbError> {
    let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |row| row.get(0))?;
    if mode == INCREMENTAL {
        return Ok(());
    }
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |row| row.get(0))?;
    if mode != INCREMENTAL {
        tracing::info!("sqlite: rewriting the file once (VACUUM) to turn on incremental vacuum");
        conn.execute_batch("VACUUM")?;
    }
    Ok(())
}

/// Frees up to `max_pages` pages and answers the free pages left.
pub(super) fn step(conn: &Connection, max_pages: u32) -> Result<u64, DbError> {
    conn.execute_batch(&format!("PRAGMA incremental_vacuum({max_pages})"))?;
    let left: i64 = conn.pragma_query_value(None, "freelist_count", |row| row.get(0))?;
    Ok(u64::try_from(left).unwrap_or(0))
}
