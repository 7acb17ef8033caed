//! The durable single-use guard of `mpp-baseline --durable <file>`: what a minimal *correct*
//! pay server keeps on disk. Two tables in one SQLite file written by a group-commit thread
//! (`group_commit`, every commit fsynced), and the two commits a payment needs: the
//! challenge id is consumed (committed) before the charge, and the settlement is recorded
//! (committed) before the `200`.

use anyhow::Result;
use rusqlite::{Connection, params};

#[path = "../../shared/group_commit.rs"]
mod group_commit;

use group_commit::GroupCommit;

/// The guard's tables.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS challenges_used (
        challenge_id TEXT PRIMARY KEY, used_at INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS settlements (
        challenge_id TEXT PRIMARY KEY, reference TEXT NOT NULL,
        settled_at INTEGER NOT NULL) WITHOUT ROWID;";

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

/// The guard: a handle on the writer thread (cheap to clone).
#[derive(Clone)]
pub(crate) struct DurableGuard {
    writer: GroupCommit<Op, bool>,
}

impl DurableGuard {
    /// Opens (creating) the file at `path`, with its tables, and starts the writer thread.
    pub(crate) fn open(path: &str) -> Result<Self> {
        let writer = GroupCommit::open(path, "guard-writer", SCHEMA, apply, || {})?;
        Ok(Self { writer })
    }

    /// Consumes `challenge_id` durably; `false` if it was consumed before.
    pub(crate) async fn consume(&self, challenge_id: String) -> Result<bool, String> {
        self.writer.run(Op::Consume(challenge_id)).await
    }

    /// Records durably that `challenge_id` was settled under `reference`.
    pub(crate) async fn settled(
        &self,
        challenge_id: String,
        reference: String,
    ) -> Result<(), String> {
        self.writer
            .run(Op::Settled {
                challenge_id,
                reference,
            })
            .await
            .map(|_| ())
    }
}

/// Runs one write; whether it changed a row.
fn apply(conn: &Connection, op: &Op, now: i64) -> rusqlite::Result<bool> {
    let changed = match op {
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
    Ok(changed == 1)
}
