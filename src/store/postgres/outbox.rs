//! The outbox on PostgreSQL. Leasing is one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE
//! SKIP LOCKED)`: workers of several instances claim disjoint records at once, and a record
//! whose lease another worker just took is re-checked by the server and skipped.

use std::time::Duration;

use omnibridge_sdk::{ConversationId, OutboundId, Timestamp};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::unavailable;
use super::{PgStore, json_from_sql, json_to_sql, limit_to_sql, time_from_sql, time_to_sql};
use crate::store::sqlite::outbox::{state_from_sql, state_to_sql};
use crate::store::{OutboxOutcome, OutboxRecord, OutboxState, StoreError};

const COLUMNS: &str = "id, conversation_id, message, attempts, state, last_error, created_at";

fn record_from_row(row: &PgRow) -> Result<OutboxRecord, StoreError> {
    let message: String = row.try_get(2).map_err(unavailable)?;
    let attempts: i32 = row.try_get(3).map_err(unavailable)?;
    let state: String = row.try_get(4).map_err(unavailable)?;
    Ok(OutboxRecord {
        id: OutboundId::new(row.try_get::<String, _>(0).map_err(unavailable)?),
        conversation_id: ConversationId::new(row.try_get::<String, _>(1).map_err(unavailable)?),
        message: json_from_sql(&message)?,
        attempts: u32::try_from(attempts)
            .map_err(|_| StoreError::Corrupt(format!("outbox attempts {attempts}")))?,
        state: state_from_sql(&state)?,
        last_error: row.try_get(5).map_err(unavailable)?,
        created_at: time_from_sql(row.try_get(6).map_err(unavailable)?),
    })
}

/// Stores `record`, due at its `created_at`; an id already queued is left as it is.
pub(super) async fn enqueue(store: &PgStore, record: &OutboxRecord) -> Result<(), StoreError> {
    let created = time_to_sql(record.created_at)?;
    sqlx::query(
        "INSERT INTO outbox (id, conversation_id, message, attempts, state, last_error, \
         created_at, due_at, lease_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, NULL) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(record.id.as_str())
    .bind(record.conversation_id.as_str())
    .bind(json_to_sql(&record.message)?)
    .bind(i32::try_from(record.attempts).unwrap_or(i32::MAX))
    .bind(state_to_sql(record.state))
    .bind(record.last_error.as_deref())
    .bind(created)
    .execute(&store.pool)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// Leases up to `limit` due records until `now + lease`, oldest due first.
pub(super) async fn lease_due(
    store: &PgStore,
    now: Timestamp,
    lease: Duration,
    limit: usize,
) -> Result<Vec<OutboxRecord>, StoreError> {
    let now_ns = time_to_sql(now)?;
    let until = now_ns.saturating_add(i64::try_from(lease.as_nanos()).unwrap_or(i64::MAX));
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET lease_until = $1 WHERE id IN (\
           SELECT id FROM outbox WHERE state = 'pending' AND due_at <= $2 \
           AND (lease_until IS NULL OR lease_until <= $2) \
           ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING {COLUMNS}, due_at"
    )))
    .bind(until)
    .bind(now_ns)
    .bind(limit_to_sql(limit))
    .fetch_all(&store.pool)
    .await
    .map_err(unavailable)?;
    let mut leased = rows
        .iter()
        .map(|row| {
            Ok((
                row.try_get::<i64, _>(7).map_err(unavailable)?,
                record_from_row(row)?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    leased.sort_by(|a, b| (a.0, a.1.id.as_str()).cmp(&(b.0, b.1.id.as_str())));
    Ok(leased.into_iter().map(|(_, record)| record).collect())
}

/// Counts the attempt, releases the lease and records the outcome.
pub(super) async fn finish(
    store: &PgStore,
    id: &OutboundId,
    outcome: OutboxOutcome,
) -> Result<(), StoreError> {
    let (state, due, error) = match outcome {
        OutboxOutcome::Sent => (OutboxState::Sent, None, None),
        OutboxOutcome::Retry { at, error } => {
            (OutboxState::Pending, Some(time_to_sql(at)?), Some(error))
        }
        OutboxOutcome::Dead { error } => (OutboxState::Dead, None, Some(error)),
    };
    if state == OutboxState::Dead {
        tracing::warn!(outbound_id = %id, "outbox record dead");
    }
    let changed = sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, lease_until = NULL, state = $1, \
         due_at = coalesce($2, due_at), last_error = coalesce($3, last_error) WHERE id = $4",
    )
    .bind(state_to_sql(state))
    .bind(due)
    .bind(error)
    .bind(id.as_str())
    .execute(&store.pool)
    .await
    .map_err(unavailable)?
    .rows_affected();
    if changed == 0 {
        tracing::warn!(outbound_id = %id, "finish_outbound for an unknown outbox record");
    }
    Ok(())
}

/// One record.
pub(super) async fn get(
    store: &PgStore,
    id: &OutboundId,
) -> Result<Option<OutboxRecord>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM outbox WHERE id = $1"
    )))
    .bind(id.as_str())
    .fetch_optional(&store.pool)
    .await
    .map_err(unavailable)?;
    row.as_ref().map(record_from_row).transpose()
}

/// Records still pending.
pub(super) async fn depth(store: &PgStore) -> Result<u64, StoreError> {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = 'pending'")
        .fetch_one(&store.pool)
        .await
        .map_err(unavailable)?;
    Ok(u64::try_from(count).unwrap_or(0))
}
