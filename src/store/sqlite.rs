//! SQLite store: the embedded backend of [`Store`], on the same [`Database`] (file and
//! writer thread) as the bus.
//!
//! Times are stored as integer nanoseconds since the Unix epoch (UTC), so ordering is numeric
//! and values round-trip exactly. Writes go through the database's single writer (group
//! commit); the outbox lease is an `UPDATE ... WHERE` the lease has run out inside that write
//! transaction, so two processes sharing the file never lease one record twice (see the
//! `outbox` submodule).

use omnibridge_sdk::{
    ChannelKind, ConversationId, ConversationRef, DeliveryStatus, OutboundId, ProviderMessageId,
    Timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    Conversation, ConversationTouch, IdempotentResponse, OutboxOutcome, OutboxRecord,
    ParticipantRecord, PruneBefore, Pruned, Store, StoreError,
};
use crate::sqlite::{Database, DbError, deferred};

mod channel_state;
mod companions;
pub(super) mod deliveries;
mod leases;
pub(super) mod outbox;
pub(super) mod participants;
mod payments;
mod records;
mod retention;
mod spend;
pub mod templates;
mod touches;

pub use deliveries::{advance_in, link_in};
pub use outbox::finish_sent_once;
pub use touches::TouchRows;

/// The SQLite store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    db: Database,
    /// Whether the bus is the SQLite bus on this same database: then the payment store
    /// appends `payment.*` events in the same transaction as the intent's move.
    bus_colocated: bool,
}

impl SqliteStore {
    /// A store on `db`.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            bus_colocated: false,
        }
    }

    /// Declares that the bus is the SQLite bus ([`crate::bus::sqlite::SqliteBus`]) on this
    /// store's database, so intent moves record their `payment.*` events in their own
    /// transaction (one write, one commit) instead of a separate append.
    pub fn with_colocated_bus(mut self) -> Self {
        self.bus_colocated = true;
        self
    }

    /// The database this store lives in.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

impl From<DbError> for StoreError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Corrupt(reason) => Self::Corrupt(reason),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// A timestamp as stored (nanoseconds since the epoch).
pub(super) fn time_to_sql(at: Timestamp) -> Result<i64, DbError> {
    at.timestamp_nanos_opt()
        .ok_or_else(|| DbError::Corrupt(format!("timestamp {at} out of the storable range")))
}

fn time_from_sql(nanos: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_nanos(nanos)
}

fn json_from_sql<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, DbError> {
    serde_json::from_str(text).map_err(|e| DbError::Corrupt(e.to_string()))
}

fn json_to_sql<T: serde::Serialize>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Corrupt(e.to_string()))
}

/// A conversation as [`upsert_conversation`] writes it: id, channel id, channel kind,
/// conversation ref (JSON).
type ConversationKey = (String, String, String, String);

/// The conversation's key row for [`upsert_conversation`].
fn conversation_key(
    id: &ConversationId,
    channel_id: &str,
    channel: &ChannelKind,
    conversation: &ConversationRef,
) -> Result<ConversationKey, DbError> {
    Ok((
        id.as_str().to_owned(),
        channel_id.to_owned(),
        channel.as_str().to_owned(),
        json_to_sql(conversation)?,
    ))
}

/// Records the conversation (first sight) or moves its `last_event_at` (and
/// `last_inbound_at`, for a customer's message) forward, in the caller's write transaction:
/// at its end, merged with the other touches of the same conversation in that transaction
/// (one row update per conversation and group commit, see [`crate::sqlite::deferred`]).
fn upsert_conversation(
    conn: &Connection,
    row: &ConversationKey,
    at: i64,
    inbound_at: Option<i64>,
) -> Result<(), DbError> {
    let touch = Touch {
        key: row.clone(),
        first: at,
        last: at,
        inbound_at,
    };
    deferred::defer(conn, row.0.clone(), touch)
}

/// A conversation's touches of one transaction, merged.
struct Touch {
    key: ConversationKey,
    /// The earliest `at` (its `created_at` if the conversation is new).
    first: i64,
    /// The latest `at`.
    last: i64,
    /// The latest customer message's time, if any.
    inbound_at: Option<i64>,
}

impl deferred::Merge for Touch {
    fn merge(&mut self, later: Self) {
        self.first = self.first.min(later.first);
        self.last = self.last.max(later.last);
        self.inbound_at = self.inbound_at.max(later.inbound_at);
    }

    fn write(&self, conn: &Connection) -> Result<(), DbError> {
        let row = &self.key;
        conn.prepare_cached(
            "INSERT INTO conversations \
             (id, channel_id, channel, conversation, created_at, last_event_at, last_inbound_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (id) DO UPDATE SET \
             last_event_at = max(last_event_at, excluded.last_event_at), \
             last_inbound_at = CASE WHEN ?7 IS NOT NULL \
               THEN max(coalesce(last_inbound_at, ?7), ?7) ELSE last_inbound_at END \
             WHERE excluded.last_event_at >= last_event_at + ?8 \
               OR (?7 IS NOT NULL AND (last_inbound_at IS NULL OR ?7 >= last_inbound_at + ?8))",
        )?
        .execute(params![
            row.0,
            row.1,
            row.2,
            row.3,
            self.first,
            self.last,
            self.inbound_at,
            crate::store::ACTIVITY_RESOLUTION_NANOS
        ])?;
        Ok(())
    }
}

const CONVERSATION_COLUMNS: &str =
    "id, channel_id, channel, conversation, created_at, last_event_at, last_inbound_at";

type ConversationRow = (String, String, String, String, i64, i64, Option<i64>);

fn conversation_row(r: &Row<'_>) -> rusqlite::Result<ConversationRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn conversation_from_row(row: ConversationRow) -> Result<Conversation, DbError> {
    let (id, channel_id, channel, conversation, created, last_event, last_inbound) = row;
    Ok(Conversation {
        id: ConversationId::new(id),
        channel_id,
        channel: ChannelKind::new(channel).map_err(DbError::Corrupt)?,
        conversation: json_from_sql::<ConversationRef>(&conversation)?,
        created_at: time_from_sql(created),
        last_event_at: time_from_sql(last_event),
        last_inbound_at: last_inbound.map(time_from_sql),
    })
}

fn query_conversations(
    conn: &Connection,
    before: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<Conversation>, DbError> {
    let (at, id) = before.map_or((None, None), |(at, id)| (Some(at), Some(id)));
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations \
         WHERE ?1 IS NULL OR (last_event_at, id) < (?1, ?2) \
         ORDER BY last_event_at DESC, id DESC LIMIT ?3"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![at, id, limit], conversation_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(conversation_from_row).collect()
}

#[async_trait::async_trait]
impl Store for SqliteStore {
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
        let rows = TouchRows::new(touches)?;
        if rows.is_empty() {
            return Ok(());
        }
        self.db.write(move |conn| rows.write(conn)).await?;
        Ok(())
    }

    async fn touch_participants(
        &self,
        conversation: &ConversationId,
        participants: &[omnibridge_sdk::Participant],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        participants::touch(&self.db, conversation, participants, at).await
    }

    async fn participants(
        &self,
        conversation: &ConversationId,
    ) -> Result<Vec<ParticipantRecord>, StoreError> {
        participants::list(&self.db, conversation).await
    }

    async fn conversation(&self, id: &ConversationId) -> Result<Option<Conversation>, StoreError> {
        let id = id.as_str().to_owned();
        let found = self
            .db
            .read_point(move |conn| {
                let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?1");
                let row = conn
                    .prepare_cached(&sql)?
                    .query_row([id], conversation_row)
                    .optional()?;
                row.map(conversation_from_row).transpose()
            })
            .await?;
        Ok(found)
    }

    async fn list_conversations(
        &self,
        before: Option<(Timestamp, ConversationId)>,
        limit: usize,
    ) -> Result<Vec<Conversation>, StoreError> {
        let before = match before {
            Some((at, id)) => Some((time_to_sql(at)?, id.as_str().to_owned())),
            None => None,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .db
            .read(move |conn| query_conversations(conn, before, limit))
            .await?)
    }

    async fn enqueue_outbound(&self, record: &OutboxRecord) -> Result<(), StoreError> {
        outbox::enqueue(&self.db, record).await
    }

    async fn lease_due_outbound(
        &self,
        now: Timestamp,
        lease: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        outbox::lease_due(&self.db, now, lease, limit).await
    }

    async fn finish_outbound(
        &self,
        id: &OutboundId,
        outcome: OutboxOutcome,
    ) -> Result<(), StoreError> {
        outbox::finish(&self.db, id, outcome).await
    }

    async fn outbound(&self, id: &OutboundId) -> Result<Option<OutboxRecord>, StoreError> {
        outbox::get(&self.db, id).await
    }

    async fn outbox_depth(&self) -> Result<u64, StoreError> {
        outbox::depth(&self.db).await
    }

    async fn idempotent_response(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        records::idempotent_response(&self.db, scope, key).await
    }

    async fn save_idempotent_response(
        &self,
        scope: &str,
        key: &str,
        response: &IdempotentResponse,
    ) -> Result<IdempotentResponse, StoreError> {
        records::save_idempotent_response(&self.db, scope, key, response).await
    }

    async fn record_dead_letter(
        &self,
        kind: &str,
        reference: &str,
        payload: &serde_json::Value,
        error: &str,
    ) -> Result<(), StoreError> {
        records::record_dead_letter(&self.db, kind, reference, payload, error).await
    }

    /// Each dead letter as `{"reference", "payload", "error", "created_at_ms"}`, oldest first.
    async fn dead_letters(&self, kind: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        records::dead_letters(&self.db, kind).await
    }

    async fn link_provider_messages(
        &self,
        channel_id: &str,
        outbound: &OutboundId,
        provider_ids: &[ProviderMessageId],
    ) -> Result<(), StoreError> {
        deliveries::link(&self.db, channel_id, outbound, provider_ids).await
    }

    async fn outbound_for_provider_message(
        &self,
        channel_id: &str,
        provider_id: &ProviderMessageId,
    ) -> Result<Option<OutboundId>, StoreError> {
        deliveries::outbound_for(&self.db, channel_id, provider_id).await
    }

    async fn advance_delivery(
        &self,
        outbound: &OutboundId,
        status: DeliveryStatus,
    ) -> Result<bool, StoreError> {
        deliveries::advance(&self.db, outbound, status).await
    }

    async fn delivery_status(
        &self,
        outbound: &OutboundId,
    ) -> Result<Option<DeliveryStatus>, StoreError> {
        deliveries::status(&self.db, outbound).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        leases::acquire(&self.db, name, holder, ttl).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        leases::release(&self.db, name, holder).await
    }

    async fn channel_state(
        &self,
        channel_id: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        channel_state::get(&self.db, channel_id, key).await
    }

    async fn set_channel_state(
        &self,
        channel_id: &str,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        channel_state::set(&self.db, channel_id, key, value).await
    }

    async fn prune_channel_state(
        &self,
        channel_id: &str,
        prefix: &str,
        before: Timestamp,
    ) -> Result<u64, StoreError> {
        channel_state::prune(&self.db, channel_id, prefix, before.timestamp_millis()).await
    }

    async fn set_channel_states(
        &self,
        channel_id: &str,
        entries: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        channel_state::set_many(&self.db, channel_id, entries).await
    }

    async fn prune(&self, before: PruneBefore) -> Result<Pruned, StoreError> {
        retention::prune(&self.db, before).await
    }

    async fn reclaim_space(&self) -> Result<(), StoreError> {
        retention::reclaim_space(&self.db).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await?;
        Ok(())
    }
}
