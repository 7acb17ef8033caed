//! `whatsapp-load serve --durable <file>`: the minimal *correct* ingest the issue compares
//! the bridge with: verify, parse + normalise, de-duplicate on the provider's message id and
//! append the event, both in one SQLite transaction committed by a group-commit thread with an
//! fsync per commit (`group_commit`), then `200`. After each commit the new log head is
//! published on a `watch` channel, the hand-off an SSE stream would follow (no SSE endpoint
//! is served: the throughput benchmark opens none).
//!
//! Nothing else the bridge does: no conversation or participant rows, no raw payload copy,
//! no consumer groups, no metrics.

use anyhow::Result;
use omnibridge_sdk::InboundEvent;
use rusqlite::{Connection, params};
use tokio::sync::watch;

#[path = "../shared/group_commit.rs"]
mod group_commit;

use group_commit::GroupCommit;

/// The log and its de-dup keys.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS dedup (
        key TEXT PRIMARY KEY, seen_at INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, conversation TEXT NOT NULL,
        event TEXT NOT NULL, appended_at INTEGER NOT NULL);";

/// One webhook's events, serialised: `(de-dup key, conversation, event JSON)`.
type Append = Vec<(Option<String>, String, String)>;

/// The durable log: a handle on its writer thread.
#[derive(Clone)]
pub(crate) struct DurableLog {
    writer: GroupCommit<Append, usize>,
}

impl DurableLog {
    /// Opens (creating) the log at `path` and starts its writer thread, which publishes the
    /// newest committed `seq` after each commit (what an SSE stream would wait on).
    pub(crate) fn open(path: &str) -> Result<Self> {
        let (publish, _) = watch::channel(0);
        let reader = Connection::open(path)?;
        let writer = GroupCommit::open(path, "ingest-writer", SCHEMA, apply, move || {
            let seq: i64 = reader
                .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")
                .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
                .unwrap_or(0);
            publish.send_replace(seq);
        })?;
        Ok(Self { writer })
    }

    /// Appends `events` (de-duplicated) durably; how many were new.
    pub(crate) async fn append(&self, events: &[InboundEvent], channel: &str) -> Result<usize> {
        let mut append = Append::with_capacity(events.len());
        for event in events {
            let key = event
                .effective_dedup_key()
                .map(|key| format!("{channel}:{key}"));
            let conversation = format!(
                "{channel}:{}:{}",
                event.conversation.account, event.conversation.thread
            );
            append.push((key, conversation, serde_json::to_string(event)?));
        }
        self.writer.run(append).await.map_err(anyhow::Error::msg)
    }
}

/// Appends one webhook's events whose key is new; how many.
fn apply(conn: &Connection, append: &Append, now: i64) -> rusqlite::Result<usize> {
    let mut new = 0;
    for (key, conversation, event) in append {
        if let Some(key) = key {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO dedup (key, seen_at) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                )?
                .execute(params![key, now])?;
            if inserted == 0 {
                continue;
            }
        }
        conn.prepare_cached(
            "INSERT INTO events (conversation, event, appended_at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![conversation, event, now])?;
        new += 1;
    }
    Ok(new)
}
