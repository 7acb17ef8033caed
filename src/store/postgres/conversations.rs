//! Conversations and participants on PostgreSQL. A batch's touches are two statements in one
//! transaction (every conversation, then every participant, through `UNNEST` arrays), rows
//! merged per key first and sorted by key so that concurrent batches from several instances
//! lock rows in one order (no deadlock).

use std::collections::BTreeMap;

use omnibridge_sdk::{ConversationId, Participant, Timestamp};
use sqlx::Row;

use super::{PgStore, json_to_sql, time_from_sql, time_to_sql, unavailable};
use crate::store::sqlite::participants::{role_from_name, rows as participant_rows};
use crate::store::{ConversationTouch, ParticipantRecord, StoreError};

/// One conversation's merged touch: key columns, newest activity, newest customer time.
struct ConversationRow {
    channel_id: String,
    channel: String,
    conversation: String,
    at: i64,
    inbound_at: Option<i64>,
}

/// One participant's merged touch: name (newest given), role, time.
struct PersonRow {
    name: Option<String>,
    role: String,
    at: i64,
}

/// Records the batch: conversations created or moved forward, participants upserted.
pub(super) async fn touch(
    store: &PgStore,
    touches: &[ConversationTouch],
) -> Result<(), StoreError> {
    if touches.is_empty() {
        return Ok(());
    }
    let mut conversations: BTreeMap<String, ConversationRow> = BTreeMap::new();
    let mut people: BTreeMap<(String, String), PersonRow> = BTreeMap::new();
    for touch in touches {
        let at = time_to_sql(touch.at)?;
        let inbound_at = touch.inbound_at.map(time_to_sql).transpose()?;
        let id = touch.id.as_str().to_owned();
        match conversations.get_mut(&id) {
            Some(row) => {
                row.at = row.at.max(at);
                row.inbound_at = row.inbound_at.max(inbound_at);
            }
            None => {
                conversations.insert(
                    id.clone(),
                    ConversationRow {
                        channel_id: touch.channel_id.clone(),
                        channel: touch.channel.as_str().to_owned(),
                        conversation: json_to_sql(&touch.conversation)?,
                        at,
                        inbound_at,
                    },
                );
            }
        }
        for (user, name, role) in participant_rows(&touch.participants)? {
            let person = people.entry((id.clone(), user)).or_insert(PersonRow {
                name: None,
                role,
                at,
            });
            person.at = person.at.max(at);
            if name.is_some() {
                person.name = name;
            }
        }
    }
    let mut tx = store.begin().await?;
    upsert_conversations(&mut tx, &conversations).await?;
    upsert_people(&mut tx, &people).await?;
    tx.commit().await.map_err(unavailable)?;
    Ok(())
}

async fn upsert_conversations(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    rows: &BTreeMap<String, ConversationRow>,
) -> Result<(), StoreError> {
    let ids: Vec<&str> = rows.keys().map(String::as_str).collect();
    let channel_ids: Vec<&str> = rows.values().map(|r| r.channel_id.as_str()).collect();
    let channels: Vec<&str> = rows.values().map(|r| r.channel.as_str()).collect();
    let refs: Vec<&str> = rows.values().map(|r| r.conversation.as_str()).collect();
    let ats: Vec<i64> = rows.values().map(|r| r.at).collect();
    let inbound: Vec<Option<i64>> = rows.values().map(|r| r.inbound_at).collect();
    sqlx::query(
        "INSERT INTO conversations \
         (id, channel_id, channel, conversation, created_at, last_event_at, last_inbound_at) \
         SELECT id, channel_id, channel, conversation, at, at, inbound_at FROM UNNEST \
         ($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::BIGINT[]) \
         AS t (id, channel_id, channel, conversation, at, inbound_at) \
         ON CONFLICT (id) DO UPDATE SET \
         last_event_at = GREATEST(conversations.last_event_at, excluded.last_event_at), \
         last_inbound_at = CASE WHEN excluded.last_inbound_at IS NOT NULL \
           THEN GREATEST(coalesce(conversations.last_inbound_at, excluded.last_inbound_at), \
                         excluded.last_inbound_at) \
           ELSE conversations.last_inbound_at END \
         WHERE excluded.last_event_at >= conversations.last_event_at + $7 \
           OR (excluded.last_inbound_at IS NOT NULL AND (conversations.last_inbound_at IS NULL \
               OR excluded.last_inbound_at >= conversations.last_inbound_at + $7))",
    )
    .bind(ids)
    .bind(channel_ids)
    .bind(channels)
    .bind(refs)
    .bind(ats)
    .bind(inbound)
    .bind(crate::store::ACTIVITY_RESOLUTION_NANOS)
    .execute(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(())
}

async fn upsert_people(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    rows: &BTreeMap<(String, String), PersonRow>,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let conversations: Vec<&str> = rows.keys().map(|(c, _)| c.as_str()).collect();
    let users: Vec<&str> = rows.keys().map(|(_, u)| u.as_str()).collect();
    let names: Vec<Option<&str>> = rows.values().map(|r| r.name.as_deref()).collect();
    let roles: Vec<&str> = rows.values().map(|r| r.role.as_str()).collect();
    let ats: Vec<i64> = rows.values().map(|r| r.at).collect();
    sqlx::query(
        "INSERT INTO participants \
         (conversation_id, user_id, display_name, role, first_seen_at, last_seen_at) \
         SELECT c, u, n, r, a, a FROM UNNEST \
         ($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[]) AS t (c, u, n, r, a) \
         ON CONFLICT (conversation_id, user_id) DO UPDATE SET \
         display_name = coalesce(excluded.display_name, participants.display_name), \
         last_seen_at = GREATEST(participants.last_seen_at, excluded.last_seen_at) \
         WHERE excluded.last_seen_at >= participants.last_seen_at + $6 \
           OR (excluded.display_name IS NOT NULL \
               AND excluded.display_name IS DISTINCT FROM participants.display_name)",
    )
    .bind(conversations)
    .bind(users)
    .bind(names)
    .bind(roles)
    .bind(ats)
    .bind(crate::store::ACTIVITY_RESOLUTION_NANOS)
    .execute(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// Records these participants of `conversation` at `at`.
pub(super) async fn touch_participants(
    store: &PgStore,
    conversation: &ConversationId,
    participants: &[Participant],
    at: Timestamp,
) -> Result<(), StoreError> {
    let at = time_to_sql(at)?;
    let mut people = BTreeMap::new();
    for (user, name, role) in participant_rows(participants)? {
        let person = people
            .entry((conversation.as_str().to_owned(), user))
            .or_insert(PersonRow {
                name: None,
                role,
                at,
            });
        if name.is_some() {
            person.name = name;
        }
    }
    if people.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    upsert_people(&mut tx, &people).await?;
    tx.commit().await.map_err(unavailable)?;
    Ok(())
}

/// The participants of `conversation`, in order of first appearance.
pub(super) async fn participants(
    store: &PgStore,
    conversation: &ConversationId,
) -> Result<Vec<ParticipantRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT user_id, display_name, role, first_seen_at, last_seen_at \
         FROM participants WHERE conversation_id = $1 ORDER BY first_seen_at, user_id",
    )
    .bind(conversation.as_str())
    .fetch_all(&store.pool)
    .await
    .map_err(unavailable)?;
    rows.iter()
        .map(|row| {
            let role: String = row.try_get(2).map_err(unavailable)?;
            Ok(ParticipantRecord {
                id: row.try_get(0).map_err(unavailable)?,
                display_name: row.try_get(1).map_err(unavailable)?,
                role: role_from_name(&role)?,
                first_seen_at: time_from_sql(row.try_get(3).map_err(unavailable)?),
                last_seen_at: time_from_sql(row.try_get(4).map_err(unavailable)?),
            })
        })
        .collect()
}
