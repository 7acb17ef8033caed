//! WAL checkpoints off the commit path. SQLite's automatic checkpoint runs inside the commit
//! that crosses the threshold (1,000 pages by default), on the writer thread, so every few
//! hundred milliseconds under load one group commit also copied the WAL into the database
//! file and fsynced it while every other writer waited: the latency tail. Here the writer's
//! automatic checkpoint is moved far out ([`WRITER_FALLBACK_PAGES`], only a safety net) and a
//! thread of its own runs `PRAGMA wal_checkpoint(PASSIVE)` on its own connection; a passive
//! checkpoint never blocks the writer or the readers.
//!
//! It checkpoints little and often while commits flow ([`BUSY_INTERVAL`]) and backs off to
//! [`INTERVAL`] when nothing new was written. The copy and its fsync of the database file
//! share the disk with the writer's commits: at 2,000 webhooks/s, a checkpoint every 100 ms
//! copied about 3,400 frames at once and the commits that fell in its few milliseconds were
//! the slowest (webhook answer p99 about 5-6 ms); every 5 ms the bursts are small and the p99
//! was about 3-3.5 ms on the same machine (see `bench/README.md`). A saturated writer (at
//! least [`SATURATED_JOBS_PER_COMMIT`] jobs per commit over the last [`INTERVAL`]) is the
//! bottleneck instead, and there frequent checkpoints cost throughput (their fsyncs compete
//! with its commits): then it checkpoints every [`INTERVAL`], in larger pieces.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::writer::WriterLoad;
use super::{BUSY_TIMEOUT, DbError};

/// How often the checkpointer looks for new WAL frames when the last look found none.
pub(super) const INTERVAL: Duration = Duration::from_millis(100);

/// How soon the checkpointer looks again after it copied frames (commits are flowing).
pub(super) const BUSY_INTERVAL: Duration = Duration::from_millis(5);

/// Jobs per group commit from which the writer counts as saturated.
const SATURATED_JOBS_PER_COMMIT: u64 = 3;

/// The writer's own automatic checkpoint, in pages: a safety net for a WAL the checkpointer
/// cannot keep up with (64 MiB with 4 KiB pages).
pub(super) const WRITER_FALLBACK_PAGES: u32 = 16_384;

/// Moves the writer connection's automatic checkpoint to [`WRITER_FALLBACK_PAGES`].
pub(super) fn configure_writer(conn: &Connection) -> Result<(), DbError> {
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_FALLBACK_PAGES)?;
    Ok(())
}

/// Starts the checkpointer thread on its own connection to `path`, pacing itself by the
/// writer's `load`; it runs until `stop`'s sender is dropped (when the last
/// [`super::Database`] handle goes).
pub(super) fn spawn(
    path: &Path,
    stop: mpsc::Receiver<()>,
    load: Arc<WriterLoad>,
) -> Result<(), DbError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".to_owned())
        .spawn(move || run(&conn, &stop, &load))
        .map_err(|e| DbError::Sqlite(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(())
}

fn run(conn: &Connection, stop: &mpsc::Receiver<()>, load: &WriterLoad) {
    let mut wait = INTERVAL;
    let mut last = None;
    let mut window = LoadWindow::new(load.totals(), Instant::now());
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(wait) {
        let saturated = window.saturated(load.totals(), Instant::now());
        match passive(conn) {
            Ok(state) => {
                wait = next_wait(wait, last != Some(state), saturated);
                last = Some(state);
            }
            Err(error) => {
                // Another process's checkpoint holds the lock, or the disk refused: the next
                // round (or the writer's fallback) catches up.
                tracing::debug!(%error, "sqlite: passive checkpoint skipped");
                wait = INTERVAL;
            }
        }
    }
    tracing::debug!("sqlite checkpointer stopped");
}

/// The writer's load over windows of at least [`INTERVAL`]: long enough that the one large
/// batch that gathers behind a slow commit does not count as saturation (which would make the
/// next checkpoint large and the next commits slow in turn).
struct LoadWindow {
    /// Jobs and commits at the window's start.
    start: (u64, u64),
    since: Instant,
    saturated: bool,
}

impl LoadWindow {
    fn new(totals: (u64, u64), now: Instant) -> Self {
        Self {
            start: totals,
            since: now,
            saturated: false,
        }
    }

    /// Whether the writer was saturated over the last full window, given its totals `now`.
    fn saturated(&mut self, totals: (u64, u64), now: Instant) -> bool {
        if now.duration_since(self.since) >= INTERVAL {
            let jobs = totals.0.saturating_sub(self.start.0);
            let commits = totals.1.saturating_sub(self.start.1);
            self.saturated = commits > 0 && jobs >= commits * SATURATED_JOBS_PER_COMMIT;
            self.start = totals;
            self.since = now;
        }
        self.saturated
    }
}

/// The wait before the next checkpoint: [`INTERVAL`] while the writer is saturated,
/// [`BUSY_INTERVAL`] when the WAL moved since the last one, else twice the last wait, up to
/// [`INTERVAL`].
fn next_wait(last: Duration, wal_moved: bool, saturated: bool) -> Duration {
    if saturated {
        INTERVAL
    } else if wal_moved {
        BUSY_INTERVAL
    } else {
        (last * 2).min(INTERVAL)
    }
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

    #[test]
    fn the_checkpointer_looks_often_while_the_wal_moves_and_backs_off_when_idle_or_saturated() {
        assert_eq!(next_wait(INTERVAL, true, false), BUSY_INTERVAL);
        assert_eq!(next_wait(BUSY_INTERVAL, true, true), INTERVAL);
        let mut wait = BUSY_INTERVAL;
        let mut waits = Vec::new();
        for _ in 0..6 {
            wait = next_wait(wait, false, false);
            waits.push(wait.as_millis());
        }
        assert_eq!(waits, [10, 20, 40, 80, 100, 100]);
    }

    #[test]
    fn one_large_batch_is_not_saturation_but_a_window_of_them_is() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut window = LoadWindow::new((0, 0), t0);
        // 200 jobs in 150 commits over 100 ms, one of them a batch of 40: light load.
        assert!(!window.saturated((160, 110), ms(50)));
        assert!(!window.saturated((200, 150), ms(100)));
        // The next 100 ms: 2,000 jobs in 125 commits (16 per commit): saturated.
        assert!(
            !window.saturated((1_000, 200), ms(150)),
            "decided per window"
        );
        assert!(window.saturated((2_200, 275), ms(200)));
        // Idle: no commits is not saturation.
        assert!(!window.saturated((2_200, 275), ms(300)));
    }

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
