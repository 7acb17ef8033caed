//! PostgreSQL store: the state of several bridge instances in one database (selected by
//! `storage.state`), behind the same traits as the embedded SQLite store ([`Store`],
//! [`crate::payments::store::PaymentStore`], [`crate::templates::versions::TemplateStore`]).
//!
//! The guarantees the SQLite store gets from its single writer are expressed in SQL here:
//! single use through primary keys (`payment_challenges_used`, `idempotency`), moves as
//! compare-and-set (`UPDATE ... WHERE state = $from`), row locks (`SELECT ... FOR UPDATE`) where
//! a move reads before it writes, work claims with `FOR UPDATE SKIP LOCKED` (the outbox), and
//! transaction-scoped advisory locks where a check spans rows (daily spend limits, template
//! version numbers). Leases run on the database server's clock.
//!
//! Times are stored as BIGINT nanoseconds since the Unix epoch, as in SQLite, so both
//! backends order and round-trip them alike. The migrations ([`migrator`]) are applied at
//! start and by `omnibridge migrate`.

use std::str::FromStr;
use std::time::Duration;

use omnibridge_sdk::{
    ChannelKind, ConversationId, ConversationRef, DeliveryStatus, OutboundId, ProviderMessageId,
    Timestamp,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use super::{
    Conversation, ConversationTouch, IdempotentResponse, OutboxOutcome, OutboxRecord,
    ParticipantRecord, PruneBefore, Pruned, Store, StoreError,
};

mod conversations;
mod migrations;
mod outbox;
mod payments;
mod records;
mod templates;

pub use migrations::migrator;

/// The PostgreSQL store. Cheap to clone (a pool).
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

/// How [`PgStore::connect`] reaches the server.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Most connections kept open.
    pub max_connections: u32,
    /// How long to wait for a connection (and for the server at start).
    pub connect_timeout: Duration,
}

impl PgStore {
    /// Connects to `url` (a `postgres://` URL) without migrating.
    pub async fn connect(url: &str, options: &PgOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|error| StoreError::Unavailable(format!("bad postgres URL: {error}")))?
            .application_name("omnibridge");
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect)
            .await
            .map_err(unavailable)?;
        Ok(Self { pool })
    }

    /// Applies every migration this build has that the database lacks (one instance at a
    /// time: the migrator holds an advisory lock); answers how many were applied.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        migrations::apply(&self.pool).await
    }

    /// The connection pool (for tests and tools).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(unavailable)
    }
}

/// A driver error as a store error (decoding problems are corrupt data, the rest is the
/// server being unreachable or refusing).
fn unavailable(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(error.to_string())
        }
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// A timestamp as stored (nanoseconds since the epoch).
fn time_to_sql(at: Timestamp) -> Result<i64, StoreError> {
    at.timestamp_nanos_opt()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {at} out of the storable range")))
}

fn time_from_sql(nanos: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_nanos(nanos)
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn json_from_sql<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn json_to_sql<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A count or limit as SQL wants it.
fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Takes a transaction-scoped advisory lock named `name` (released at commit or rollback):
/// transactions taking the same name run one after the other.
async fn advisory_lock(tx: &mut Transaction<'_, Postgres>, name: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(name)
        .execute(&mut **tx)
        .await
        .map_err(unavailable)?;
    Ok(())
}

const CONVERSATION_COLUMNS: &str =
    "id, channel_id, channel, conversation, created_at, last_event_at, last_inbound_at";

fn conversation_from_row(row: &PgRow) -> Result<Conversation, StoreError> {
    let channel: String = row.try_get(2).map_err(unavailable)?;
    let conversation: String = row.try_get(3).map_err(unavailable)?;
    Ok(Conversation {
        id: ConversationId::new(row.try_get::<String, _>(0).map_err(unavailable)?),
        channel_id: row.try_get(1).map_err(unavailable)?,
        channel: ChannelKind::new(channel).map_err(StoreError::Corrupt)?,
        conversation: json_from_sql::<ConversationRef>(&conversation)?,
        created_at: time_from_sql(row.try_get(4).map_err(unavailable)?),
        last_event_at: time_from_sql(row.try_get(5).map_err(unavailable)?),
        last_inbound_at: row
            .try_get::<Option<i64>, _>(6)
            .map_err(unavailable)?
            .map(time_from_sql),
    })
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn touch_conversation(
        &self,
        id: &ConversationId,
        channel_id: &str,
        channel: &ChannelKind,
        conversation: &ConversationRef,
        at: Timestamp,
        inbound_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.touch_conversations(&[ConversationTouch {
            id: id.clone(),
            channel_id: channel_id.to_owned(),
            channel: channel.clone(),
            conversation: conversation.clone(),
            at,
            inbound_at,
            participants: Vec::new(),
        }])
        .await
    }

    async fn touch_conversations(&self, touches: &[ConversationTouch]) -> Result<(), StoreError> {
        conversations::touch(self, touches).await
    }

    async fn touch_participants(
        &self,
        conversation: &ConversationId,
        participants: &[omnibridge_sdk::Participant],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        conversations::touch_participants(self, conversation, participants, at).await
    }

    async fn participants(
        &self,
        conversation: &ConversationId,
    ) -> Result<Vec<ParticipantRecord>, StoreError> {
        conversations::participants(self, conversation).await
    }

    async fn conversation(&self, id: &ConversationId) -> Result<Option<Conversation>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(conversation_from_row).transpose()
    }

    async fn list_conversations(
        &self,
        before: Option<(Timestamp, ConversationId)>,
        limit: usize,
    ) -> Result<Vec<Conversation>, StoreError> {
        let (at, id) = match before {
            Some((at, id)) => (Some(time_to_sql(at)?), Some(id.as_str().to_owned())),
            None => (None, None),
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations \
             WHERE $1::BIGINT IS NULL OR (last_event_at, id) < ($1, $2) \
             ORDER BY last_event_at DESC, id DESC LIMIT $3"
        )))
        .bind(at)
        .bind(id)
        .bind(limit_to_sql(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(conversation_from_row).collect()
    }

    async fn enqueue_outbound(&self, record: &OutboxRecord) -> Result<(), StoreError> {
        outbox::enqueue(self, record).await
    }

    async fn lease_due_outbound(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        outbox::lease_due(self, now, lease, limit).await
    }

    async fn finish_outbound(
        &self,
        id: &OutboundId,
        outcome: OutboxOutcome,
    ) -> Result<(), StoreError> {
        outbox::finish(self, id, outcome).await
    }

    async fn outbound(&self, id: &OutboundId) -> Result<Option<OutboxRecord>, StoreError> {
        outbox::get(self, id).await
    }

    async fn outbox_depth(&self) -> Result<u64, StoreError> {
        outbox::depth(self).await
    }

    async fn idempotent_response(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        records::idempotent_response(&self.pool, scope, key).await
    }

    async fn save_idempotent_response(
        &self,
        scope: &str,
        key: &str,
        response: &IdempotentResponse,
    ) -> Result<IdempotentResponse, StoreError> {
        records::save_idempotent_response(self, scope, key, response).await
    }

    async fn record_dead_letter(
        &self,
        kind: &str,
        reference: &str,
        payload: &serde_json::Value,
        error: &str,
    ) -> Result<(), StoreError> {
        records::record_dead_letter(self, kind, reference, payload, error).await
    }

    /// Each dead letter as `{"reference", "payload", "error", "created_at_ms"}`, oldest first.
    async fn dead_letters(&self, kind: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        records::dead_letters(self, kind).await
    }

    async fn link_provider_messages(
        &self,
        channel_id: &str,
        outbound: &OutboundId,
        provider_ids: &[ProviderMessageId],
    ) -> Result<(), StoreError> {
        records::link_provider_messages(self, channel_id, outbound, provider_ids).await
    }

    async fn outbound_for_provider_message(
        &self,
        channel_id: &str,
        provider_id: &ProviderMessageId,
    ) -> Result<Option<OutboundId>, StoreError> {
        records::outbound_for_provider_message(self, channel_id, provider_id).await
    }

    async fn advance_delivery(
        &self,
        outbound: &OutboundId,
        status: DeliveryStatus,
    ) -> Result<bool, StoreError> {
        records::advance_delivery(self, outbound, status).await
    }

    async fn delivery_status(
        &self,
        outbound: &OutboundId,
    ) -> Result<Option<DeliveryStatus>, StoreError> {
        records::delivery_status(self, outbound).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        records::acquire_lease(self, name, holder, ttl).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        records::release_lease(self, name, holder).await
    }

    async fn channel_state(
        &self,
        channel_id: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        records::channel_state(self, channel_id, key).await
    }

    async fn set_channel_state(
        &self,
        channel_id: &str,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        records::set_channel_state(self, channel_id, key, value).await
    }

    async fn prune_channel_state(
        &self,
        channel_id: &str,
        prefix: &str,
        before: Timestamp,
    ) -> Result<u64, StoreError> {
        records::prune_channel_state(self, channel_id, prefix, before.timestamp_millis()).await
    }

    async fn set_channel_states(
        &self,
        channel_id: &str,
        entries: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        records::set_channel_states(self, channel_id, entries).await
    }

    async fn prune(&self, before: PruneBefore) -> Result<Pruned, StoreError> {
        records::prune(self, before).await
    }

    /// Nothing to do: PostgreSQL's autovacuum gives deleted rows' space back for reuse.
    async fn reclaim_space(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
