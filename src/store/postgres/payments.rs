//! Payment intents on PostgreSQL. A confirmation locks the intent's row (`FOR UPDATE`),
//! consumes the challenge id through its primary key and moves the intent in one
//! transaction: racing payers on any instance get one `Started`. Creating under an
//! idempotency key or a daily limit takes an advisory lock on the key (and on the API key's
//! name), so concurrent creates see each other's rows. The bus is not in this database:
//! companions are never recorded here ([`Recorded::No`]); the engine appends them after the
//! move.

use omnibridge_sdk::{ConversationId, Timestamp};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};

use super::{
    PgStore, advisory_lock, json_from_sql, json_to_sql, limit_to_sql, time_from_sql, time_to_sql,
    unavailable,
};
use crate::payments::intent::{IntentState, PaymentIntent, TransitionPatch};
use crate::payments::store::{
    BeginOutcome, Companions, InsertOutcome, IntentKey, PaymentStore, Recorded, SpendCheck,
    SpendRefusal, UNCOUNTED_STATES,
};
use crate::store::StoreError;

const COLUMNS: &str = "id, conversation_id, amount, currency, description, external_id, locale, \
     expires_at, metadata, state, refunded_minor, method, reference, settled_at, created_at, \
     updated_at";

fn from_row(row: &PgRow) -> Result<PaymentIntent, StoreError> {
    let get_err = unavailable;
    let metadata: Option<String> = row.try_get(8).map_err(get_err)?;
    let state: String = row.try_get(9).map_err(get_err)?;
    Ok(PaymentIntent {
        id: row.try_get(0).map_err(get_err)?,
        conversation_id: ConversationId::new(row.try_get::<String, _>(1).map_err(get_err)?),
        amount: row.try_get(2).map_err(get_err)?,
        currency: row.try_get(3).map_err(get_err)?,
        description: row.try_get(4).map_err(get_err)?,
        external_id: row.try_get(5).map_err(get_err)?,
        locale: row.try_get(6).map_err(get_err)?,
        expires_at: time_from_sql(row.try_get(7).map_err(get_err)?),
        metadata: metadata.as_deref().map(json_from_sql).transpose()?,
        state: IntentState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown intent state {state:?}")))?,
        refunded_minor: row.try_get(10).map_err(get_err)?,
        method: row.try_get(11).map_err(get_err)?,
        reference: row.try_get(12).map_err(get_err)?,
        settled_at: row
            .try_get::<Option<i64>, _>(13)
            .map_err(get_err)?
            .map(time_from_sql),
        created_at: time_from_sql(row.try_get(14).map_err(get_err)?),
        updated_at: time_from_sql(row.try_get(15).map_err(get_err)?),
    })
}

/// One intent, in `tx`, locked for update when `lock`.
async fn find(
    tx: &mut Transaction<'_, Postgres>,
    id: &str,
    lock: bool,
) -> Result<Option<PaymentIntent>, StoreError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM payment_intents WHERE id = $1{lock}"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(unavailable)?;
    row.as_ref().map(from_row).transpose()
}

fn now_sql() -> Result<i64, StoreError> {
    time_to_sql(chrono::Utc::now())
}

/// What an idempotency key already names.
enum Keyed {
    New,
    Found(Box<PaymentIntent>),
    Conflict,
}

async fn keyed_intent(
    tx: &mut Transaction<'_, Postgres>,
    key: &IntentKey,
) -> Result<Keyed, StoreError> {
    let row =
        sqlx::query("SELECT fingerprint, body FROM idempotency WHERE scope = $1 AND key = $2")
            .bind(&key.scope)
            .bind(&key.key)
            .fetch_optional(&mut **tx)
            .await
            .map_err(unavailable)?;
    let Some(row) = row else {
        return Ok(Keyed::New);
    };
    let fingerprint: String = row.try_get(0).map_err(unavailable)?;
    if fingerprint != key.fingerprint {
        return Ok(Keyed::Conflict);
    }
    let body: serde_json::Value =
        json_from_sql(&row.try_get::<String, _>(1).map_err(unavailable)?)?;
    let id = body["id"]
        .as_str()
        .ok_or_else(|| StoreError::Corrupt("idempotency record without an intent id".to_owned()))?;
    let intent = find(tx, id, false)
        .await?
        .ok_or_else(|| StoreError::Corrupt("idempotency record names no intent".to_owned()))?;
    Ok(Keyed::Found(Box::new(intent)))
}

/// What the API key spent in the currency since the window's start (in one conversation
/// when given), not counting intents that can never be paid.
async fn spent(
    tx: &mut Transaction<'_, Postgres>,
    check: &SpendCheck,
    conversation: Option<&str>,
) -> Result<i64, StoreError> {
    let uncounted: Vec<&str> = UNCOUNTED_STATES
        .iter()
        .map(|state| state.as_str())
        .collect();
    let total: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(amount), 0)::BIGINT FROM payment_intents \
         WHERE created_by_key = $1 AND currency = $2 AND created_at >= $3 \
         AND ($4::TEXT IS NULL OR conversation_id = $4) AND state <> ALL($5::TEXT[])",
    )
    .bind(&check.key_name)
    .bind(&check.currency)
    .bind(time_to_sql(check.since)?)
    .bind(conversation)
    .bind(uncounted)
    .fetch_one(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(total)
}

/// The first daily limit the intent would exceed, if any.
async fn over_limit(
    tx: &mut Transaction<'_, Postgres>,
    check: &SpendCheck,
    intent: &PaymentIntent,
) -> Result<Option<SpendRefusal>, StoreError> {
    for (limit, limit_minor, conversation) in check.limits(intent) {
        let used = spent(tx, check, conversation).await?;
        if let Some(refusal) = SpendRefusal::of(limit, limit_minor, used, intent.amount) {
            return Ok(Some(refusal));
        }
    }
    Ok(None)
}

async fn insert_row(
    tx: &mut Transaction<'_, Postgres>,
    i: &PaymentIntent,
    created_by: Option<&str>,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO payment_intents ({COLUMNS}, created_by_key) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL, NULL, $12, $13, $14) \
         ON CONFLICT (id) DO NOTHING"
    )))
    .bind(&i.id)
    .bind(i.conversation_id.as_str())
    .bind(i.amount)
    .bind(&i.currency)
    .bind(&i.description)
    .bind(i.external_id.as_deref())
    .bind(&i.locale)
    .bind(time_to_sql(i.expires_at)?)
    .bind(i.metadata.as_ref().map(json_to_sql).transpose()?)
    .bind(i.state.as_str())
    .bind(i.refunded_minor)
    .bind(time_to_sql(i.created_at)?)
    .bind(time_to_sql(i.updated_at)?)
    .bind(created_by)
    .execute(&mut **tx)
    .await
    .map_err(unavailable)?
    .rows_affected();
    Ok(inserted == 1)
}

#[async_trait::async_trait]
impl PaymentStore for PgStore {
    async fn insert_intent(
        &self,
        intent: &PaymentIntent,
        key: Option<&IntentKey>,
        spend: Option<&SpendCheck>,
    ) -> Result<InsertOutcome, StoreError> {
        let mut tx = self.begin().await?;
        if let Some(key) = key {
            advisory_lock(&mut tx, &format!("intent-key\n{}\n{}", key.scope, key.key)).await?;
            match keyed_intent(&mut tx, key).await? {
                Keyed::Found(stored) => return Ok(InsertOutcome::Existing(stored)),
                Keyed::Conflict => return Err(StoreError::IdempotencyConflict),
                Keyed::New => {}
            }
        }
        if let Some(check) = spend {
            advisory_lock(&mut tx, &format!("spend\n{}", check.key_name)).await?;
            if find(&mut tx, &intent.id, false).await?.is_none()
                && let Some(refusal) = over_limit(&mut tx, check, intent).await?
            {
                return Ok(InsertOutcome::OverLimit(refusal));
            }
        }
        if let Some(key) = key {
            sqlx::query(
                "INSERT INTO idempotency (scope, key, fingerprint, status, body, created_at) \
                 VALUES ($1, $2, $3, 201, $4, $5)",
            )
            .bind(&key.scope)
            .bind(&key.key)
            .bind(&key.fingerprint)
            .bind(json_to_sql(&serde_json::json!({ "id": intent.id }))?)
            .bind(chrono::Utc::now().timestamp_millis())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        let created = insert_row(&mut tx, intent, spend.map(|c| c.key_name.as_str())).await?;
        let stored = Box::new(
            find(&mut tx, &intent.id, false)
                .await?
                .ok_or_else(|| StoreError::Corrupt("payment intent vanished".to_owned()))?,
        );
        tx.commit().await.map_err(unavailable)?;
        Ok(if created {
            InsertOutcome::Created(stored)
        } else {
            InsertOutcome::Existing(stored)
        })
    }

    async fn intent(&self, id: &str) -> Result<Option<PaymentIntent>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM payment_intents WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn intents_for(
        &self,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Vec<PaymentIntent>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM payment_intents WHERE conversation_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        )))
        .bind(conversation.as_str())
        .bind(limit_to_sql(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(from_row).collect()
    }

    async fn transition(
        &self,
        id: &str,
        from: IntentState,
        to: IntentState,
        patch: TransitionPatch,
    ) -> Result<Option<PaymentIntent>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE payment_intents SET state = $3, updated_at = $4, \
             method = coalesce($5, method), reference = coalesce($6, reference), \
             settled_at = coalesce($7, settled_at) \
             WHERE id = $1 AND state = $2 RETURNING {COLUMNS}"
        )))
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now_sql()?)
        .bind(patch.method)
        .bind(patch.reference)
        .bind(patch.settled_at.map(time_to_sql).transpose()?)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn transition_with(
        &self,
        id: &str,
        from: IntentState,
        to: IntentState,
        patch: TransitionPatch,
        _companions: &Companions,
    ) -> Result<(Option<PaymentIntent>, Recorded), StoreError> {
        Ok((self.transition(id, from, to, patch).await?, Recorded::No))
    }

    async fn begin_confirmation(
        &self,
        intent_id: &str,
        challenge_id: &str,
        challenge_expires: Timestamp,
        _companions: &Companions,
    ) -> Result<(BeginOutcome, Recorded), StoreError> {
        let mut tx = self.begin().await?;
        let Some(mut intent) = find(&mut tx, intent_id, true).await? else {
            return Ok((BeginOutcome::UnknownIntent, Recorded::No));
        };
        if intent.state != IntentState::RequiresConfirmation {
            return Ok((BeginOutcome::NotConfirmable(intent.state), Recorded::No));
        }
        let now = now_sql()?;
        let consumed = sqlx::query(
            "INSERT INTO payment_challenges_used (challenge_id, intent_id, expires_at, used_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (challenge_id) DO NOTHING",
        )
        .bind(challenge_id)
        .bind(intent_id)
        .bind(time_to_sql(challenge_expires)?)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if consumed == 0 {
            return Ok((BeginOutcome::ChallengeUsed, Recorded::No));
        }
        let moved = sqlx::query(
            "UPDATE payment_intents SET state = 'processing', updated_at = $2 \
             WHERE id = $1 AND state = 'requires_confirmation'",
        )
        .bind(intent_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if moved != 1 {
            return Err(StoreError::Corrupt(
                "intent moved under its row lock".to_owned(),
            ));
        }
        tx.commit().await.map_err(unavailable)?;
        intent.state = IntentState::Processing;
        intent.updated_at = time_from_sql(now);
        Ok((BeginOutcome::Started(Box::new(intent)), Recorded::No))
    }

    async fn record_refund(
        &self,
        id: &str,
        refunded_before: i64,
        amount: i64,
    ) -> Result<Option<PaymentIntent>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE payment_intents SET refunded_minor = refunded_minor + $3, \
             state = CASE WHEN refunded_minor + $3 >= amount THEN 'refunded' \
                          ELSE 'partially_refunded' END, updated_at = $4 \
             WHERE id = $1 AND refunded_minor = $2 \
             AND state IN ('succeeded', 'partially_refunded') AND refunded_minor + $3 <= amount \
             RETURNING {COLUMNS}"
        )))
        .bind(id)
        .bind(refunded_before)
        .bind(amount)
        .bind(now_sql()?)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn intent_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<PaymentIntent>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM payment_intents WHERE reference = $1 LIMIT 1"
        )))
        .bind(reference)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn mark_disputed(&self, id: &str) -> Result<bool, StoreError> {
        let now = now_sql()?;
        let changed = sqlx::query(
            "UPDATE payment_intents SET disputed_at = $2, updated_at = $2 \
             WHERE id = $1 AND disputed_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?
        .rows_affected();
        Ok(changed == 1)
    }

    async fn overdue_intents(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT id FROM payment_intents WHERE state IN ($1, $2) AND expires_at <= $3 \
             ORDER BY expires_at LIMIT $4",
        )
        .bind(IntentState::RequiresConfirmation.as_str())
        .bind(IntentState::RequiresApproval.as_str())
        .bind(time_to_sql(now)?)
        .bind(limit_to_sql(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)
    }

    async fn processing_intents(
        &self,
        updated_before: Timestamp,
        limit: usize,
    ) -> Result<Vec<PaymentIntent>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM payment_intents WHERE state = $1 AND updated_at <= $2 \
             ORDER BY updated_at LIMIT $3"
        )))
        .bind(IntentState::Processing.as_str())
        .bind(time_to_sql(updated_before)?)
        .bind(limit_to_sql(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(from_row).collect()
    }
}
