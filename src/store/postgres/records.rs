//! The PostgreSQL store's bookkeeping: API idempotency records, dead letters, delivery
//! tracking, leases, channel state and retention.

use std::time::Duration;

use omnibridge_sdk::{DeliveryStatus, OutboundId, ProviderMessageId};
use sqlx::{PgPool, Row};

use super::{PgStore, json_from_sql, json_to_sql, time_to_sql, unavailable};
use crate::store::sqlite::deliveries::{status_from_name, status_name};
use crate::store::{IdempotentResponse, KEPT_STATE_SUFFIX, PruneBefore, Pruned, StoreError};

/// Rows one retention statement removes at most (short transactions, no long locks).
const CHUNK: i64 = 2000;

/// The database server's clock in milliseconds, in SQL (leases run on it).
const SERVER_NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT";

pub(super) async fn idempotent_response(
    pool: &PgPool,
    scope: &str,
    key: &str,
) -> Result<Option<IdempotentResponse>, StoreError> {
    let row = sqlx::query(
        "SELECT fingerprint, status, body FROM idempotency WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(pool)
    .await
    .map_err(unavailable)?;
    row.map(|row| {
        let status: i32 = row.try_get(1).map_err(unavailable)?;
        let body: String = row.try_get(2).map_err(unavailable)?;
        Ok(IdempotentResponse {
            fingerprint: row.try_get(0).map_err(unavailable)?,
            status: u16::try_from(status)
                .map_err(|_| StoreError::Corrupt(format!("stored status {status}")))?,
            body: json_from_sql(&body)?,
        })
    })
    .transpose()
}

/// Stores the answer unless one is stored; returns the stored one (first writer wins).
pub(super) async fn save_idempotent_response(
    store: &PgStore,
    scope: &str,
    key: &str,
    response: &IdempotentResponse,
) -> Result<IdempotentResponse, StoreError> {
    sqlx::query(
        "INSERT INTO idempotency (scope, key, fingerprint, status, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope, key) DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(&response.fingerprint)
    .bind(i32::from(response.status))
    .bind(json_to_sql(&response.body)?)
    .bind(now_millis())
    .execute(&store.pool)
    .await
    .map_err(unavailable)?;
    idempotent_response(&store.pool, scope, key)
        .await?
        .ok_or_else(|| StoreError::Corrupt("idempotency record vanished".to_owned()))
}

fn now_millis() -> i64 {
    super::now_millis()
}

pub(super) async fn record_dead_letter(
    store: &PgStore,
    kind: &str,
    reference: &str,
    payload: &serde_json::Value,
    error: &str,
) -> Result<(), StoreError> {
    tracing::warn!(kind, reference, "dead letter recorded");
    sqlx::query(
        "INSERT INTO dead_letters (kind, reference, payload, error, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(kind)
    .bind(reference)
    .bind(json_to_sql(payload)?)
    .bind(error)
    .bind(now_millis())
    .execute(&store.pool)
    .await
    .map_err(unavailable)?;
    Ok(())
}

pub(super) async fn dead_letters(
    store: &PgStore,
    kind: &str,
) -> Result<Vec<serde_json::Value>, StoreError> {
    let rows = sqlx::query(
        "SELECT reference, payload, error, created_at FROM dead_letters WHERE kind = $1 \
         ORDER BY id",
    )
    .bind(kind)
    .fetch_all(&store.pool)
    .await
    .map_err(unavailable)?;
    rows.iter()
        .map(|row| {
            let reference: String = row.try_get(0).map_err(unavailable)?;
            let payload: String = row.try_get(1).map_err(unavailable)?;
            let error: String = row.try_get(2).map_err(unavailable)?;
            let at: i64 = row.try_get(3).map_err(unavailable)?;
            Ok(serde_json::json!({
                "reference": reference,
                "payload": json_from_sql::<serde_json::Value>(&payload)?,
                "error": error,
                "created_at_ms": at,
            }))
        })
        .collect()
}

pub(super) async fn link_provider_messages(
    store: &PgStore,
    channel_id: &str,
    outbound: &OutboundId,
    provider_ids: &[ProviderMessageId],
) -> Result<(), StoreError> {
    if provider_ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = provider_ids.iter().map(ProviderMessageId::as_str).collect();
    sqlx::query(
        "INSERT INTO provider_messages (channel_id, provider_message_id, outbound_id, created_at) \
         SELECT $1, id, $3, $4 FROM UNNEST($2::TEXT[]) AS t (id) ON CONFLICT DO NOTHING",
    )
    .bind(channel_id)
    .bind(ids)
    .bind(outbound.as_str())
    .bind(now_millis())
    .execute(&store.pool)
    .await
    .map_err(unavailable)?;
    Ok(())
}

pub(super) async fn outbound_for_provider_message(
    store: &PgStore,
    channel_id: &str,
    provider_id: &ProviderMessageId,
) -> Result<Option<OutboundId>, StoreError> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT outbound_id FROM provider_messages \
         WHERE channel_id = $1 AND provider_message_id = $2",
    )
    .bind(channel_id)
    .bind(provider_id.as_str())
    .fetch_optional(&store.pool)
    .await
    .map_err(unavailable)?;
    Ok(found.map(OutboundId::new))
}

/// Moves the status forward (never back): the first status inserts the row; a later one
/// compares under the row's lock.
pub(super) async fn advance_delivery(
    store: &PgStore,
    outbound: &OutboundId,
    status: DeliveryStatus,
) -> Result<bool, StoreError> {
    let name = status_name(status)?;
    let mut tx = store.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO deliveries (outbound_id, status, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (outbound_id) DO NOTHING",
    )
    .bind(outbound.as_str())
    .bind(&name)
    .bind(now_millis())
    .execute(&mut *tx)
    .await
    .map_err(unavailable)?
    .rows_affected();
    if inserted == 0 {
        let current: String =
            sqlx::query_scalar("SELECT status FROM deliveries WHERE outbound_id = $1 FOR UPDATE")
                .bind(outbound.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(unavailable)?;
        if status < status_from_name(&current)? {
            return Ok(false);
        }
        sqlx::query("UPDATE deliveries SET status = $2, updated_at = $3 WHERE outbound_id = $1")
            .bind(outbound.as_str())
            .bind(&name)
            .bind(now_millis())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
    }
    tx.commit().await.map_err(unavailable)?;
    Ok(true)
}

pub(super) async fn delivery_status(
    store: &PgStore,
    outbound: &OutboundId,
) -> Result<Option<DeliveryStatus>, StoreError> {
    let name: Option<String> =
        sqlx::query_scalar("SELECT status FROM deliveries WHERE outbound_id = $1")
            .bind(outbound.as_str())
            .fetch_optional(&store.pool)
            .await
            .map_err(unavailable)?;
    Ok(name.map(|name| status_from_name(&name)).transpose()?)
}

/// Takes or renews the lease on the server's clock unless another holder's is running.
pub(super) async fn acquire_lease(
    store: &PgStore,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let changed = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, {SERVER_NOW_MS} + $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
         WHERE leases.holder = excluded.holder OR leases.until_ms <= {SERVER_NOW_MS}"
    )))
    .bind(name)
    .bind(holder)
    .bind(ttl_ms)
    .execute(&store.pool)
    .await
    .map_err(unavailable)?
    .rows_affected();
    Ok(changed == 1)
}

pub(super) async fn release_lease(
    store: &PgStore,
    name: &str,
    holder: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(&store.pool)
        .await
        .map_err(unavailable)?;
    Ok(())
}

pub(super) async fn channel_state(
    store: &PgStore,
    channel_id: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    sqlx::query_scalar("SELECT value FROM channel_state WHERE channel_id = $1 AND key = $2")
        .bind(channel_id)
        .bind(key)
        .fetch_optional(&store.pool)
        .await
        .map_err(unavailable)
}

pub(super) async fn set_channel_state(
    store: &PgStore,
    channel_id: &str,
    key: &str,
    value: Option<&[u8]>,
) -> Result<(), StoreError> {
    match value {
        Some(value) => {
            set_channel_states(store, channel_id, &[(key.to_owned(), value.to_vec())]).await
        }
        None => {
            sqlx::query("DELETE FROM channel_state WHERE channel_id = $1 AND key = $2")
                .bind(channel_id)
                .bind(key)
                .execute(&store.pool)
                .await
                .map_err(unavailable)?;
            Ok(())
        }
    }
}

/// Upserts several entries in one statement (the last value of a key given twice wins).
pub(super) async fn set_channel_states(
    store: &PgStore,
    channel_id: &str,
    entries: &[(String, Vec<u8>)],
) -> Result<(), StoreError> {
    let merged: std::collections::BTreeMap<&str, &[u8]> = entries
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_slice()))
        .collect();
    if merged.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = merged.keys().copied().collect();
    let values: Vec<&[u8]> = merged.values().copied().collect();
    sqlx::query(
        "INSERT INTO channel_state (channel_id, key, value, updated_at) \
         SELECT $1, k, v, $4 FROM UNNEST($2::TEXT[], $3::BYTEA[]) AS t (k, v) \
         ON CONFLICT (channel_id, key) DO UPDATE \
         SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(channel_id)
    .bind(keys)
    .bind(values)
    .bind(now_millis())
    .execute(&store.pool)
    .await
    .map_err(unavailable)?;
    Ok(())
}

pub(super) async fn prune_channel_state(
    store: &PgStore,
    channel_id: &str,
    prefix: &str,
    before_millis: i64,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "DELETE FROM channel_state WHERE channel_id = $1 AND starts_with(key, $2) \
         AND updated_at < $3",
    )
    .bind(channel_id)
    .bind(prefix)
    .bind(before_millis)
    .execute(&store.pool)
    .await
    .map_err(unavailable)?
    .rows_affected())
}

/// Runs a chunked delete (`$1` the cut-off, `$2` the chunk, and with `kept_suffix` `$3`
/// the suffix of keys kept) until a chunk comes back short; answers how many rows went.
async fn delete_all(
    store: &PgStore,
    sql: &'static str,
    before: i64,
    kept_suffix: Option<&str>,
) -> Result<u64, StoreError> {
    let mut total = 0_u64;
    loop {
        let mut query = sqlx::query(sql).bind(before).bind(CHUNK);
        if let Some(suffix) = kept_suffix {
            query = query.bind(suffix);
        }
        let removed = query
            .execute(&store.pool)
            .await
            .map_err(unavailable)?
            .rows_affected();
        total = total.saturating_add(removed);
        if removed < CHUNK.unsigned_abs() {
            return Ok(total);
        }
    }
}

pub(super) async fn prune(store: &PgStore, before: PruneBefore) -> Result<Pruned, StoreError> {
    let outbox = delete_all(
        store,
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
         WHERE state IN ('sent', 'dead') AND created_at < $1 LIMIT $2)",
        time_to_sql(before.outbox)?,
        None,
    )
    .await?;
    let idempotency = delete_all(
        store,
        "DELETE FROM idempotency WHERE (scope, key) IN (SELECT scope, key FROM idempotency \
         WHERE created_at < $1 LIMIT $2)",
        before.idempotency.timestamp_millis(),
        None,
    )
    .await?;
    let channel_state = delete_all(
        store,
        "DELETE FROM channel_state WHERE (channel_id, key) IN (SELECT channel_id, key \
         FROM channel_state WHERE updated_at < $1 AND right(key, length($3)) <> $3 LIMIT $2)",
        before.channel_state.timestamp_millis(),
        Some(KEPT_STATE_SUFFIX),
    )
    .await?;
    Ok(Pruned {
        outbox,
        idempotency,
        channel_state,
    })
}
