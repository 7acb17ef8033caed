//! The web chat's fan-out hub: one reader of the bus wakes only the sockets that follow the
//! conversation a message was sent to.
//!
//! A socket registers its conversation and gets a [`Waiter`]; the hub's one task ([`Hub::run`])
//! takes this instance's append notices and, once per poll, reads the log after the last seq it
//! saw (appends by other instances sharing the bus). For each `message.sent` on a registered
//! conversation it moves that conversation's watch to the newest seq, which wakes its sockets;
//! they then read the conversation after their own seq. A lagged notice stream makes the hub
//! read the log at once (and, should that read fail, wake every socket: each re-reads; nothing
//! is lost). A dropped [`Waiter`] deregisters, and the
//! conversation leaves the map with its last socket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use omnibridge_sdk::ConversationId;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::bus::{EventLog, Seq};
use crate::ingest::AppendNotice;

/// The event type that wakes sockets.
const SENT: &str = "message.sent";
/// Events read per catch-up query of the poll.
const POLL_BATCH: usize = 512;

/// The sockets' conversations, each with a watch of its newest sent seq.
#[derive(Clone, Default)]
pub struct Hub {
    /// Conversation → the watch its sockets hold receivers of.
    conversations: Arc<Mutex<HashMap<ConversationId, watch::Sender<Seq>>>>,
}

/// One socket's registration: wakes when something was sent to its conversation, and
/// deregisters when dropped.
pub struct Waiter {
    /// The hub it is registered with.
    hub: Hub,
    /// Its conversation.
    conversation: ConversationId,
    /// Taken (dropped) under the hub's lock when the waiter drops, so the count of receivers
    /// the hub sees is exact.
    wake: Option<watch::Receiver<Seq>>,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ConversationId, watch::Sender<Seq>>> {
        // The map stays consistent through a panic elsewhere (every change is one call).
        self.conversations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a socket following `conversation`. Register before the replay read: a
    /// message sent after this call wakes the waiter.
    pub fn register(&self, conversation: &ConversationId) -> Waiter {
        let mut map = self.lock();
        let sender = map
            .entry(conversation.clone())
            .or_insert_with(|| watch::channel(0).0);
        let wake = sender.subscribe();
        drop(map);
        Waiter {
            hub: self.clone(),
            conversation: conversation.clone(),
            wake: Some(wake),
        }
    }

    /// Wakes the sockets of `conversation` for a message sent at `seq` (no-op for a
    /// conversation nobody follows, or a seq they were already woken for).
    pub fn wake(&self, conversation: &ConversationId, seq: Seq) {
        if let Some(sender) = self.lock().get(conversation) {
            sender.send_if_modified(|newest| {
                let newer = seq > *newest;
                if newer {
                    *newest = seq;
                }
                newer
            });
        }
    }

    /// Wakes every socket (the notice stream lagged: anything may have been sent).
    pub fn wake_all(&self) {
        for sender in self.lock().values() {
            sender.send_modify(|_| {});
        }
    }

    /// How many conversations have sockets registered.
    pub fn conversations(&self) -> usize {
        self.lock().len()
    }

    /// How many sockets follow `conversation`.
    pub fn waiters(&self, conversation: &ConversationId) -> usize {
        self.lock()
            .get(conversation)
            .map_or(0, watch::Sender::receiver_count)
    }

    /// The hub's one task: wakes sockets from this instance's append `notices`, and from the
    /// log after the last seq seen whenever the bus head moves (appends by other instances)
    /// or every `poll`, until `shutdown`.
    pub async fn run(
        self,
        notices: broadcast::Receiver<AppendNotice>,
        bus: Arc<dyn EventLog>,
        poll: Duration,
        shutdown: CancellationToken,
    ) {
        let cursor = bus.head().await.unwrap_or_else(|error| {
            tracing::warn!(%error, "Web-chat hub could not read the bus head; starting at 0.");
            0
        });
        self.run_from(cursor, notices, bus, poll, shutdown).await;
    }

    /// [`Hub::run`] with the log read from `cursor` on (what was appended before it is
    /// the sockets' own replay).
    pub async fn run_from(
        self,
        mut cursor: Seq,
        mut notices: broadcast::Receiver<AppendNotice>,
        bus: Arc<dyn EventLog>,
        poll: Duration,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut head = bus.watch_head();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                // The log moved past what this task has read: another instance's append (a
                // shared bus pushes those to the head watch) or one whose notice is on its
                // way. One read covers every move since the last.
                () = crate::bus::head_moved(&mut head) => {
                    if *head.borrow_and_update() > cursor {
                        cursor = self.catch_up(bus.as_ref(), cursor).await.0;
                    }
                }
                notice = notices.recv() => match notice {
                    Ok(notice) => {
                        if notice.event_type == SENT {
                            self.wake(&notice.conversation_id, notice.seq);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let (next, complete) = self.catch_up(bus.as_ref(), cursor).await;
                        cursor = next;
                        if !complete {
                            self.wake_all();
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => cursor = self.catch_up(bus.as_ref(), cursor).await.0,
            }
        }
    }

    /// Reads the log after `cursor` and wakes for each `message.sent` not yet seen; returns
    /// the new cursor and whether the log was read up to its head. With no socket registered
    /// it only moves the cursor to the head.
    async fn catch_up(&self, bus: &dyn EventLog, mut cursor: Seq) -> (Seq, bool) {
        // Head first, then the check: a socket registered after the check does its replay
        // read after this head, so it sees everything up to it.
        let Ok(head) = bus.head().await else {
            return (cursor, false);
        };
        if head <= cursor || self.conversations() == 0 {
            return (head.max(cursor), true);
        }
        loop {
            let events = match bus.read_after(cursor, POLL_BATCH).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, "Web-chat hub poll failed; retrying.");
                    return (cursor, false);
                }
            };
            let full = events.len() == POLL_BATCH;
            for event in events {
                let Some(seq) = event.seq else { continue };
                cursor = cursor.max(seq);
                if event.event_type() == SENT {
                    self.wake(&event.conversation_id, seq);
                }
            }
            if !full {
                return (cursor, true);
            }
        }
    }
}

impl Waiter {
    /// Resolves when a message may have been sent to the conversation since the last wake
    /// (or since registering). Cancel-safe.
    pub async fn woken(&mut self) {
        match self.wake.as_mut() {
            // The sender lives in the hub's map as long as this receiver does.
            Some(wake) => {
                if wake.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut map = self.hub.lock();
        drop(self.wake.take());
        if map
            .get(&self.conversation)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            map.remove(&self.conversation);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures_util::FutureExt;
    use omnibridge_sdk::{
        ChannelKind, Content, ConversationRef, Envelope, EventBody, InboundEvent, Message,
    };

    use super::*;

    fn conv(name: &str) -> ConversationId {
        ConversationId::from(name.to_owned())
    }

    /// An event of `body` in conversation `id`, to append straight to the bus (as another
    /// instance would: no notice here).
    fn append(id: &str, body: EventBody) -> crate::bus::NewEvent {
        let kind = ChannelKind::new("webchat").unwrap();
        let event = InboundEvent::new(ConversationRef::new("site", id), body);
        crate::bus::NewEvent {
            envelope: Envelope::stamp(event, kind, conv(id), chrono::Utc::now()),
            dedup_key: None,
        }
    }

    fn sent() -> EventBody {
        EventBody::MessageSent(Message::new(Content::text("hi")))
    }

    fn received() -> EventBody {
        EventBody::MessageReceived(Message::new(Content::text("yo")))
    }

    /// Whether the waiter has a wake pending (polled once, without waiting).
    fn is_woken(waiter: &mut Waiter) -> bool {
        waiter.woken().now_or_never().is_some()
    }

    /// A SQLite bus in `dir`.
    async fn sqlite_bus(dir: &std::path::Path) -> Arc<dyn EventLog> {
        let db =
            crate::sqlite::Database::open(dir.join("t.sqlite"), crate::sqlite::Durability::Normal)
                .unwrap();
        Arc::new(crate::bus::sqlite::SqliteBus::new(db).await.unwrap())
    }

    /// Waits (bounded) for a wake the hub's task is about to deliver.
    async fn wait_woken(waiter: &mut Waiter) {
        tokio::time::timeout(Duration::from_secs(10), waiter.woken())
            .await
            .unwrap();
    }

    #[test]
    fn a_socket_is_woken_only_for_its_own_conversation() {
        let hub = Hub::new();
        let mut a = hub.register(&conv("a"));
        let mut b = hub.register(&conv("b"));
        hub.wake(&conv("a"), 5);
        assert!(is_woken(&mut a));
        assert!(!is_woken(&mut b));
        // Consumed: no second wake without a new message.
        assert!(!is_woken(&mut a));
        // An old seq wakes nobody; an unfollowed conversation is a no-op.
        hub.wake(&conv("a"), 4);
        hub.wake(&conv("nobody"), 9);
        assert!(!is_woken(&mut a));
        assert_eq!(hub.conversations(), 2);
        hub.wake_all();
        assert!(is_woken(&mut a));
        assert!(is_woken(&mut b));
    }

    #[test]
    fn closed_sockets_deregister_and_the_conversation_leaves_with_the_last() {
        let hub = Hub::new();
        let first = hub.register(&conv("a"));
        let mut second = hub.register(&conv("a"));
        assert_eq!(hub.waiters(&conv("a")), 2);
        drop(first);
        assert_eq!(hub.waiters(&conv("a")), 1);
        hub.wake(&conv("a"), 1);
        assert!(is_woken(&mut second));
        drop(second);
        assert_eq!(hub.conversations(), 0);
        assert_eq!(hub.waiters(&conv("a")), 0);
    }

    #[tokio::test]
    async fn the_task_wakes_from_notices_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let bus = sqlite_bus(dir.path()).await;
        let hub = Hub::new();
        let (notices, rx) = broadcast::channel(4);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(hub.clone().run(
            rx,
            bus.clone(),
            Duration::from_secs(3600),
            shutdown.clone(),
        ));
        let mut mine = hub.register(&conv("mine"));
        let mut other = hub.register(&conv("other"));
        let notice = |name: &str, seq, event_type| AppendNotice {
            conversation_id: conv(name),
            seq,
            event_type,
        };
        // Notices are taken in order: once `mine` is woken, the one before it was handled.
        notices
            .send(notice("other", 1, "delivery.updated"))
            .unwrap();
        notices.send(notice("mine", 2, SENT)).unwrap();
        wait_woken(&mut mine).await;
        assert!(!is_woken(&mut other), "a delivery notice woke a socket");
        notices.send(notice("elsewhere", 3, SENT)).unwrap();
        notices.send(notice("mine", 4, SENT)).unwrap();
        wait_woken(&mut mine).await;
        assert!(!is_woken(&mut other), "woken for another conversation");
        // A lagged stream (capacity 4) makes the hub read the log (the poll is an hour away):
        // it finds what was sent to `other` though that notice was lost.
        bus.append(vec![append("other", sent())]).await.unwrap();
        for seq in 5..20 {
            notices.send(notice("elsewhere", seq, SENT)).unwrap();
        }
        wait_woken(&mut other).await;
        assert!(!is_woken(&mut mine), "the lag woke every socket");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn the_poll_wakes_for_appends_by_other_instances() {
        let dir = tempfile::tempdir().unwrap();
        let bus = sqlite_bus(dir.path()).await;
        let hub = Hub::new();
        // No notice ever arrives: the appends below bypass this instance's ingest.
        let (_notices, rx) = broadcast::channel::<AppendNotice>(4);
        let shutdown = CancellationToken::new();
        // From the empty log's start, so the appends below are after the hub's cursor however
        // the task is scheduled.
        let task = tokio::spawn(hub.clone().run_from(
            0,
            rx,
            bus.clone(),
            Duration::from_millis(20),
            shutdown.clone(),
        ));
        let mut mine = hub.register(&conv("mine"));
        let mut other = hub.register(&conv("other"));
        bus.append(vec![append("other", received()), append("mine", sent())])
            .await
            .unwrap();
        wait_woken(&mut mine).await;
        assert!(!is_woken(&mut other), "a received message woke a socket");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
