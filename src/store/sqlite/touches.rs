//! Conversation touches on SQLite: a batch's conversation rows and participants, prepared off
//! the writer thread and written inside a write transaction (the store's own, or the bus
//! append's when the bus shares the database: see `crate::ingest`).

use rusqlite::Connection;

use super::{ConversationKey, conversation_key, participants, time_to_sql, upsert_conversation};
use crate::sqlite::DbError;
use crate::store::{ConversationTouch, StoreError};

/// One conversation's row values, in SQL form.
#[derive(Debug)]
struct ConversationRow {
    key: ConversationKey,
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
                    key: conversation_key(
                        &touch.id,
                        &touch.channel_id,
                        &touch.channel,
                        &touch.conversation,
                    )?,
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
        for row in &self.rows {
            upsert_conversation(conn, &row.key, row.at, row.inbound_at)?;
            participants::upsert(conn, &row.key.0, &row.people, row.at)?;
        }
        Ok(())
    }
}
