//! WAL checkpoints off the commit path. SQLite's automatic checkpoint runs inside the commit
//! that crosses the threshold (1,000 pages by default), on the writer thread, so every few
//! hundred milliseconds under load one group commit also copied the WAL into the database
//! file and fsynced it while every other writer waited: the latency tail. Here the writer's
//! automatic checkpoint is moved far out ([`WRITER_FALLBACK_PAGES`], only a safety net) and a
//! thread of its own runs `PRAGMA wal_checkpoint(PASSIVE)` on its own connection every
//! [`INTERVAL`]; a passive checkpoint never blocks the writer or the readers.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

use super::{BUSY_TIMEOUT, DbError};

/// How often the checkpointer copies committed WAL frames into the database file.
pub(super) const INTERVAL: Duration = Duration::from_millis(100);

/// The writer's own automatic checkpoint, in pages: a safety net for a WAL the checkpointer
/// cannot keep up with (64 MiB with 4 KiB pages).
pub(super) const WRITER_FALLBACK_PAGES: u32 = 16_384;

/// Moves the writer connection's automatic checkpoint to [`WRITER_FALLBACK_PAGES`].
pub(super) fn configure_writer(conn: &Connection) -> Result<(), DbError> {
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_FALLBACK_PAGES)?;
    Ok(())
}

/// Starts the checkpointer thread on its own connection to `path`; it runs until `stop`'s
/// sender is dropped (when the last [`super::Database`] handle goes).
pub(super) fn spawn(path: &Path, stop: mpsc::Receiver<()>) -> Result<(), DbError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".to_owned())
        .spawn(move || run(&conn, &stop))
        .map_err(|e| DbError::Sqlite(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(())
}

fn run(conn: &Connection, stop: &mpsc::Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(INTERVAL) {
        if let Err(error) = passive(conn) {
            // Another process's checkpoint holds the lock, or the disk refused: the next
            // round (or the writer's fallback) catches up.
            tracing::debug!(%error, "sqlite: passive checkpoint skipped");
        }
    }
    tracing::debug!("sqlite checkpointer stopped");
}

/// One passive checkpoint: copies what no reader still needs; answers the WAL's frames and
/// how many of them are now in the database file.
pub(super) fn passive(conn: &Connection) -> Result<(i64, i64), DbError> {
    Ok(conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::{Database, Durability};

    #[tokio::test]
    async fn the_checkpointer_not_the_writer_copies_the_wal_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let db = Database::open(&path, Durability::Normal).unwrap();
        let threshold: i64 = db
            .write(|conn| Ok(conn.pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(threshold, i64::from(WRITER_FALLBACK_PAGES));
        db.write(|conn| {
            conn.execute_batch("CREATE TABLE filler (x BLOB)")?;
            Ok(())
        })
        .await
        .unwrap();
        // 1,500 pages of rows, over SQLite's default 1,000-page threshold; only a checkpoint
        // moves them from the WAL into the database file.
        for _ in 0..15 {
            db.write(|conn| {
                for _ in 0..100 {
                    conn.execute("INSERT INTO filler VALUES (zeroblob(4000))", [])?;
                }
                Ok(())
            })
            .await
            .unwrap();
        }
        let file_len = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut copied = false;
        for _ in 0..100 {
            if file_len() > 1_500 * 4_000 {
                copied = true;
                break;
            }
            std::thread::sleep(INTERVAL);
        }
        assert!(
            copied,
            "the checkpointer copied the rows into the file: {}",
            file_len()
        );
    }
}
