//! Channels' durable key-value state on SQLite (one row per channel id and key).

use rusqlite::{OptionalExtension, params};

use crate::sqlite::{Database, now_millis};
use crate::store::StoreError;

pub(super) async fn get(
    db: &Database,
    channel_id: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let (channel_id, key) = (channel_id.to_owned(), key.to_owned());
    Ok(db
        .read_point(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT value FROM channel_state WHERE channel_id = ?1 AND key = ?2",
                )?
                .query_row(params![channel_id, key], |row| row.get::<_, Vec<u8>>(0))
                .optional()?)
        })
        .await?)
}

pub(super) async fn set(
    db: &Database,
    channel_id: &str,
    key: &str,
    value: Option<&[u8]>,
) -> Result<(), StoreError> {
    let (channel_id, key) = (channel_id.to_owned(), key.to_owned());
    let value = value.map(<[u8]>::to_vec);
    db.write(move |conn| {
        match value {
            Some(value) => conn
                .prepare_cached(
                    "INSERT INTO channel_state (channel_id, key, value, updated_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (channel_id, key) DO UPDATE \
                     SET value = excluded.value, updated_at = excluded.updated_at",
                )?
                .execute(params![channel_id, key, value, now_millis()])?,
            None => conn
                .prepare_cached("DELETE FROM channel_state WHERE channel_id = ?1 AND key = ?2")?
                .execute(params![channel_id, key])?,
        };
        Ok(())
    })
    .await?;
    Ok(())
}

pub(super) async fn set_many(
    db: &Database,
    channel_id: &str,
    entries: &[(String, Vec<u8>)],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let channel_id = channel_id.to_owned();
    let entries = entries.to_vec();
    db.write(move |conn| {
        let mut upsert = conn.prepare_cached(
            "INSERT INTO channel_state (channel_id, key, value, updated_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (channel_id, key) DO UPDATE \
             SET value = excluded.value, updated_at = excluded.updated_at",
        )?;
        let now = now_millis();
        for (key, value) in &entries {
            upsert.execute(params![channel_id, key, value, now])?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

pub(super) async fn prune(
    db: &Database,
    channel_id: &str,
    prefix: &str,
    before_millis: i64,
) -> Result<u64, StoreError> {
    let (channel_id, prefix) = (channel_id.to_owned(), prefix.to_owned());
    let removed = db
        .write(move |conn| {
            // `substr` instead of LIKE: keys may hold `%` or `_`.
            Ok(conn
                .prepare_cached(
                    "DELETE FROM channel_state WHERE channel_id = ?1 \
                     AND substr(key, 1, length(?2)) = ?2 AND updated_at < ?3",
                )?
                .execute(params![channel_id, prefix, before_millis])?)
        })
        .await?;
    Ok(u64::try_from(removed).unwrap_or(u64::MAX))
}
