//! Conversation participants on SQLite: one row per (conversation, channel user id).

use omnibridge_sdk::{ConversationId, Participant, Role, Timestamp};
use rusqlite::params;

use super::{time_from_sql, time_to_sql};
use crate::sqlite::{Database, DbError};
use crate::store::{ParticipantRecord, StoreError};

pub(super) async fn touch(
    db: &Database,
    conversation: &ConversationId,
    participants: &[Participant],
    at: Timestamp,
) -> Result<(), StoreError> {
    let rows = rows(participants)?;
    if rows.is_empty() {
        return Ok(());
    }
    let conversation = conversation.as_str().to_owned();
    let at = time_to_sql(at)?;
    db.write(move |conn| upsert(conn, &conversation, &rows, at))
        .await?;
    Ok(())
}

/// The rows to write for `participants` (those with a channel user id and a known role).
pub(in crate::store) fn rows(
    participants: &[Participant],
) -> Result<Vec<(String, Option<String>, String)>, StoreError> {
    Ok(participants
        .iter()
        .filter_map(|p| Some((p.id.clone()?, p.display_name.clone(), role_name(p.role)?)))
        .collect())
}

/// Upserts participant rows inside the caller's write (`at` in SQL time); an existing row is
/// rewritten only when it moves by [`crate::store::ACTIVITY_RESOLUTION_NANOS`] or gets a new
/// display name.
pub(super) fn upsert(
    conn: &rusqlite::Connection,
    conversation: &str,
    rows: &[(String, Option<String>, String)],
    at: i64,
) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO participants \
         (conversation_id, user_id, display_name, role, first_seen_at, last_seen_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
         ON CONFLICT (conversation_id, user_id) DO UPDATE SET \
         display_name = coalesce(excluded.display_name, display_name), \
         last_seen_at = max(last_seen_at, excluded.last_seen_at) \
         WHERE excluded.last_seen_at >= last_seen_at + ?6 \
           OR (excluded.display_name IS NOT NULL AND excluded.display_name IS NOT display_name)",
    )?;
    for (user, name, role) in rows {
        insert.execute(params![
            conversation,
            user,
            name,
            role,
            at,
            crate::store::ACTIVITY_RESOLUTION_NANOS
        ])?;
    }
    Ok(())
}

pub(super) async fn list(
    db: &Database,
    conversation: &ConversationId,
) -> Result<Vec<ParticipantRecord>, StoreError> {
    let conversation = conversation.as_str().to_owned();
    Ok(db
        .read(move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT user_id, display_name, role, first_seen_at, last_seen_at \
                 FROM participants WHERE conversation_id = ?1 ORDER BY first_seen_at, user_id",
            )?;
            let rows = query.query_map([conversation], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, display_name, role, first, last) = row?;
                out.push(ParticipantRecord {
                    id,
                    display_name,
                    role: role_from_name(&role)?,
                    first_seen_at: time_from_sql(first),
                    last_seen_at: time_from_sql(last),
                });
            }
            Ok(out)
        })
        .await?)
}

fn role_name(role: Role) -> Option<String> {
    serde_json::to_value(role).ok()?.as_str().map(str::to_owned)
}

pub(in crate::store) fn role_from_name(name: &str) -> Result<Role, DbError> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| DbError::Corrupt(format!("unknown participant role {name:?}")))
}
