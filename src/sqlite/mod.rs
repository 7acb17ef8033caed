//! The embedded database: one SQLite file in WAL mode, shared by the event bus
//! ([`crate::bus::sqlite::SqliteBus`]) and the store ([`crate::store::sqlite::SqliteStore`]).
//!
//! # Write path
//! Every write goes through one dedicated OS thread that owns the only writing connection of
//! this [`Database`]. Callers send a closure over a channel; the thread takes whatever is
//! queued (up to [`MAX_BATCH`] jobs), runs the jobs in one `BEGIN IMMEDIATE` transaction,
//! each inside its own savepoint (a failing job is rolled back alone), COMMITs once and only
//! then answers every caller. Under load batches grow and one fsync covers many writes
//! (group commit).
//!
//! # Durability
//! The fsync policy is explicit, see [`Durability`]: [`Durability::Full`] (the default) fsyncs
//! the WAL at every commit, so an answered write survives power loss;
//! [`Durability::Normal`] fsyncs only at checkpoints, so an answered write survives a crash of
//! the process but the last commits may be lost on power loss or OS crash.
//!
//! # Readers and processes
//! Reads run on their own connections (a small pool) in `tokio::task::spawn_blocking` and see
//! the last committed state; point lookups by key ([`Database::read_point`]) run on the
//! calling task when a pooled connection is idle, without the hop. Several processes may open the same file: every connection has a
//! busy timeout, and writers take the write lock up front (`BEGIN IMMEDIATE`), so writers of
//! different processes serialise instead of failing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use rusqlite::Connection;

mod checkpoint;
pub(crate) mod deferred;
mod schema;
mod vacuum;
mod writer;

pub(crate) use writer::control;
use writer::{Job, WriteJob};

/// Most write jobs committed in one transaction.
pub const MAX_BATCH: usize = 256;

/// How long a connection waits for another connection's (or process's) lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read connections kept open, and reads allowed to run at once.
const READ_POOL_SIZE: usize = 4;

/// Prepared statements each connection keeps (rusqlite's default is 16). The writer runs more
/// distinct statements than that (payments, the bus, the outbox, consumer groups, ...), and a
/// statement pushed out of the cache is parsed and planned again at its next use: before the
/// cache was this large, that re-preparing was a quarter of the writer thread's instructions
/// under the payments benchmark (bench/README.md, *Fourth round*).
const STATEMENT_CACHE: usize = 256;

/// When an acknowledged write reaches the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is fsynced at every commit; an acknowledged write survives
    /// power loss. Group commit shares one fsync among all writes of a batch.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the WAL is fsynced at checkpoints only; an acknowledged write
    /// survives a process crash but may be lost on power loss or an OS crash.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// Errors of the embedded database.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// SQLite reported an error (I/O, lock timeout, constraint, ...).
    #[error("sqlite: {0}")]
    Sqlite(String),
    /// A stored value could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The writer thread is gone (the database is shutting down).
    #[error("database is closed")]
    Closed,
}

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sqlite(error.to_string())
    }
}

/// A handle on the database file; cheap to clone. The writer thread stops when the last
/// handle is dropped.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: mpsc::Sender<Job>,
    /// Dropped with the last handle: stops the checkpointer thread.
    _checkpointer: mpsc::Sender<()>,
    readers: Mutex<Vec<Connection>>,
    /// At most [`READ_POOL_SIZE`] reads run at once, so every read reuses a pooled
    /// connection (and its prepared statements) instead of opening a new one under load.
    read_slots: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens (creating if needed) the database file at `path` in WAL mode, applies pending
    /// migrations and starts the writer thread. Blocking (file I/O); call it at startup or
    /// from `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>, durability: Durability) -> Result<Self, DbError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        vacuum::enable_incremental(&conn)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", durability.pragma())?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        checkpoint::configure_writer(&conn)?;
        tune(&conn)?;
        let (checkpointer, stop) = mpsc::channel();
        let load = Arc::new(writer::WriterLoad::default());
        checkpoint::spawn(&path, stop, Arc::clone(&load))?;
        let writer = writer::spawn(conn, load)?;
        tracing::info!(path = %path.display(), ?durability, "sqlite database opened");
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer,
                _checkpointer: checkpointer,
                readers: Mutex::new(Vec::new()),
                read_slots: tokio::sync::Semaphore::new(READ_POOL_SIZE),
            }),
        })
    }

    /// The file this database lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `job` on the writer thread inside the next group-commit transaction and returns
    /// its result once the transaction is committed. If `job` fails, only its own changes
    /// are rolled back.
    pub(crate) async fn write<T, F>(&self, job: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(WriteJob::new(job, reply));
        self.inner.writer.send(job).map_err(|_| DbError::Closed)?;
        answer.await.map_err(|_| DbError::Closed)?
    }

    /// Returns up to `max_pages` free pages to the file system (`PRAGMA incremental_vacuum`)
    /// and answers how many free pages are left. Runs on the writer thread.
    pub async fn incremental_vacuum(&self, max_pages: u32) -> Result<u64, DbError> {
        self.write(move |conn| vacuum::step(conn, max_pages)).await
    }

    /// Runs a point lookup (one indexed row, microseconds on a warm page cache) on a pooled
    /// read connection right here on the calling task when one is free, saving the two thread
    /// hand-offs of [`Database::read`]; otherwise it is a [`Database::read`]. Only for jobs that
    /// touch a handful of rows by key: the caller's runtime thread runs the query. It sees
    /// committed data only.
    pub(crate) async fn read_point<T, F>(&self, job: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        if let Ok(_slot) = self.inner.read_slots.try_acquire()
            && let Some(conn) = self.inner.pooled_reader()
        {
            let result = job(&conn);
            self.inner.give_back(conn);
            return result;
        }
        self.read(job).await
    }

    /// Runs `job` on a read connection in a blocking task. It sees committed data only.
    pub(crate) async fn read<T, F>(&self, job: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        let _slot = self
            .inner
            .read_slots
            .acquire()
            .await
            .map_err(|_| DbError::Closed)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = inner.take_reader()?;
            let result = job(&conn);
            inner.give_back(conn);
            result
        })
        .await
        .map_err(|e| DbError::Sqlite(format!("read task failed: {e}")))?
    }
}

impl Inner {
    /// A pooled read connection, if one is idle.
    fn pooled_reader(&self) -> Option<Connection> {
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn take_reader(&self) -> Result<Connection, DbError> {
        if let Some(conn) = self.pooled_reader() {
            return Ok(conn);
        }
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "query_only", "ON")?;
        tune(&conn)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut pool = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < READ_POOL_SIZE {
            pool.push(conn);
        }
    }
}

/// Sets up `conn` so its statements are prepared once: a large statement cache, and the query
/// planner stability guarantee. Without the guarantee SQLite lets a bound value shape a
/// statement's plan (e.g. `LIMIT ?`), marks the statement expired whenever that parameter is
/// bound again and prepares it anew at every run; with it, plans never depend on bound values
/// (nothing here relies on that: no `LIKE ?`, no STAT4). Temporary storage stays in memory:
/// the statement journals of the writer's savepoints and multi-row statements would
/// otherwise be temp files, written (never fsynced) and truncated at every commit.
fn tune(conn: &Connection) -> Result<(), DbError> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Milliseconds since the Unix epoch, by the wall clock (shared by processes on one host).
pub(crate) fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use rusqlite::OptionalExtension;

    use super::*;

    #[tokio::test]
    async fn point_reads_see_every_commit_with_or_without_a_pooled_connection() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("t.sqlite"), Durability::Normal).unwrap();
        db.write(|conn| {
            conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")?;
            Ok(())
        })
        .await
        .unwrap();
        let value = |db: Database| async move {
            db.read_point(|conn| {
                Ok(conn
                    .query_row("SELECT v FROM t WHERE k = 1", [], |row| row.get(0))
                    .optional()?)
            })
            .await
            .unwrap()
        };
        // No pooled connection yet: the first read takes the blocking path and pools one.
        assert_eq!(value(db.clone()).await, None::<i64>);
        assert!(!db.inner.readers.lock().unwrap().is_empty());
        for v in 1..=3_i64 {
            db.write(move |conn| {
                conn.execute("INSERT OR REPLACE INTO t (k, v) VALUES (1, ?1)", [v])?;
                Ok(())
            })
            .await
            .unwrap();
            assert_eq!(
                value(db.clone()).await,
                Some(v),
                "inline read after commit {v}"
            );
        }
        // Every slot taken: the read waits for one instead of reading on the caller.
        let held: Vec<_> = (0..READ_POOL_SIZE)
            .map(|_| db.inner.read_slots.try_acquire().unwrap())
            .collect();
        let waiting = tokio::spawn(value(db.clone()));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(held);
        assert_eq!(waiting.await.unwrap(), Some(3));
    }
}
