//! Retention on the SQLite store: chunked deletes of old finished outbox records,
//! idempotency records and channel state entries, then incremental vacuum.

use rusqlite::params;

use super::time_to_sql;
use crate::sqlite::Database;
use crate::store::{KEPT_STATE_SUFFIX, PruneBefore, Pruned, StoreError};

/// Rows removed per write job, so pruning never holds the writer for long.
const CHUNK: i64 = 2000;

/// Free pages returned to the file system per write job (8 MiB at 4 KiB pages).
const VACUUM_PAGES: u32 = 2048;

/// Runs `sql` (a `DELETE ... LIMIT ?n` with the cut-off as `?1` and the chunk as `?2`) until
/// it removes less than a chunk; answers the total.
async fn delete_all(db: &Database, sql: &'static str, before: i64) -> Result<u64, StoreError> {
    let mut total = 0_u64;
    loop {
        let removed = db
            .write(move |conn| Ok(conn.prepare_cached(sql)?.execute(params![before, CHUNK])?))
            .await?;
        total += u64::try_from(removed).unwrap_or(u64::MAX);
        if !i64::try_from(removed).is_ok_and(|n| n >= CHUNK) {
            return Ok(total);
        }
    }
}

pub(super) async fn prune(db: &Database, before: PruneBefore) -> Result<Pruned, StoreError> {
    // Outbox times are nanoseconds; idempotency and channel state times milliseconds.
    let outbox = delete_all(
        db,
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
         WHERE state IN ('sent', 'dead') AND created_at < ?1 LIMIT ?2)",
        time_to_sql(before.outbox)?,
    )
    .await?;
    let idempotency = delete_all(
        db,
        "DELETE FROM idempotency WHERE (scope, key) IN (SELECT scope, key FROM idempotency \
         WHERE created_at < ?1 LIMIT ?2)",
        before.idempotency.timestamp_millis(),
    )
    .await?;
    let channel_state = {
        let before = before.channel_state.timestamp_millis();
        let mut total = 0_u64;
        loop {
            let removed = db
                .write(move |conn| {
                    Ok(conn
                        .prepare_cached(
                            "DELETE FROM channel_state WHERE (channel_id, key) IN \
                             (SELECT channel_id, key FROM channel_state WHERE updated_at < ?1 \
                              AND substr(key, -length(?3)) <> ?3 LIMIT ?2)",
                        )?
                        .execute(params![before, CHUNK, KEPT_STATE_SUFFIX])?)
                })
                .await?;
            total += u64::try_from(removed).unwrap_or(u64::MAX);
            if !i64::try_from(removed).is_ok_and(|n| n >= CHUNK) {
                break total;
            }
        }
    };
    Ok(Pruned {
        outbox,
        idempotency,
        channel_state,
    })
}

pub(super) async fn reclaim_space(db: &Database) -> Result<(), StoreError> {
    loop {
        let left = db.incremental_vacuum(VACUUM_PAGES).await?;
        if left == 0 {
            return Ok(());
        }
    }
}
