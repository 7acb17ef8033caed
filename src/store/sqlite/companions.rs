//! The [`Companions`] of an intent's move, written inside the move's own write job: the
//! conversation touched, the `payment.*` events appended to the bus (the SQLite bus on the
//! same database: `bus_events`), the messages queued in the outbox. They run in a nested
//! savepoint, so a failure rolls them back alone and the move stands ([`Recorded::No`]: the
//! engine records them itself afterwards, as it does for a store that cannot).

use rusqlite::Connection;

use super::outbox::OutboxRow;
use super::{ConversationKey, SqliteStore, conversation_key, time_to_sql, upsert_conversation};
use crate::bus::sqlite::{Row, insert_rows};
use crate::payments::store::{Companions, Recorded};
use crate::sqlite::{DbError, control, deferred};

/// Companions serialised for the writer thread; `None` when this store cannot record them.
#[derive(Debug)]
pub(super) struct CompanionRows {
    conversation: Option<(ConversationKey, i64)>,
    events: Vec<Row>,
    messages: Vec<OutboxRow>,
}

impl CompanionRows {
    /// Serialises `companions` (off the writer thread). `None` when there are events and the
    /// bus is not on this database, or when they cannot be serialised (the engine records
    /// them its own way, and reports what fails).
    pub(super) fn of(store: &SqliteStore, companions: &Companions) -> Option<Self> {
        if companions.is_empty() || (!companions.events.is_empty() && !store.bus_colocated) {
            return None;
        }
        let prepared = Self::serialise(companions);
        match prepared {
            Ok(rows) => Some(rows),
            Err(error) => {
                tracing::warn!(%error, "payment companions not recorded with the move");
                None
            }
        }
    }

    fn serialise(companions: &Companions) -> Result<Self, DbError> {
        let conversation = match &companions.conversation {
            Some(c) => Some((
                conversation_key(&c.id, &c.channel_id, &c.channel, &c.conversation)?,
                time_to_sql(chrono::Utc::now())?,
            )),
            None => None,
        };
        let events = companions
            .events
            .iter()
            .map(|event| Row::of(event).map_err(|e| DbError::Corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let messages = companions
            .messages
            .iter()
            .map(OutboxRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            conversation,
            events,
            messages,
        })
    }

    /// Writes them in the caller's write job, inside a savepoint of their own.
    pub(super) fn record(self, conn: &Connection) -> Result<Recorded, DbError> {
        control(conn, "SAVEPOINT companions")?;
        let mark = deferred::mark();
        match self.write(conn) {
            Ok(appended) => {
                control(conn, "RELEASE companions")?;
                Ok(Recorded::Yes(appended))
            }
            Err(error) => {
                tracing::warn!(%error, "payment companions not recorded with the move; recorded after it");
                deferred::drop_since(mark);
                control(conn, "ROLLBACK TO companions")?;
                control(conn, "RELEASE companions")?;
                Ok(Recorded::No)
            }
        }
    }

    fn write(self, conn: &Connection) -> Result<Vec<crate::bus::Appended>, DbError> {
        if let Some((key, at)) = &self.conversation
            && !self.events.is_empty()
        {
            upsert_conversation(conn, key, *at, None)?;
        }
        let appended = insert_rows(conn, self.events)?;
        for message in &self.messages {
            message.insert(conn)?;
        }
        Ok(appended)
    }
}

/// Records `rows` (if any) in the caller's write job.
pub(super) fn record(conn: &Connection, rows: Option<CompanionRows>) -> Result<Recorded, DbError> {
    match rows {
        Some(rows) => rows.record(conn),
        None => Ok(Recorded::No),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use omnibridge_sdk::{ChannelKind, ConversationId, ConversationRef, EventBody, PaymentUpdate};

    use super::*;
    use crate::bus::EventLog;
    use crate::bus::sqlite::SqliteBus;
    use crate::payments::intent::{IntentState, PaymentIntent, TransitionPatch};
    use crate::payments::store::{BeginOutcome, InsertOutcome, PaymentStore};
    use crate::sqlite::{Database, Durability};
    use crate::store::{Conversation, OutboxRecord, OutboxState, Store};

    fn conversation() -> Conversation {
        let now = chrono::Utc::now();
        Conversation {
            id: ConversationId::new("cv_1"),
            channel_id: "wc".to_owned(),
            channel: ChannelKind::new("webchat").unwrap(),
            conversation: ConversationRef::new("site", "s1"),
            created_at: now,
            last_event_at: now,
            last_inbound_at: None,
        }
    }

    fn intent() -> PaymentIntent {
        let now = chrono::Utc::now();
        PaymentIntent {
            id: PaymentIntent::new_id(),
            conversation_id: ConversationId::new("cv_1"),
            amount: 1250,
            currency: "EUR".to_owned(),
            description: "Order 42".to_owned(),
            external_id: None,
            locale: "en".to_owned(),
            expires_at: now + chrono::Duration::minutes(10),
            metadata: None,
            state: IntentState::RequiresConfirmation,
            refunded_minor: 0,
            method: None,
            reference: None,
            settled_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn companions(intent: &PaymentIntent, state: &str, message_id: &str) -> Companions {
        let conversation = conversation();
        let update = PaymentUpdate::new(&intent.id, intent.amount, &intent.currency, state);
        let message = OutboxRecord {
            id: omnibridge_sdk::OutboundId::new(message_id),
            conversation_id: conversation.id.clone(),
            message: serde_json::json!({"text": "receipt"}),
            attempts: 0,
            state: OutboxState::Pending,
            last_error: None,
            created_at: chrono::Utc::now(),
        };
        Companions {
            events: vec![crate::ingest::Ingest::stamp_payment(
                &conversation,
                EventBody::PaymentSucceeded(update),
            )],
            messages: vec![message],
            conversation: Some(conversation),
        }
    }

    async fn setup(colocated: bool) -> (tempfile::TempDir, SqliteStore, SqliteBus, PaymentIntent) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("t.sqlite"), Durability::Normal).unwrap();
        let store = SqliteStore::new(db.clone());
        let store = if colocated {
            store.with_colocated_bus()
        } else {
            store
        };
        let bus = SqliteBus::new(db).await.unwrap();
        let intent = intent();
        let inserted = store.insert_intent(&intent, None, None).await.unwrap();
        assert!(matches!(inserted, InsertOutcome::Created(_)));
        (dir, store, bus, intent)
    }

    #[tokio::test]
    async fn a_move_records_its_event_and_message_in_its_own_write_exactly_once() {
        let (_dir, store, bus, intent) = setup(true).await;
        let expires = chrono::Utc::now() + chrono::Duration::minutes(5);
        let begin = companions(&intent, "processing", "ob_1");
        let (outcome, recorded) = store
            .begin_confirmation(&intent.id, "ch_1", expires, &begin)
            .await
            .unwrap();
        let BeginOutcome::Started(started) = outcome else {
            panic!("not started: {outcome:?}");
        };
        assert_eq!(started.state, IntentState::Processing);
        let Recorded::Yes(appended) = recorded else {
            panic!("not recorded with the move");
        };
        assert_eq!(appended.len(), 1);
        // The same challenge again: nothing moves, nothing is recorded.
        let again = companions(&intent, "processing", "ob_2");
        let (outcome, recorded) = store
            .begin_confirmation(&intent.id, "ch_1", expires, &again)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            BeginOutcome::NotConfirmable(IntentState::Processing)
        );
        assert_eq!(recorded, Recorded::No);
        // Re-opened (a definite refusal), the consumed challenge still cannot start it.
        store
            .transition(
                &intent.id,
                IntentState::Processing,
                IntentState::RequiresConfirmation,
                TransitionPatch::default(),
            )
            .await
            .unwrap()
            .unwrap();
        let replay = companions(&intent, "processing", "ob_5");
        let (outcome, recorded) = store
            .begin_confirmation(&intent.id, "ch_1", expires, &replay)
            .await
            .unwrap();
        assert_eq!(outcome, BeginOutcome::ChallengeUsed);
        assert_eq!(recorded, Recorded::No);
        let fresh = companions(&intent, "processing", "ob_6");
        let (outcome, recorded) = store
            .begin_confirmation(&intent.id, "ch_2", expires, &fresh)
            .await
            .unwrap();
        assert!(matches!(outcome, BeginOutcome::Started(_)));
        assert!(matches!(recorded, Recorded::Yes(_)));

        let patch = TransitionPatch {
            method: Some("stripe".to_owned()),
            reference: Some("pi_1".to_owned()),
            settled_at: Some(chrono::Utc::now()),
        };
        let paid = companions(&intent, "succeeded", "ob_3");
        let (moved, recorded) = store
            .transition_with(
                &intent.id,
                IntentState::Processing,
                IntentState::Succeeded,
                patch.clone(),
                &paid,
            )
            .await
            .unwrap();
        let moved = moved.unwrap();
        assert_eq!(moved.state, IntentState::Succeeded);
        assert_eq!(moved.reference.as_deref(), Some("pi_1"));
        assert!(matches!(recorded, Recorded::Yes(_)));
        // A second settlement of the same move loses the compare-and-set: nothing recorded.
        let twice = companions(&intent, "succeeded", "ob_4");
        let (moved, recorded) = store
            .transition_with(
                &intent.id,
                IntentState::Processing,
                IntentState::Succeeded,
                patch,
                &twice,
            )
            .await
            .unwrap();
        assert!(moved.is_none());
        assert_eq!(recorded, Recorded::No);

        let events = bus.read_after(0, 10).await.unwrap();
        let ids: Vec<_> = events.iter().map(|e| e.id).collect();
        let recorded: Vec<_> = [&begin, &fresh, &paid]
            .iter()
            .map(|c| c.events[0].envelope.id)
            .collect();
        assert_eq!(ids, recorded);
        let queued = [
            ("ob_1", true),
            ("ob_2", false),
            ("ob_5", false),
            ("ob_6", true),
            ("ob_3", true),
            ("ob_4", false),
        ];
        for (id, queued) in queued {
            let found = store
                .outbound(&omnibridge_sdk::OutboundId::new(id))
                .await
                .unwrap();
            assert_eq!(found.is_some(), queued, "{id}");
        }
    }

    #[tokio::test]
    async fn without_the_bus_in_its_database_the_store_leaves_the_companions_to_the_caller() {
        let (_dir, store, bus, intent) = setup(false).await;
        let expires = chrono::Utc::now() + chrono::Duration::minutes(5);
        let (outcome, recorded) = store
            .begin_confirmation(
                &intent.id,
                "ch_1",
                expires,
                &companions(&intent, "processing", "ob_1"),
            )
            .await
            .unwrap();
        assert!(matches!(outcome, BeginOutcome::Started(_)));
        assert_eq!(recorded, Recorded::No);
        assert!(bus.read_after(0, 10).await.unwrap().is_empty());
        let queued = store
            .outbound(&omnibridge_sdk::OutboundId::new("ob_1"))
            .await
            .unwrap();
        assert!(queued.is_none());
    }

    #[tokio::test]
    async fn companions_that_fail_are_rolled_back_alone_and_the_move_stands() {
        let (_dir, store, bus, intent) = setup(true).await;
        store
            .database()
            .write(|conn| Ok(conn.execute_batch("DROP TABLE outbox")?))
            .await
            .unwrap();
        let expires = chrono::Utc::now() + chrono::Duration::minutes(5);
        let (outcome, recorded) = store
            .begin_confirmation(
                &intent.id,
                "ch_1",
                expires,
                &companions(&intent, "processing", "ob_1"),
            )
            .await
            .unwrap();
        assert!(matches!(outcome, BeginOutcome::Started(_)));
        assert_eq!(recorded, Recorded::No);
        // The event written before the failing message was rolled back with it.
        assert!(bus.read_after(0, 10).await.unwrap().is_empty());
        let stored = store.intent(&intent.id).await.unwrap().unwrap();
        assert_eq!(stored.state, IntentState::Processing);
    }
}
