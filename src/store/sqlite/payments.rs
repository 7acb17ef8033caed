//! [`PaymentStore`] on SQLite: intents and consumed challenge ids, every change a
//! compare-and-set inside the single writer's transaction (`BEGIN IMMEDIATE` also serialises
//! writers of other processes sharing the file).

use omnibridge_sdk::{ConversationId, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::companions::{CompanionRows, record};
use super::spend::over_limit;
use super::{SqliteStore, json_from_sql, json_to_sql, time_from_sql, time_to_sql};
use crate::payments::intent::{IntentState, PaymentIntent, TransitionPatch};
use crate::payments::store::{
    BeginOutcome, Companions, InsertOutcome, IntentKey, PaymentStore, Recorded, SpendCheck,
};
use crate::sqlite::{DbError, now_millis};
use crate::store::StoreError;

const COLUMNS: &str = "id, conversation_id, amount, currency, description, external_id, locale, \
     expires_at, metadata, state, refunded_minor, method, reference, settled_at, created_at, \
     updated_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<PaymentIntent, DbError>> {
    let metadata: Option<String> = r.get(8)?;
    let state: String = r.get(9)?;
    let settled_at: Option<i64> = r.get(13)?;
    let build = move |metadata: Option<String>| -> Result<PaymentIntent, DbError> {
        Ok(PaymentIntent {
            id: r.get(0)?,
            conversation_id: ConversationId::new(r.get::<_, String>(1)?),
            amount: r.get(2)?,
            currency: r.get(3)?,
            description: r.get(4)?,
            external_id: r.get(5)?,
            locale: r.get(6)?,
            expires_at: time_from_sql(r.get(7)?),
            metadata: metadata.as_deref().map(json_from_sql).transpose()?,
            state: IntentState::parse(&state)
                .ok_or_else(|| DbError::Corrupt(format!("unknown intent state {state:?}")))?,
            refunded_minor: r.get(10)?,
            method: r.get(11)?,
            reference: r.get(12)?,
            settled_at: settled_at.map(time_from_sql),
            created_at: time_from_sql(r.get(14)?),
            updated_at: time_from_sql(r.get(15)?),
        })
    };
    Ok(build(metadata))
}

fn find(conn: &Connection, id: &str) -> Result<Option<PaymentIntent>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM payment_intents WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?
        .transpose()
}

/// What an idempotency key already names.
enum Keyed {
    /// Nothing yet: create the intent and record the key.
    New,
    /// The intent created under this key with the same request.
    Found(Box<PaymentIntent>),
    /// The key was used with another request.
    Conflict,
}

/// Looks `key` up in the API idempotency records (its body holds the intent's `id`).
fn keyed_intent(conn: &Connection, key: &IntentKey) -> Result<Keyed, DbError> {
    let row: Option<(String, String)> = conn
        .prepare_cached("SELECT fingerprint, body FROM idempotency WHERE scope = ?1 AND key = ?2")?
        .query_row(params![key.scope, key.key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((fingerprint, body)) = row else {
        return Ok(Keyed::New);
    };
    if fingerprint != key.fingerprint {
        return Ok(Keyed::Conflict);
    }
    let body: serde_json::Value = json_from_sql(&body)?;
    let id = body["id"]
        .as_str()
        .ok_or_else(|| DbError::Corrupt("idempotency record without an intent id".to_owned()))?;
    let intent = find(conn, id)?
        .ok_or_else(|| DbError::Corrupt("idempotency record names no intent".to_owned()))?;
    Ok(Keyed::Found(Box::new(intent)))
}

/// Records that `key` created the intent `id` (in the caller's write transaction).
fn record_key(conn: &Connection, key: &IntentKey, id: &str) -> Result<(), DbError> {
    let body = json_to_sql(&serde_json::json!({ "id": id }))?;
    conn.prepare_cached(
        "INSERT INTO idempotency (scope, key, fingerprint, status, body, created_at) \
         VALUES (?1, ?2, ?3, 201, ?4, ?5)",
    )?
    .execute(params![
        key.scope,
        key.key,
        key.fingerprint,
        body,
        now_millis()
    ])?;
    Ok(())
}

fn now_sql() -> Result<i64, DbError> {
    time_to_sql(chrono::Utc::now())
}

#[async_trait::async_trait]
impl PaymentStore for SqliteStore {
    async fn insert_intent(
        &self,
        intent: &PaymentIntent,
        key: Option<&IntentKey>,
        spend: Option<&SpendCheck>,
    ) -> Result<InsertOutcome, StoreError> {
        let i = intent.clone();
        let key = key.cloned();
        let spend = spend.cloned();
        let metadata = i.metadata.as_ref().map(json_to_sql).transpose()?;
        let times = (
            time_to_sql(i.expires_at)?,
            time_to_sql(i.created_at)?,
            time_to_sql(i.updated_at)?,
        );
        let outcome = self
            .database()
            .write(move |conn| {
                if let Some(key) = &key {
                    match keyed_intent(conn, key)? {
                        Keyed::Found(stored) => return Ok(Some(InsertOutcome::Existing(stored))),
                        Keyed::Conflict => return Ok(None),
                        Keyed::New => {}
                    }
                }
                if find(conn, &i.id)?.is_none()
                    && let Some(check) = &spend
                    && let Some(refusal) = over_limit(conn, check, &i)?
                {
                    // Nothing written: the key stays free for a retry within the limits.
                    return Ok(Some(InsertOutcome::OverLimit(refusal)));
                }
                if let Some(key) = &key {
                    record_key(conn, key, &i.id)?;
                }
                let inserted = conn
                    .prepare_cached(&format!(
                        "INSERT INTO payment_intents ({COLUMNS}, created_by_key) VALUES \
                         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, NULL, NULL, ?12, ?13, \
                         ?14) ON CONFLICT (id) DO NOTHING"
                    ))?
                    .execute(params![
                        i.id,
                        i.conversation_id.as_str(),
                        i.amount,
                        i.currency,
                        i.description,
                        i.external_id,
                        i.locale,
                        times.0,
                        metadata,
                        i.state.as_str(),
                        i.refunded_minor,
                        times.1,
                        times.2,
                        spend.as_ref().map(|check| check.key_name.as_str())
                    ])?;
                let stored = Box::new(
                    find(conn, &i.id)?
                        .ok_or_else(|| DbError::Corrupt("payment intent vanished".to_owned()))?,
                );
                Ok(Some(if inserted == 1 {
                    InsertOutcome::Created(stored)
                } else {
                    InsertOutcome::Existing(stored)
                }))
            })
            .await?;
        outcome.ok_or(StoreError::IdempotencyConflict)
    }

    async fn intent(&self, id: &str) -> Result<Option<PaymentIntent>, StoreError> {
        let id = id.to_owned();
        Ok(self
            .database()
            .read_point(move |conn| find(conn, &id))
            .await?)
    }

    async fn intents_for(
        &self,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Vec<PaymentIntent>, StoreError> {
        let conversation = conversation.as_str().to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .database()
            .read(move |conn| {
                let sql = format!(
                    "SELECT {COLUMNS} FROM payment_intents WHERE conversation_id = ?1 \
                     ORDER BY created_at DESC, id DESC LIMIT ?2"
                );
                conn.prepare_cached(&sql)?
                    .query_map(params![conversation, limit], from_row)?
                    .map(|row| row.map_err(DbError::from).and_then(|intent| intent))
                    .collect()
            })
            .await?)
    }

    async fn transition(
        &self,
        id: &str,
        from: IntentState,
        to: IntentState,
        patch: TransitionPatch,
    ) -> Result<Option<PaymentIntent>, StoreError> {
        let (moved, _) = self
            .transition_with(id, from, to, patch, &Companions::default())
            .await?;
        Ok(moved)
    }

    async fn transition_with(
        &self,
        id: &str,
        from: IntentState,
        to: IntentState,
        patch: TransitionPatch,
        companions: &Companions,
    ) -> Result<(Option<PaymentIntent>, Recorded), StoreError> {
        let id = id.to_owned();
        let settled_at = patch.settled_at.map(time_to_sql).transpose()?;
        let rows = CompanionRows::of(self, companions);
        Ok(self
            .database()
            .write(move |conn| {
                // The moved row comes back from the UPDATE itself (no second read).
                let sql = format!(
                    "UPDATE payment_intents SET state = ?3, updated_at = ?4, \
                     method = coalesce(?5, method), reference = coalesce(?6, reference), \
                     settled_at = coalesce(?7, settled_at) \
                     WHERE id = ?1 AND state = ?2 RETURNING {COLUMNS}"
                );
                let moved = conn
                    .prepare_cached(&sql)?
                    .query_row(
                        params![
                            id,
                            from.as_str(),
                            to.as_str(),
                            now_sql()?,
                            patch.method,
                            patch.reference,
                            settled_at
                        ],
                        from_row,
                    )
                    .optional()?
                    .transpose()?;
                let Some(moved) = moved else {
                    return Ok((None, Recorded::No));
                };
                Ok((Some(moved), record(conn, rows)?))
            })
            .await?)
    }

    async fn begin_confirmation(
        &self,
        intent_id: &str,
        challenge_id: &str,
        challenge_expires: Timestamp,
        companions: &Companions,
    ) -> Result<(BeginOutcome, Recorded), StoreError> {
        let (intent_id, challenge_id) = (intent_id.to_owned(), challenge_id.to_owned());
        let expires = time_to_sql(challenge_expires)?;
        let rows = CompanionRows::of(self, companions);
        Ok(self
            .database()
            .write(move |conn| {
                let Some(intent) = find(conn, &intent_id)? else {
                    return Ok((BeginOutcome::UnknownIntent, Recorded::No));
                };
                if intent.state != IntentState::RequiresConfirmation {
                    return Ok((BeginOutcome::NotConfirmable(intent.state), Recorded::No));
                }
                let now = now_sql()?;
                let consumed = conn
                    .prepare_cached(
                        "INSERT INTO payment_challenges_used \
                         (challenge_id, intent_id, expires_at, used_at) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (challenge_id) DO NOTHING",
                    )?
                    .execute(params![challenge_id, intent_id, expires, now])?;
                if consumed == 0 {
                    return Ok((BeginOutcome::ChallengeUsed, Recorded::No));
                }
                let changed = conn
                    .prepare_cached(
                        "UPDATE payment_intents SET state = 'processing', updated_at = ?2 \
                         WHERE id = ?1 AND state = 'requires_confirmation'",
                    )?
                    .execute(params![intent_id, now])?;
                if changed != 1 {
                    // Unreachable inside one write transaction; fail the job so the consumed
                    // id is rolled back with it.
                    return Err(DbError::Corrupt("intent moved under the writer".to_owned()));
                }
                // What the UPDATE made of the row read above (no second read).
                let mut intent = intent;
                intent.state = IntentState::Processing;
                intent.updated_at = super::time_from_sql(now);
                Ok((BeginOutcome::Started(Box::new(intent)), record(conn, rows)?))
            })
            .await?)
    }

    async fn record_refund(
        &self,
        id: &str,
        refunded_before: i64,
        amount: i64,
    ) -> Result<Option<PaymentIntent>, StoreError> {
        let id = id.to_owned();
        Ok(self
            .database()
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE payment_intents SET refunded_minor = refunded_minor + ?3, \
                         state = CASE WHEN refunded_minor + ?3 >= amount THEN 'refunded' \
                                      ELSE 'partially_refunded' END, updated_at = ?4 \
                         WHERE id = ?1 AND refunded_minor = ?2 \
                         AND state IN ('succeeded', 'partially_refunded') \
                         AND refunded_minor + ?3 <= amount",
                    )?
                    .execute(params![id, refunded_before, amount, now_sql()?])?;
                if changed == 1 {
                    find(conn, &id)
                } else {
                    Ok(None)
                }
            })
            .await?)
    }

    async fn intent_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<PaymentIntent>, StoreError> {
        let reference = reference.to_owned();
        Ok(self
            .database()
            .read(move |conn| {
                let sql =
                    format!("SELECT {COLUMNS} FROM payment_intents WHERE reference = ?1 LIMIT 1");
                conn.prepare_cached(&sql)?
                    .query_row([reference], from_row)
                    .optional()?
                    .transpose()
            })
            .await?)
    }

    async fn overdue_intents(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let now = time_to_sql(now)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .database()
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT id FROM payment_intents WHERE state IN (?1, ?2) AND expires_at <= ?3 \
                     ORDER BY expires_at LIMIT ?4",
                )?
                .query_map(
                    params![
                        IntentState::RequiresConfirmation.as_str(),
                        IntentState::RequiresApproval.as_str(),
                        now,
                        limit
                    ],
                    |row| row.get::<_, String>(0),
                )?
                .map(|row| row.map_err(DbError::from))
                .collect()
            })
            .await?)
    }

    async fn processing_intents(
        &self,
        updated_before: Timestamp,
        limit: usize,
    ) -> Result<Vec<PaymentIntent>, StoreError> {
        let before = time_to_sql(updated_before)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .database()
            .read(move |conn| {
                let sql = format!(
                    "SELECT {COLUMNS} FROM payment_intents WHERE state = ?1 AND updated_at <= ?2 \
                     ORDER BY updated_at LIMIT ?3"
                );
                conn.prepare_cached(&sql)?
                    .query_map(
                        params![IntentState::Processing.as_str(), before, limit],
                        from_row,
                    )?
                    .map(|row| row.map_err(DbError::from).and_then(|intent| intent))
                    .collect()
            })
            .await?)
    }

    async fn mark_disputed(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        Ok(self
            .database()
            .write(move |conn| {
                let now = now_sql()?;
                let changed = conn
                    .prepare_cached(
                        "UPDATE payment_intents SET disputed_at = ?2, updated_at = ?2 \
                         WHERE id = ?1 AND disputed_at IS NULL",
                    )?
                    .execute(params![id, now])?;
                Ok(changed == 1)
            })
            .await?)
    }
}
