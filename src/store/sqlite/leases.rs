//! Leases on SQLite: one row per lease, taken or renewed by a compare-and-set inside the
//! writer's transaction, so processes sharing the file agree on one holder. Times are the
//! wall clock in milliseconds (processes on one host share it).

use std::time::Duration;

use rusqlite::params;

use crate::sqlite::{Database, now_millis};
use crate::store::StoreError;

/// Takes `name` for `holder` until `ttl` from now if it is free, expired or `holder`'s own.
pub(super) async fn acquire(
    db: &Database,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let (name, holder) = (name.to_owned(), holder.to_owned());
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let held = db
        .write(move |conn| {
            let now = now_millis();
            let changed = conn
                .prepare_cached(
                    "INSERT INTO leases (name, holder, until_ms) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                     until_ms = excluded.until_ms \
                     WHERE leases.holder = excluded.holder OR leases.until_ms <= ?4",
                )?
                .execute(params![name, holder, now.saturating_add(ttl_ms), now])?;
            Ok(changed == 1)
        })
        .await?;
    Ok(held)
}

/// Deletes `name` if `holder` holds it.
pub(super) async fn release(db: &Database, name: &str, holder: &str) -> Result<(), StoreError> {
    let (name, holder) = (name.to_owned(), holder.to_owned());
    db.write(move |conn| {
        conn.prepare_cached("DELETE FROM leases WHERE name = ?1 AND holder = ?2")?
            .execute(params![name, holder])?;
        Ok(())
    })
    .await?;
    Ok(())
}
