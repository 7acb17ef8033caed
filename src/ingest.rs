//! The one path onto the bus: stamp adapters' events into envelopes, record the conversation,
//! append durably with de-duplication. Webhook routes, pull channels (through
//! [`ChannelInbox`]), the web-chat socket and the bridge's own events all come through here.

use std::sync::Arc;

use omnibridge_sdk::{
    ChannelKind, ConversationId, ConversationRef, Envelope, EventBody, InboundEvent, Inbox,
    InboxError, Timestamp,
};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use tracing::Instrument;

use crate::bus::{Appended, BusError, EventLog, NewEvent};
use crate::metrics::Metrics;
use crate::store::{ConversationTouch, Store, StoreError};

mod durable;

pub use durable::{BatchWriter, OneSqliteTransaction, SentRecord, StoreThenBus};

/// Why events could not be taken; the caller must not acknowledge its provider.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The bus refused the append.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The store refused the conversation update.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A channel (or any caller but the payment engine) tried to append a bridge-only
    /// event (`payment.*`); nothing of the batch was appended.
    #[error("{0} events are appended by the bridge's payment engine only")]
    BridgeOnly(&'static str),
}

/// Appends events for every channel.
#[derive(Clone)]
pub struct Ingest {
    writer: Arc<dyn BatchWriter>,
    bus: Arc<dyn EventLog>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    appended: broadcast::Sender<AppendNotice>,
}

/// Told in-process after each new (non-duplicate) event is durable, so live readers of one
/// conversation (the web-chat socket) wake only for their own conversation instead of
/// re-reading on every append. Appends by other bridge instances are not announced: readers
/// also poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendNotice {
    /// The event's conversation.
    pub conversation_id: ConversationId,
    /// The event's seq.
    pub seq: crate::bus::Seq,
    /// The event's type (`message.sent`, ...).
    pub event_type: &'static str,
}

/// Notices buffered per subscriber before it lags (and must re-read).
const NOTICE_BUFFER: usize = 1024;

/// The bridge's id for a conversation: a pure function of channel, account and thread, so
/// every instance derives the same id without coordination.
pub fn conversation_id(kind: &ChannelKind, conversation: &ConversationRef) -> ConversationId {
    let mut hasher = Sha256::new();
    for part in [kind.as_str(), &conversation.account, &conversation.thread] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    ConversationId::new(format!("cv_{}", hex::encode(&digest[..12])))
}

impl Ingest {
    /// An ingest path over this bus and store (conversation records written first, then the
    /// events: see [`StoreThenBus`]).
    pub fn new(bus: Arc<dyn EventLog>, store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        let writer = Arc::new(StoreThenBus::new(store.clone(), bus.clone()));
        Self::with_writer(writer, bus, store, metrics)
    }

    /// An ingest path that makes batches durable through `writer` (e.g.
    /// [`OneSqliteTransaction`] when store and bus share a SQLite database), where `bus` and
    /// `store` are what `writer` writes to.
    pub fn with_writer(
        writer: Arc<dyn BatchWriter>,
        bus: Arc<dyn EventLog>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (appended, _) = broadcast::channel(NOTICE_BUFFER);
        Self {
            writer,
            bus,
            store,
            metrics,
            appended,
        }
    }

    /// Notices of events appended through this instance from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AppendNotice> {
        self.appended.subscribe()
    }

    /// Stamps and appends events from the channel configured as `channel_id`. Returns only
    /// after every event is durable (or known as a duplicate). Refuses the whole batch when
    /// any event is bridge-only (`payment.*`, see [`EventBody::is_bridge_only`]).
    pub async fn accept(
        &self,
        channel_id: &str,
        kind: &ChannelKind,
        events: Vec<InboundEvent>,
    ) -> Result<Vec<(Appended, Envelope)>, IngestError> {
        if let Some(event) = events.iter().find(|event| event.body.is_bridge_only()) {
            tracing::warn!(
                channel_id,
                event_type = event.body.type_name(),
                "bridge-only event refused at ingest"
            );
            return Err(IngestError::BridgeOnly(event.body.type_name()));
        }
        self.append(channel_id, kind, events, None).await
    }

    /// [`Ingest::accept`] for the events of the outbox record `sent` (its `message.sent` and
    /// `delivery.updated`), which the channel accepted: records it as sent, links its provider
    /// ids and advances its delivery status with the events (one write where the backends
    /// allow, see [`BatchWriter::write_sent`]). Answers the events appended.
    pub async fn accept_sent(
        &self,
        channel_id: &str,
        kind: &ChannelKind,
        events: Vec<InboundEvent>,
        sent: SentRecord,
    ) -> Result<Vec<(Appended, Envelope)>, IngestError> {
        if let Some(event) = events.iter().find(|event| event.body.is_bridge_only()) {
            return Err(IngestError::BridgeOnly(event.body.type_name()));
        }
        self.append(channel_id, kind, events, Some(sent)).await
    }

    /// Appends one `payment.*` event on the conversation `conversation` of the channel
    /// `channel_id`: the payment engine's own path onto the bus (channels cannot use it:
    /// [`Ingest::accept`] refuses these bodies).
    pub async fn emit_payment(
        &self,
        channel_id: &str,
        kind: &ChannelKind,
        event: InboundEvent,
    ) -> Result<(Appended, Envelope), IngestError> {
        if !event.body.is_bridge_only() {
            return Err(IngestError::Bus(BusError::Unavailable(
                "emit_payment takes payment events only".into(),
            )));
        }
        let mut results = self.append(channel_id, kind, vec![event], None).await?;
        results.pop().ok_or_else(|| {
            IngestError::Bus(BusError::Unavailable("append returned nothing".into()))
        })
    }

    async fn append(
        &self,
        channel_id: &str,
        kind: &ChannelKind,
        events: Vec<InboundEvent>,
        sent: Option<SentRecord>,
    ) -> Result<Vec<(Appended, Envelope)>, IngestError> {
        let span =
            tracing::debug_span!("ingest", channel = %kind, channel_id, count = events.len());
        async move {
            let now = chrono::Utc::now();
            let own = sent.as_ref().map(|sent| &sent.id);
            let events =
                crate::deliveries::settle(self.store.as_ref(), channel_id, events, own).await?;
            let events =
                crate::channels::options::resolve(self.store.as_ref(), channel_id, events).await?;
            // One record per distinct conversation in the batch, durable no later than the
            // events (see the `BatchWriter`).
            let mut touches: Vec<ConversationTouch> = Vec::new();
            let mut ids = Vec::with_capacity(events.len());
            for event in &events {
                let conv_id = conversation_id(kind, &event.conversation);
                let inbound_at = inbound_at(event, now);
                let touch = match touches.iter_mut().position(|t| t.id == conv_id) {
                    Some(index) => &mut touches[index],
                    None => {
                        touches.push(ConversationTouch {
                            id: conv_id.clone(),
                            channel_id: channel_id.to_owned(),
                            channel: kind.clone(),
                            conversation: event.conversation.clone(),
                            at: now,
                            inbound_at: None,
                            participants: Vec::new(),
                        });
                        let last = touches.len() - 1;
                        &mut touches[last]
                    }
                };
                touch.inbound_at = touch.inbound_at.max(inbound_at);
                if let Some(sender) = event.sender.as_ref().filter(|s| s.id.is_some()) {
                    touch.participants.push(sender.clone());
                }
                ids.push(conv_id);
            }
            let batch: Vec<NewEvent> = events
                .into_iter()
                .zip(ids)
                .map(|(event, conv_id)| {
                    let dedup_key = event.effective_dedup_key().map(str::to_owned);
                    NewEvent {
                        envelope: Envelope::stamp(event, kind.clone(), conv_id, now),
                        dedup_key,
                    }
                })
                .collect();
            let envelopes: Vec<Envelope> = batch.iter().map(|e| e.envelope.clone()).collect();
            let (appended, envelopes) = match sent {
                Some(sent) => self
                    .writer
                    .write_sent(touches, batch, sent)
                    .await?
                    .into_iter()
                    .zip(envelopes)
                    .filter_map(|(appended, envelope)| Some((appended?, envelope)))
                    .unzip(),
                None => (self.writer.write(touches, batch).await?, envelopes),
            };
            Ok(self.announce_appended(kind, appended, envelopes))
        }
        .instrument(span)
        .await
    }

    /// After events are durable: counts them, tells live readers ([`AppendNotice`]) and
    /// stamps their seqs.
    fn announce_appended(
        &self,
        kind: &ChannelKind,
        appended: Vec<Appended>,
        envelopes: Vec<Envelope>,
    ) -> Vec<(Appended, Envelope)> {
        for (result, envelope) in appended.iter().zip(&envelopes) {
            if result.duplicate {
                Metrics::count_channel(&self.metrics.duplicates, kind.as_str());
                continue;
            }
            Metrics::count_channel(&self.metrics.events_in, kind.as_str());
            // No subscriber is fine: nobody is following this conversation live.
            let _ = self.appended.send(AppendNotice {
                conversation_id: envelope.conversation_id.clone(),
                seq: result.seq,
                event_type: envelope.event_type(),
            });
        }
        appended
            .into_iter()
            .zip(envelopes)
            .map(|(appended, mut envelope)| {
                envelope.seq = Some(appended.seq);
                (appended, envelope)
            })
            .collect()
    }

    /// Payment events the payment store appended in the same transaction as an intent's
    /// move (see [`crate::payments::store::Companions`]), now durable: moves the bus head
    /// and does what [`Ingest::emit_payment`] does after its append.
    pub fn payment_events_recorded(
        &self,
        kind: &ChannelKind,
        events: Vec<NewEvent>,
        appended: Vec<Appended>,
    ) -> Vec<(Appended, Envelope)> {
        if let Some(head) = appended.iter().map(|a| a.seq).max() {
            self.bus.note_appended(head);
        }
        let envelopes = events.into_iter().map(|event| event.envelope).collect();
        self.announce_appended(kind, appended, envelopes)
    }

    /// Appends payment events already stamped on `conversation` (by
    /// [`crate::payments::store::Companions`] the store could not record with the move):
    /// the conversation touched, then the append, as [`Ingest::emit_payment`] does.
    pub async fn append_payment_events(
        &self,
        conversation: &crate::store::Conversation,
        events: Vec<NewEvent>,
    ) -> Result<Vec<(Appended, Envelope)>, IngestError> {
        if events.iter().any(|e| !e.envelope.body.is_bridge_only()) {
            return Err(IngestError::Bus(BusError::Unavailable(
                "append_payment_events takes payment events only".into(),
            )));
        }
        let touch = ConversationTouch {
            id: conversation.id.clone(),
            channel_id: conversation.channel_id.clone(),
            channel: conversation.channel.clone(),
            conversation: conversation.conversation.clone(),
            at: chrono::Utc::now(),
            inbound_at: None,
            participants: Vec::new(),
        };
        let envelopes: Vec<Envelope> = events.iter().map(|e| e.envelope.clone()).collect();
        let appended = self.writer.write(vec![touch], events).await?;
        Ok(self.announce_appended(&conversation.channel, appended, envelopes))
    }

    /// Stamps a payment event for `conversation`, ready for
    /// [`crate::payments::store::Companions`].
    pub fn stamp_payment(conversation: &crate::store::Conversation, body: EventBody) -> NewEvent {
        let event = InboundEvent::new(conversation.conversation.clone(), body);
        let dedup_key = event.effective_dedup_key().map(str::to_owned);
        NewEvent {
            envelope: Envelope::stamp(
                event,
                conversation.channel.clone(),
                conversation.id.clone(),
                chrono::Utc::now(),
            ),
            dedup_key,
        }
    }

    /// Appends one event the bridge itself produced (message sent, delivery status) on an
    /// existing conversation; `None` when it was not appended (a delivery status older than
    /// the one recorded, see [`crate::deliveries`]).
    pub async fn emit(
        &self,
        channel_id: &str,
        kind: &ChannelKind,
        event: InboundEvent,
    ) -> Result<Option<Appended>, IngestError> {
        let mut results = self.accept(channel_id, kind, vec![event]).await?;
        Ok(results.pop().map(|(appended, _)| appended))
    }
}

/// When the customer wrote, for a customer's message or action: the provider's time (reply
/// windows count from it, and a redelivery days later must not reopen one), never later than
/// `now`. `None` for every other event.
fn inbound_at(event: &InboundEvent, now: Timestamp) -> Option<Timestamp> {
    let inbound = matches!(
        event.body,
        EventBody::MessageReceived(_) | EventBody::ActionInvoked(_)
    );
    inbound.then(|| event.occurred_at.unwrap_or(now).min(now))
}

/// The [`Inbox`] handed to one channel's `listen` loop.
pub struct ChannelInbox {
    ingest: Ingest,
    channel_id: String,
    kind: ChannelKind,
}

impl ChannelInbox {
    /// An inbox for the channel configured as `channel_id`.
    pub fn new(ingest: Ingest, channel_id: String, kind: ChannelKind) -> Self {
        Self {
            ingest,
            channel_id,
            kind,
        }
    }
}

#[async_trait::async_trait]
impl Inbox for ChannelInbox {
    async fn deliver(&self, events: Vec<InboundEvent>) -> Result<(), InboxError> {
        self.ingest
            .accept(&self.channel_id, &self.kind, events)
            .await
            .map(|_| ())
            .map_err(|error| InboxError::Unavailable(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn conversation_ids_are_stable_and_distinct() {
        let kind = ChannelKind::new("webchat").unwrap();
        let a = conversation_id(&kind, &ConversationRef::new("site", "s1"));
        assert_eq!(
            a,
            conversation_id(&kind, &ConversationRef::new("site", "s1"))
        );
        assert_ne!(
            a,
            conversation_id(&kind, &ConversationRef::new("site", "s2"))
        );
        assert_ne!(
            a,
            conversation_id(&kind, &ConversationRef::new("sites", "1"))
        );
        assert_eq!(a.as_str().len(), 27);
    }

    #[tokio::test]
    async fn channels_cannot_append_payment_events() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::sqlite::Database::open(
            dir.path().join("t.sqlite"),
            crate::sqlite::Durability::Normal,
        )
        .unwrap();
        let store: Arc<dyn Store> = Arc::new(crate::store::sqlite::SqliteStore::new(db.clone()));
        let bus: Arc<dyn EventLog> =
            Arc::new(crate::bus::sqlite::SqliteBus::new(db).await.unwrap());
        let ingest = Ingest::new(bus, store, Arc::new(Metrics::new()));
        let kind = ChannelKind::new("webchat").unwrap();
        let conversation = ConversationRef::new("site", "s1");
        let update = omnibridge_sdk::PaymentUpdate::new("payint_1", 1200, "EUR", "succeeded");
        let forged = InboundEvent::new(conversation.clone(), EventBody::PaymentSucceeded(update));
        let error = ingest
            .accept("wc", &kind, vec![forged.clone()])
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            IngestError::BridgeOnly("payment.succeeded")
        ));
        assert!(ingest.emit("wc", &kind, forged.clone()).await.is_err());
        let (_, envelope) = ingest.emit_payment("wc", &kind, forged).await.unwrap();
        assert_eq!(envelope.event_type(), "payment.succeeded");
        let text = InboundEvent::message(conversation, omnibridge_sdk::Content::text("hi"));
        assert!(ingest.emit_payment("wc", &kind, text).await.is_err());
    }
}
