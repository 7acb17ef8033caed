//! The single writer thread: batches queued write jobs into one transaction (group commit)
//! and answers each caller after COMMIT.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{DbError, MAX_BATCH, deferred};

/// A queued write.
pub(super) type Job = Box<dyn Run>;

/// A write job, type-erased so jobs of any result type share one queue.
pub(super) trait Run: Send {
    /// Runs the job inside the open transaction; returns whether it succeeded and the answer
    /// to deliver once the transaction has ended.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Box<dyn Answer>);
    /// Answers the caller with `error` without running the job.
    fn fail(self: Box<Self>, error: DbError);
}

/// The answer to one caller, delivered after COMMIT (or its failure).
pub(super) trait Answer: Send {
    /// Delivers the job's result, or the commit error if the job succeeded but the
    /// transaction did not commit.
    fn answer(self: Box<Self>, commit: Result<(), DbError>);
}

/// A closure and the channel its caller waits on.
pub(super) struct WriteJob<F, T> {
    job: F,
    reply: oneshot::Sender<Result<T, DbError>>,
}

impl<F, T> WriteJob<F, T> {
    /// Wraps `job`; its result goes to `reply`.
    pub(super) fn new(job: F, reply: oneshot::Sender<Result<T, DbError>>) -> Self {
        Self { job, reply }
    }
}

struct Reply<T> {
    result: Result<T, DbError>,
    reply: oneshot::Sender<Result<T, DbError>>,
}

impl<F, T> Run for WriteJob<F, T>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Box<dyn Answer>) {
        let Self { job, reply } = *self;
        let result = catch_unwind(AssertUnwindSafe(move || job(conn)))
            .unwrap_or_else(|_| Err(DbError::Sqlite("write job panicked".to_owned())));
        (result.is_ok(), Box::new(Reply { result, reply }))
    }

    fn fail(self: Box<Self>, error: DbError) {
        // The caller may have gone away; nothing to do then.
        let _ = self.reply.send(Err(error));
    }
}

impl<T: Send + 'static> Answer for Reply<T> {
    fn answer(self: Box<Self>, commit: Result<(), DbError>) {
        let out = match commit {
            Ok(()) => self.result,
            Err(error) => self.result.and(Err(error)),
        };
        let _ = self.reply.send(out);
    }
}

/// How many jobs and group commits the writer has run: the checkpointer reads it to tell a
/// saturated writer (several jobs per commit) from a lightly loaded one.
#[derive(Debug, Default)]
pub(super) struct WriterLoad {
    jobs: AtomicU64,
    commits: AtomicU64,
}

impl WriterLoad {
    fn record(&self, jobs: usize) {
        self.jobs
            .fetch_add(u64::try_from(jobs).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// Jobs and commits so far.
    pub(super) fn totals(&self) -> (u64, u64) {
        (
            self.jobs.load(Ordering::Relaxed),
            self.commits.load(Ordering::Relaxed),
        )
    }
}

/// Starts the writer thread owning `conn`, counting its work in `load`; it stops when every
/// sender is dropped.
pub(super) fn spawn(conn: Connection, load: Arc<WriterLoad>) -> Result<mpsc::Sender<Job>, DbError> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("sqlite-writer".to_owned())
        .spawn(move || run_loop(&conn, &rx, &load))
        .map_err(|e| DbError::Sqlite(format!("cannot start the writer thread: {e}")))?;
    Ok(tx)
}

fn run_loop(conn: &Connection, rx: &mpsc::Receiver<Job>, load: &WriterLoad) {
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let jobs = batch.len();
        commit_batch(conn, batch);
        load.record(jobs);
    }
    tracing::debug!("sqlite writer stopped");
}

/// Runs one of the writer's own transaction-control statements (`BEGIN IMMEDIATE`,
/// `SAVEPOINT job`, `RELEASE job`, `COMMIT`, ...) from the connection's statement cache: they
/// run several times per job, and parsing them each time (`execute_batch`) was a visible part
/// of the writer's instructions.
pub(crate) fn control(conn: &Connection, sql: &str) -> Result<(), DbError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn commit_batch(conn: &Connection, batch: Vec<Job>) {
    let size = batch.len();
    if let Err(error) = control(conn, "BEGIN IMMEDIATE") {
        tracing::warn!(%error, jobs = size, "sqlite write transaction could not start");
        for job in batch {
            job.fail(error.clone());
        }
        return;
    }
    deferred::begin();
    let mut answers = Vec::with_capacity(size);
    let mut broken: Option<DbError> = None;
    for job in batch {
        if let Some(error) = &broken {
            job.fail(error.clone());
            continue;
        }
        if let Err(error) = control(conn, "SAVEPOINT job") {
            broken = Some(error.clone());
            job.fail(error);
            continue;
        }
        let mark = deferred::mark();
        let (ok, answer) = job.run(conn);
        let end = if ok {
            control(conn, "RELEASE job")
        } else {
            deferred::drop_since(mark);
            control(conn, "ROLLBACK TO job").and_then(|()| control(conn, "RELEASE job"))
        };
        if let Err(error) = end {
            broken = Some(error);
        }
        answers.push(answer);
    }
    let commit = match broken {
        Some(error) => Err(error),
        None => deferred::flush(conn).and_then(|()| control(conn, "COMMIT")),
    };
    deferred::discard();
    if let Err(error) = &commit {
        tracing::warn!(%error, jobs = size, "sqlite write transaction failed; rolled back");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    } else {
        tracing::trace!(jobs = size, "sqlite group commit");
    }
    for answer in answers {
        answer.answer(commit.clone());
    }
}
