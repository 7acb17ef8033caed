//! How a batch of inbound events becomes durable: the conversations it touches (store) and
//! the events (bus). Where both live in one SQLite database they are one transaction, so a
//! webhook costs one group commit instead of two sequential ones.

use std::sync::Arc;

use crate::bus::sqlite::SqliteBus;
use crate::bus::{Appended, EventLog, NewEvent};
use omnibridge_sdk::OutboundId;

use crate::store::sqlite::{TouchRows, finish_sent};
use crate::store::{ConversationTouch, OutboxOutcome, Store};

use super::IngestError;

/// Makes a batch durable: its conversation records no later than its events.
#[async_trait::async_trait]
pub trait BatchWriter: Send + Sync + 'static {
    /// Records `touches` and appends `events` (de-duplicated), returning once both are
    /// durable; the results are in the order of `events`.
    async fn write(
        &self,
        touches: Vec<ConversationTouch>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Appended>, IngestError>;

    /// [`BatchWriter::write`] for the events of an outbox record the channel accepted, which
    /// also records the record as sent: in the same transaction where the backend allows,
    /// otherwise right after the events (a crash in between sends it again; its events are
    /// de-duplicated).
    async fn write_sent(
        &self,
        touches: Vec<ConversationTouch>,
        events: Vec<NewEvent>,
        sent: OutboundId,
    ) -> Result<Vec<Appended>, IngestError>;
}

/// The store's write, then the bus append: any store with any bus. A crash in between leaves
/// a conversation without events (harmless: the provider retries), never an event without
/// its conversation.
pub struct StoreThenBus {
    store: Arc<dyn Store>,
    bus: Arc<dyn EventLog>,
}

impl StoreThenBus {
    /// Writes through `store`, then appends to `bus`.
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn EventLog>) -> Self {
        Self { store, bus }
    }
}

#[async_trait::async_trait]
impl BatchWriter for StoreThenBus {
    async fn write(
        &self,
        touches: Vec<ConversationTouch>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Appended>, IngestError> {
        if !touches.is_empty() {
            self.store.touch_conversations(&touches).await?;
        }
        Ok(self.bus.append(events).await?)
    }

    async fn write_sent(
        &self,
        touches: Vec<ConversationTouch>,
        events: Vec<NewEvent>,
        sent: OutboundId,
    ) -> Result<Vec<Appended>, IngestError> {
        let appended = self.write(touches, events).await?;
        self.store
            .finish_outbound(&sent, OutboxOutcome::Sent)
            .await?;
        Ok(appended)
    }
}

/// The SQLite store and the SQLite bus on one database: the conversation rows, participants,
/// de-duplication records and events of a batch go into one write job, so they commit
/// together (one hand-off to the writer thread, one fsync shared with the other requests of
/// the same group commit).
pub struct OneSqliteTransaction {
    bus: SqliteBus,
}

impl OneSqliteTransaction {
    /// For a bus whose database is also the store's (`SqliteStore::new(bus.database())`);
    /// with a store elsewhere, use [`StoreThenBus`].
    pub fn new(bus: SqliteBus) -> Self {
        Self { bus }
    }

    /// The batch in one write job, with the outbox record `sent` finished in it if given.
    async fn commit(
        &self,
        touches: &[ConversationTouch],
        events: Vec<NewEvent>,
        sent: Option<OutboundId>,
    ) -> Result<Vec<Appended>, IngestError> {
        let rows = TouchRows::new(touches)?;
        Ok(self
            .bus
            .append_with(events, move |conn| {
                rows.write(conn)?;
                sent.map_or(Ok(()), |sent| finish_sent(conn, &sent))
            })
            .await?)
    }
}

#[async_trait::async_trait]
impl BatchWriter for OneSqliteTransaction {
    async fn write(
        &self,
        touches: Vec<ConversationTouch>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Appended>, IngestError> {
        self.commit(&touches, events, None).await
    }

    async fn write_sent(
        &self,
        touches: Vec<ConversationTouch>,
        events: Vec<NewEvent>,
        sent: OutboundId,
    ) -> Result<Vec<Appended>, IngestError> {
        self.commit(&touches, events, Some(sent)).await
    }
}

#[cfg(test)]
mod tests {
    use omnibridge_sdk::{
        ChannelKind, Content, ConversationRef, Envelope, InboundEvent, Participant,
    };

    use super::*;
    use crate::sqlite::{Database, Durability};
    use crate::store::sqlite::SqliteStore;

    async fn open() -> (tempfile::TempDir, SqliteStore, SqliteBus) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("t.sqlite"), Durability::Normal).unwrap();
        let bus = SqliteBus::new(db.clone()).await.unwrap();
        (dir, SqliteStore::new(db), bus)
    }

    /// Makes every insert into the log fail from now on.
    async fn refuse_appends(bus: &SqliteBus) {
        bus.database()
            .write(|conn| {
                conn.execute_batch(
                    "CREATE TRIGGER refuse BEFORE INSERT ON bus_events \
                     BEGIN SELECT RAISE(ABORT, 'refused'); END",
                )?;
                Ok(())
            })
            .await
            .unwrap();
    }

    fn batch(wamids: &[&str]) -> (ConversationTouch, Vec<NewEvent>) {
        let kind = ChannelKind::new("whatsapp").unwrap();
        let conversation = ConversationRef::new("pn1", "15550001");
        let id = crate::ingest::conversation_id(&kind, &conversation);
        let now = chrono::Utc::now();
        let touch = ConversationTouch {
            id: id.clone(),
            channel_id: "wa".to_owned(),
            channel: kind.clone(),
            conversation: conversation.clone(),
            at: now,
            inbound_at: Some(now),
            participants: vec![Participant::customer("15550001")],
        };
        let events = wamids
            .iter()
            .map(|wamid| {
                let event = InboundEvent::message(conversation.clone(), Content::text("hi"))
                    .with_provider_message_id(*wamid);
                NewEvent {
                    dedup_key: event.effective_dedup_key().map(str::to_owned),
                    envelope: Envelope::stamp(event, kind.clone(), id.clone(), now),
                }
            })
            .collect();
        (touch, events)
    }

    #[tokio::test]
    async fn the_conversation_its_people_and_its_events_commit_together() {
        let (_dir, store, bus) = open().await;
        let writer = OneSqliteTransaction::new(bus.clone());
        let (touch, events) = batch(&["wamid.a", "wamid.b", "wamid.a"]);
        let appended = writer.write(vec![touch.clone()], events).await.unwrap();
        let duplicates: Vec<bool> = appended.iter().map(|a| a.duplicate).collect();
        assert_eq!(duplicates, [false, false, true]);
        assert_eq!(appended[2].seq, appended[0].seq);
        let stored = store.conversation(&touch.id).await.unwrap().unwrap();
        assert_eq!(stored.channel_id, "wa");
        assert!(stored.last_inbound_at.is_some());
        let people = store.participants(&touch.id).await.unwrap();
        assert_eq!(people.len(), 1);
        assert_eq!(people[0].id, "15550001");
        assert_eq!(bus.read_after(0, 10).await.unwrap().len(), 2);
        assert_eq!(bus.head().await.unwrap(), appended[1].seq);
    }

    #[tokio::test]
    async fn a_failed_append_leaves_no_conversation_behind() {
        let (_dir, store, bus) = open().await;
        refuse_appends(&bus).await;
        let writer = OneSqliteTransaction::new(bus.clone());
        let (touch, events) = batch(&["wamid.c"]);
        assert!(writer.write(vec![touch.clone()], events).await.is_err());
        assert!(store.conversation(&touch.id).await.unwrap().is_none());
        assert!(store.participants(&touch.id).await.unwrap().is_empty());
        assert_eq!(bus.head().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn store_then_bus_records_the_conversation_before_the_events() {
        let (_dir, store, bus) = open().await;
        let writer = StoreThenBus::new(Arc::new(store.clone()), Arc::new(bus.clone()));
        let (touch, events) = batch(&["wamid.d"]);
        let appended = writer.write(vec![touch.clone()], events).await.unwrap();
        assert_eq!(appended.len(), 1);
        assert!(store.conversation(&touch.id).await.unwrap().is_some());
        assert_eq!(store.participants(&touch.id).await.unwrap().len(), 1);
    }

    /// Queues an outbox record on the batch's conversation and leases it, as the worker does.
    async fn leased_record(store: &SqliteStore, touch: &ConversationTouch) -> OutboundId {
        let message = omnibridge_sdk::OutboundMessage::text(
            crate::outbox::Outbox::new_id(),
            touch.conversation.clone(),
            "paid",
        );
        let record = crate::outbox::Outbox::record(&touch.id, &message).unwrap();
        store.enqueue_outbound(&record).await.unwrap();
        let leased = store
            .lease_due_outbound(chrono::Utc::now(), std::time::Duration::from_secs(60), 8)
            .await
            .unwrap();
        assert_eq!(leased.len(), 1);
        record.id
    }

    async fn assert_sent_once(store: &SqliteStore, id: &OutboundId) {
        let record = store.outbound(id).await.unwrap().unwrap();
        assert_eq!(record.state, crate::store::OutboxState::Sent);
        assert_eq!(record.attempts, 1);
    }

    #[tokio::test]
    async fn the_sent_record_is_finished_in_the_events_transaction() {
        let (_dir, store, bus) = open().await;
        let writer = OneSqliteTransaction::new(bus.clone());
        let (touch, events) = batch(&["wamid.e"]);
        let id = leased_record(&store, &touch).await;
        let appended = writer
            .write_sent(vec![touch.clone()], events, id.clone())
            .await
            .unwrap();
        assert_eq!(appended.len(), 1);
        assert_sent_once(&store, &id).await;
        assert_eq!(bus.read_after(0, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_append_leaves_the_sent_record_leased() {
        let (_dir, store, bus) = open().await;
        let (touch, events) = batch(&["wamid.f"]);
        let id = leased_record(&store, &touch).await;
        refuse_appends(&bus).await;
        let writer = OneSqliteTransaction::new(bus.clone());
        assert!(
            writer
                .write_sent(vec![touch], events, id.clone())
                .await
                .is_err()
        );
        let record = store.outbound(&id).await.unwrap().unwrap();
        assert_eq!(record.state, crate::store::OutboxState::Pending);
        assert_eq!(
            record.attempts, 0,
            "the try is not counted: it will be sent again"
        );
    }

    #[tokio::test]
    async fn store_then_bus_finishes_the_sent_record_after_the_events() {
        let (_dir, store, bus) = open().await;
        let writer = StoreThenBus::new(Arc::new(store.clone()), Arc::new(bus.clone()));
        let (touch, events) = batch(&["wamid.g"]);
        let id = leased_record(&store, &touch).await;
        writer
            .write_sent(vec![touch], events, id.clone())
            .await
            .unwrap();
        assert_sent_once(&store, &id).await;
        assert_eq!(bus.read_after(0, 10).await.unwrap().len(), 1);
    }
}
