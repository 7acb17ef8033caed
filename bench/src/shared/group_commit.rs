//! One SQLite file written by one thread that commits whatever is queued in one transaction
//! (group commit, as the bridge's writer does), in WAL mode with `synchronous = FULL` (every
//! commit fsynced): the durable core of the minimal *correct* servers the benchmarks compare
//! the bridge with (`mpp-baseline --durable`, `whatsapp-load serve --durable`).

use std::sync::mpsc;

use anyhow::{Context, Result};
use rusqlite::Connection;
use tokio::sync::oneshot;

/// Most operations committed in one transaction.
const MAX_BATCH: usize = 256;

/// Runs one queued operation inside the open transaction; `now` is the batch's Unix time in
/// milliseconds.
pub(crate) type Apply<Op, Answer> = fn(&Connection, &Op, i64) -> rusqlite::Result<Answer>;

/// One queued operation and its caller.
struct Job<Op, Answer> {
    op: Op,
    reply: oneshot::Sender<Result<Answer, String>>,
}

/// A handle on the writer thread (cheap to clone).
pub(crate) struct GroupCommit<Op, Answer> {
    writer: mpsc::Sender<Job<Op, Answer>>,
}

impl<Op, Answer> Clone for GroupCommit<Op, Answer> {
    fn clone(&self) -> Self {
        Self {
            writer: self.writer.clone(),
        }
    }
}

impl<Op: Send + 'static, Answer: Send + 'static> GroupCommit<Op, Answer> {
    /// Opens (creating) the file at `path`, runs `schema`, and starts the writer thread
    /// `name`, which applies each operation with `apply`; `after_commit` runs on the writer
    /// thread after each commit (a notifier, say).
    pub(crate) fn open(
        path: &str,
        name: &str,
        schema: &str,
        apply: Apply<Op, Answer>,
        after_commit: impl Fn() + Send + 'static,
    ) -> Result<Self> {
        let conn = Connection::open(path).with_context(|| format!("opening {path}"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(schema)?;
        let (writer, jobs) = mpsc::channel::<Job<Op, Answer>>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok(first) = jobs.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match jobs.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let outcome = commit(&conn, &batch, apply);
                    after_commit();
                    for (job, result) in batch.into_iter().zip(outcome) {
                        let _ = job.reply.send(result);
                    }
                }
            })
            .with_context(|| format!("starting the writer thread {name}"))?;
        Ok(Self { writer })
    }

    /// Queues `op` and waits until its batch is committed.
    pub(crate) async fn run(&self, op: Op) -> Result<Answer, String> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Job { op, reply })
            .map_err(|_| "the writer thread is gone".to_owned())?;
        answer
            .await
            .map_err(|_| "the writer thread is gone".to_owned())?
    }
}

/// Runs `batch` in one transaction; one answer per job (all errors if the commit failed).
fn commit<Op, Answer>(
    conn: &Connection,
    batch: &[Job<Op, Answer>],
    apply: Apply<Op, Answer>,
) -> Vec<Result<Answer, String>> {
    let run = || -> rusqlite::Result<Vec<Answer>> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let now = chrono::Utc::now().timestamp_millis();
        let answers = batch
            .iter()
            .map(|job| apply(conn, &job.op, now))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(answers)
    };
    match run() {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(error) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            batch.iter().map(|_| Err(error.to_string())).collect()
        }
    }
}
