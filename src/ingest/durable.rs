//! How a batch of inbound events becomes durable: the conversations it touches (store) and
//! the events (bus). Where both live in one SQLite database they are one transaction, so a
//! webhook costs one group commit instead of two sequential ones.

use std::sync::Arc;

use omnibridge_sdk::{DeliveryStatus, EventBody, OutboundId, ProviderMessageId};

use crate::bus::sqlite::SqliteBus;
use crate::bus::{Appended, EventLog, NewEvent};
use crate::store::sqlite::{TouchRows, advance_in, finish_sent_once, link_in};
use crate::store::{ConversationTouch, OutboxOutcome, Store};

use super::IngestError;

/// An outbox record the channel accepted, as the write of its events records it.
#[derive(Clone, Debug)]
pub struct SentRecord {
    /// The record.
    pub id: OutboundId,
    /// The channel it went through (`[[channels]] id`), which knows it by `provider_ids`.
    pub channel_id: String,
    /// The provider's ids of what was sent, linked to the record for later statuses.
    pub provider_ids: Vec<ProviderMessageId>,
}

impl SentRecord {
    /// The record `id`, sent without provider ids.
    pub fn new(id: OutboundId) -> Self {
        Self {
            id,
            channel_id: String::new(),
            provider_ids: Vec::new(),
        }
    }

    /// The delivery status `event` reports for this record, if it is one of its own.
    fn own_status(&self, event: &NewEvent) -> Option<DeliveryStatus> {
        match &event.envelope.body {
            EventBody::DeliveryUpdated(delivery)
                if delivery.outbound_id.as_ref() == Some(&self.id) =>
            {
                Some(delivery.status)
            }
            _ => None,
        }
    }
}

impl From<OutboundId> for SentRecord {
    fn from(id: OutboundId) -> Self {
        Self::new(id)
    }
}

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

    /// [`BatchWriter::write`] for the events of the outbox record `sent` (its own
    /// `message.sent` and `delivery.updated`), which the channel accepted; also links the
    /// record's provider ids, advances its delivery status (a status of its own that would go
    /// backwards is not appended: `None` in its place) and records it as sent. In one
    /// transaction where the backend allows; otherwise in that order, the finish last (a crash
    /// before it sends the record again, and its events are de-duplicated).
    async fn write_sent(
        &self,
        touches: Vec<ConversationTouch>,
        events: Vec<NewEvent>,
        sent: SentRecord,
    ) -> Result<Vec<Option<Appended>>, IngestError>;
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
        sent: SentRecord,
    ) -> Result<Vec<Option<Appended>>, IngestError> {
        self.store
            .link_provider_messages(&sent.channel_id, &sent.id, &sent.provider_ids)
            .await?;
        let mut keep = Vec::with_capacity(events.len());
        for event in &events {
            keep.push(match sent.own_status(event) {
                Some(status) => self.store.advance_delivery(&sent.id, status).await?,
                None => true,
            });
        }
        let chosen = events
            .into_iter()
            .zip(&keep)
            .filter_map(|(event, keep)| keep.then_some(event))
            .collect();
        let appended = self.write(touches, chosen).await?;
        self.store
            .finish_outbound(&sent.id, OutboxOutcome::Sent)
            .await?;
        Ok(spread(&keep, appended))
    }
}

/// The results of the events kept (`keep`) in the places of all of them.
fn spread(keep: &[bool], appended: Vec<Appended>) -> Vec<Option<Appended>> {
    let mut appended = appended.into_iter();
    keep.iter()
        .map(|keep| if *keep { appended.next() } else { None })
        .collect()
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
}

#[async_trait::async_trait]
impl BatchWriter for OneSqliteTransaction {
    async fn write(
        &self,
        touches: Vec<ConversationTouch>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Appended>, IngestError> {
        let rows = TouchRows::new(&touches)?;
        Ok(self
            .bus
            .append_with(events, move |conn| rows.write(conn))
            .await?)
    }

    /// One write job: the record's finish is a compare-and-set (still pending → sent), so the
    /// record's own events are appended once, with no de-duplication records; a record
    /// already finished (by another worker, after its lease ran out) appends nothing.
    async fn write_sent(
        &self,
        touches: Vec<ConversationTouch>,
        events: Vec<NewEvent>,
        sent: SentRecord,
    ) -> Result<Vec<Option<Appended>>, IngestError> {
        let rows = TouchRows::new(&touches)?;
        let statuses: Vec<Option<DeliveryStatus>> =
            events.iter().map(|event| sent.own_status(event)).collect();
        Ok(self
            .bus
            .append_chosen(events, move |conn| {
                if !finish_sent_once(conn, &sent.id)? {
                    return Ok(None);
                }
                link_in(conn, &sent.channel_id, &sent.id, &sent.provider_ids)?;
                let mut keep = Vec::with_capacity(statuses.len());
                for status in statuses {
                    keep.push(match status {
                        Some(status) => advance_in(conn, &sent.id, status)?,
                        None => true,
                    });
                }
                rows.write(conn)?;
                Ok(Some(keep))
            })
            .await?)
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
            .write_sent(vec![touch.clone()], events, id.clone().into())
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
                .write_sent(vec![touch], events, id.clone().into())
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

    /// The outbox worker's events for the record `id`: `message.sent` and its `sent` status.
    fn own_events(touch: &ConversationTouch, id: &OutboundId) -> Vec<NewEvent> {
        let mut message = omnibridge_sdk::Message::new(Content::text("paid"));
        message.outbound_id = Some(id.clone());
        let events = [
            InboundEvent::new(touch.conversation.clone(), EventBody::MessageSent(message))
                .with_dedup_key(format!("sent:{id}")),
            InboundEvent::delivery(
                touch.conversation.clone(),
                omnibridge_sdk::Delivery::new(DeliveryStatus::Sent).for_outbound(id.clone()),
            )
            .with_dedup_key(format!("delivery:{id}:Sent")),
        ];
        events
            .into_iter()
            .map(|event| NewEvent {
                dedup_key: event.effective_dedup_key().map(str::to_owned),
                envelope: Envelope::stamp(
                    event,
                    touch.channel.clone(),
                    touch.id.clone(),
                    chrono::Utc::now(),
                ),
            })
            .collect()
    }

    fn writers(store: &SqliteStore, bus: &SqliteBus) -> Vec<Box<dyn BatchWriter>> {
        vec![
            Box::new(OneSqliteTransaction::new(bus.clone())),
            Box::new(StoreThenBus::new(
                Arc::new(store.clone()),
                Arc::new(bus.clone()),
            )),
        ]
    }

    #[tokio::test]
    async fn a_sent_record_is_linked_advanced_and_appended_once() {
        for (n, kind) in ["one transaction", "store then bus"].iter().enumerate() {
            let (_dir, store, bus) = open().await;
            let writer = writers(&store, &bus).swap_remove(n);
            let (touch, _) = batch(&[]);
            let id = leased_record(&store, &touch).await;
            let wamid = ProviderMessageId::new("wamid.s");
            let sent = SentRecord {
                id: id.clone(),
                channel_id: "wa".to_owned(),
                provider_ids: vec![wamid.clone()],
            };
            let appended = writer
                .write_sent(vec![touch.clone()], own_events(&touch, &id), sent.clone())
                .await
                .unwrap();
            assert!(appended.iter().all(Option::is_some), "{kind}");
            assert_sent_once(&store, &id).await;
            let linked = store.outbound_for_provider_message("wa", &wamid).await;
            assert_eq!(linked.unwrap(), Some(id.clone()), "{kind}");
            let status = store.delivery_status(&id).await.unwrap();
            assert_eq!(status, Some(DeliveryStatus::Sent), "{kind}");
            // The same send recorded again (a second worker after the lease ran out, or a
            // retry): the events are not appended twice.
            let again = writer
                .write_sent(vec![touch.clone()], own_events(&touch, &id), sent)
                .await
                .unwrap();
            assert_eq!(again.len(), 2, "{kind}");
            assert_eq!(bus.read_after(0, 10).await.unwrap().len(), 2, "{kind}");
        }
    }

    #[tokio::test]
    async fn a_status_of_its_own_that_would_go_backwards_is_not_appended() {
        for (n, kind) in ["one transaction", "store then bus"].iter().enumerate() {
            let (_dir, store, bus) = open().await;
            let writer = writers(&store, &bus).swap_remove(n);
            let (touch, _) = batch(&[]);
            let id = leased_record(&store, &touch).await;
            // The provider reported it delivered before the send was recorded.
            assert!(
                store
                    .advance_delivery(&id, DeliveryStatus::Delivered)
                    .await
                    .unwrap()
            );
            let appended = writer
                .write_sent(
                    vec![touch.clone()],
                    own_events(&touch, &id),
                    id.clone().into(),
                )
                .await
                .unwrap();
            assert!(appended[0].is_some(), "{kind}: message.sent is appended");
            assert!(appended[1].is_none(), "{kind}: the late `sent` is not");
            let status = store.delivery_status(&id).await.unwrap();
            assert_eq!(status, Some(DeliveryStatus::Delivered), "{kind}");
            assert_sent_once(&store, &id).await;
            assert_eq!(bus.read_after(0, 10).await.unwrap().len(), 1, "{kind}");
        }
    }

    #[tokio::test]
    async fn store_then_bus_finishes_the_sent_record_after_the_events() {
        let (_dir, store, bus) = open().await;
        let writer = StoreThenBus::new(Arc::new(store.clone()), Arc::new(bus.clone()));
        let (touch, events) = batch(&["wamid.g"]);
        let id = leased_record(&store, &touch).await;
        writer
            .write_sent(vec![touch], events, id.clone().into())
            .await
            .unwrap();
        assert_sent_once(&store, &id).await;
        assert_eq!(bus.read_after(0, 10).await.unwrap().len(), 1);
    }
}
