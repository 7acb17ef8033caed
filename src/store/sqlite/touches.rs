//! Conversation touches on SQLite: a batch's conversation rows and participants, prepared off
//! the writer thread and written inside a write transaction (the store's own, or the bus
//! append's when the bus shares the database: see `crate::ingest`).

use rusqlite::{Connection, params};

use super::{json_to_sql, participants, time_to_sql};
use crate::sqlite::DbError;
use crate::store::{ConversationTouch, StoreError};

/// One conversation's row values, in SQL form.
#[derive(Debug)]
struct ConversationRow {
    id: String,
    channel_id: String,
    channel: String,
    conversation: String,
    at: i64,
    inbound_at: Option<i64>,
    people: Vec<(String, Option<String>, String)>,
}

/// [`ConversationTouch`]es converted to SQL values, ready to be written on the writer thread.
#[derive(Debug, Default)]
pub struct TouchRows {
    rows: Vec<ConversationRow>,
}

impl TouchRows {
    /// Converts `touches` (JSON of the conversation coordinates, times in SQL form).
    pub fn new(touches: &[ConversationTouch]) -> Result<Self, StoreError> {
        let rows = touches
            .iter()
            .map(|touch| {
                Ok(ConversationRow {
                    id: touch.id.as_str().to_owned(),
                    channel_id: touch.channel_id.clone(),
                    channel: touch.channel.as_str().to_owned(),
                    conversation: json_to_sql(&touch.conversation)?,
                    at: time_to_sql(touch.at)?,
                    inbound_at: touch.inbound_at.map(time_to_sql).transpose()?,
                    people: participants::rows(&touch.participants)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Self { rows })
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Creates each conversation if new and moves its times forward (never backwards), then
    /// upserts its participants; runs inside the caller's write transaction.
    pub fn write(&self, conn: &Connection) -> Result<(), DbError> {
        let mut upsert = conn.prepare_cached(
            "INSERT INTO conversations \
             (id, channel_id, channel, conversation, created_at, last_event_at, \
              last_inbound_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) \
             ON CONFLICT (id) DO UPDATE SET \
             last_event_at = max(last_event_at, excluded.last_event_at), \
             last_inbound_at = CASE WHEN ?6 IS NOT NULL \
               THEN max(coalesce(last_inbound_at, ?6), ?6) ELSE last_inbound_at END",
        )?;
        for row in &self.rows {
            upsert.execute(params![
                row.id,
                row.channel_id,
                row.channel,
                row.conversation,
                row.at,
                row.inbound_at
            ])?;
            participants::upsert(conn, &row.id, &row.people, row.at)?;
        }
        Ok(())
    }
}
