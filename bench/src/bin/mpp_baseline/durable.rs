//! The durable single-use guard of `mpp-baseline --durable <file>`: what a minimal *correct*
//! pay server keeps on disk. One SQLite file in WAL mode with `synchronous = FULL` (every
//! commit fsynced), two tables, and the two commits a payment needs: the challenge id is
//! consumed (committed) before the charge, and the settlement is recorded (committed) before
//! the `200`. Writes go through one thread that commits whatever is queued in one transaction
//! (group commit, as the bridge's writer does), so concurrent requests share fsyncs.

use std::sync::mpsc;

use anyhow::{Context, Result};
use rusqlite::{Connection, params};
use tokio::sync::oneshot;

/// Most operations committed in one transaction.
const MAX_BATCH: usize = 256;

/// A write the guard's thread runs.
enum Op {
    /// Consumes a challenge id; answers whether it was unused.
    Consume(String),
    /// Records the settlement of a consumed challenge.
    Settled {
        challenge_id: String,
        reference: String,
    },
}

/// One queued write and its caller.
struct Job {
    op: Op,
    reply: oneshot::Sender<Result<bool, String>>,
}

/// The guard: a handle on the writer thread (cheap to clone).
#[derive(Clone)]
pub(crate) struct DurableGuard {
    writer: mpsc::Sender<Job>,
}

impl DurableGuard {
    /// Opens (creating) the file at `path`, with its tables, and starts the writer thread.
    pub(crate) fn open(path: &str) -> Result<Self> {
        let conn = Connection::open(path).with_context(|| format!("opening {path}"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS challenges_used (
                 challenge_id TEXT PRIMARY KEY, used_at INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS settlements (
                 challenge_id TEXT PRIMARY KEY, reference TEXT NOT NULL,
                 settled_at INTEGER NOT NULL) WITHOUT ROWID;",
        )?;
        let (writer, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("guard-writer".to_owned())
            .spawn(move || run(&conn, &jobs))
            .context("starting the guard's writer thread")?;
        Ok(Self { writer })
    }

    /// Consumes `challenge_id` durably; `false` if it was consumed before.
    pub(crate) async fn consume(&self, challenge_id: String) -> Result<bool, String> {
        self.send(Op::Consume(challenge_id)).await
    }

    /// Records durably that `challenge_id` was settled under `reference`.
    pub(crate) async fn settled(
        &self,
        challenge_id: String,
        reference: String,
    ) -> Result<(), String> {
        self.send(Op::Settled {
            challenge_id,
            reference,
        })
        .await
        .map(|_| ())
    }

    async fn send(&self, op: Op) -> Result<bool, String> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Job { op, reply })
            .map_err(|_| "the guard's writer is gone".to_owned())?;
        answer
            .await
            .map_err(|_| "the guard's writer is gone".to_owned())?
    }
}

fn run(conn: &Connection, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = commit(conn, &batch);
        for (job, result) in batch.into_iter().zip(outcome) {
            let _ = job.reply.send(result);
        }
    }
}

/// Runs `batch` in one transaction; one answer per job (all errors if the commit failed).
fn commit(conn: &Connection, batch: &[Job]) -> Vec<Result<bool, String>> {
    let run = || -> rusqlite::Result<Vec<bool>> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let now = chrono::Utc::now().timestamp_millis();
        let mut answers = Vec::with_capacity(batch.len());
        for job in batch {
            let changed = match &job.op {
                Op::Consume(id) => conn
                    .prepare_cached(
                        "INSERT INTO challenges_used (challenge_id, used_at) VALUES (?1, ?2) \
                         ON CONFLICT (challenge_id) DO NOTHING",
                    )?
                    .execute(params![id, now])?,
                Op::Settled {
                    challenge_id,
                    reference,
                } => conn
                    .prepare_cached(
                        "INSERT INTO settlements (challenge_id, reference, settled_at) \
                         VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![challenge_id, reference, now])?,
            };
            answers.push(changed == 1);
        }
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
