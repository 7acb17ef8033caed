//! API idempotency records (first writer wins) and dead letters on SQLite.

use rusqlite::{Connection, OptionalExtension, params};

use super::{json_from_sql, json_to_sql};
use crate::sqlite::{Database, DbError, now_millis};
use crate::store::{IdempotentResponse, StoreError};

pub(super) async fn idempotent_response(
    db: &Database,
    scope: &str,
    key: &str,
) -> Result<Option<IdempotentResponse>, StoreError> {
    let (scope, key) = (scope.to_owned(), key.to_owned());
    Ok(db
        .read_point(move |conn| find_idempotent(conn, &scope, &key))
        .await?)
}

pub(super) async fn save_idempotent_response(
    db: &Database,
    scope: &str,
    key: &str,
    response: &IdempotentResponse,
) -> Result<IdempotentResponse, StoreError> {
    let (scope, key) = (scope.to_owned(), key.to_owned());
    let (fingerprint, status) = (response.fingerprint.clone(), response.status);
    let body = json_to_sql(&response.body)?;
    let stored = db
        .write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO idempotency (scope, key, fingerprint, status, body, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (scope, key) DO NOTHING",
            )?
            .execute(params![scope, key, fingerprint, status, body, now_millis()])?;
            find_idempotent(conn, &scope, &key)?
                .ok_or_else(|| DbError::Corrupt("idempotency record vanished".to_owned()))
        })
        .await?;
    Ok(stored)
}

pub(super) async fn record_dead_letter(
    db: &Database,
    kind: &str,
    reference: &str,
    payload: &serde_json::Value,
    error: &str,
) -> Result<(), StoreError> {
    let row = (
        kind.to_owned(),
        reference.to_owned(),
        json_to_sql(payload)?,
        error.to_owned(),
    );
    tracing::warn!(kind, reference, "dead letter recorded");
    db.write(move |conn| {
        conn.prepare_cached(
            "INSERT INTO dead_letters (kind, reference, payload, error, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![row.0, row.1, row.2, row.3, now_millis()])?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// Each dead letter as `{"reference", "payload", "error", "created_at_ms"}`, oldest first.
pub(super) async fn dead_letters(
    db: &Database,
    kind: &str,
) -> Result<Vec<serde_json::Value>, StoreError> {
    let kind = kind.to_owned();
    let rows = db
        .read(move |conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT reference, payload, error, created_at FROM dead_letters \
                     WHERE kind = ?1 ORDER BY id",
                )?
                .query_map([kind], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get(2)?,
                        r.get(3)?,
                    ))
                })?
                .collect::<Result<Vec<(String, String, String, i64)>, _>>()?;
            rows.into_iter()
                .map(|(reference, payload, error, at)| {
                    Ok(serde_json::json!({
                        "reference": reference,
                        "payload": json_from_sql::<serde_json::Value>(&payload)?,
                        "error": error,
                        "created_at_ms": at,
                    }))
                })
                .collect::<Result<Vec<_>, DbError>>()
        })
        .await?;
    Ok(rows)
}

fn find_idempotent(
    conn: &Connection,
    scope: &str,
    key: &str,
) -> Result<Option<IdempotentResponse>, DbError> {
    let row = conn
        .prepare_cached(
            "SELECT fingerprint, status, body FROM idempotency WHERE scope = ?1 AND key = ?2",
        )?
        .query_row(params![scope, key], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u16>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    row.map(|(fingerprint, status, body)| {
        Ok(IdempotentResponse {
            fingerprint,
            status,
            body: json_from_sql(&body)?,
        })
    })
    .transpose()
}
