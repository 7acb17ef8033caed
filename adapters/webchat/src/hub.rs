//! The session hub: which WebSocket connections each visitor session has open right now.
//!
//! The bridge's WebSocket route [`attach`](SessionHub::attach)es every connection and forwards
//! what it receives to the socket; [`WebChatChannel::send`](crate::WebChatChannel) and the
//! bridge [`publish`](SessionHub::publish) frames to every tab of a session. A connection that
//! cannot keep up (its queue of [`CONNECTION_QUEUE`] frames is full) is cut off: its receiver
//! ends, the bridge closes the socket, and the widget reconnects and resumes from the bus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;

use crate::frames::ServerFrame;
use crate::session::SessionId;

/// Frames queued per connection before a slow connection is cut off.
pub const CONNECTION_QUEUE: usize = 64;

/// Senders of every live connection, by session.
type Sessions = HashMap<SessionId, Vec<(ConnectionId, mpsc::Sender<ServerFrame>)>>;

/// One attached WebSocket connection, unique for the life of the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl ConnectionId {
    /// The id as a number, for logs.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Live connections per session.
#[derive(Debug, Default)]
pub struct SessionHub {
    /// Senders of every live connection, by session.
    sessions: Mutex<Sessions>,
    /// The next connection id.
    next_id: AtomicU64,
}

impl SessionHub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a new connection of `session`; the receiver yields the frames to write to
    /// the socket and ends when the hub cuts the connection off.
    pub fn attach(&self, session: &SessionId) -> (ConnectionId, mpsc::Receiver<ServerFrame>) {
        let id = ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (sender, receiver) = mpsc::channel(CONNECTION_QUEUE);
        self.lock()
            .entry(session.clone())
            .or_default()
            .push((id, sender));
        (id, receiver)
    }

    /// Forgets a connection (call it when the socket closes). Unknown ids are ignored.
    pub fn detach(&self, session: &SessionId, connection: ConnectionId) {
        let mut sessions = self.lock();
        if let Some(connections) = sessions.get_mut(session) {
            connections.retain(|(id, _)| *id != connection);
            if connections.is_empty() {
                sessions.remove(session);
            }
        }
    }

    /// Queues `frame` on every live connection of `session` and returns how many took it.
    /// Never blocks; closed and full connections are dropped from the hub.
    pub fn publish(&self, session: &SessionId, frame: ServerFrame) -> usize {
        let mut sessions = self.lock();
        let Some(connections) = sessions.get_mut(session) else {
            return 0;
        };
        let mut reached = 0;
        connections.retain(|(_, sender)| match sender.try_send(frame.clone()) {
            Ok(()) => {
                reached += 1;
                true
            }
            Err(_) => false,
        });
        if connections.is_empty() {
            sessions.remove(session);
        }
        reached
    }

    /// How many connections `session` has open.
    pub fn connections(&self, session: &SessionId) -> usize {
        self.lock().get(session).map_or(0, Vec::len)
    }

    /// How many sessions have at least one connection open.
    pub fn sessions(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publishes_to_every_tab_of_the_session_only() {
        let hub = SessionHub::new();
        let (alice, bob) = (SessionId::generate(), SessionId::generate());
        let (tab1, mut rx1) = hub.attach(&alice);
        let (tab2, mut rx2) = hub.attach(&alice);
        let (_, mut rx_bob) = hub.attach(&bob);
        assert_ne!(tab1, tab2);
        assert_eq!(hub.connections(&alice), 2);
        assert_eq!(hub.sessions(), 2);
        assert_eq!(hub.publish(&alice, ServerFrame::Pong), 2);
        assert_eq!(rx1.recv().await, Some(ServerFrame::Pong));
        assert_eq!(rx2.recv().await, Some(ServerFrame::Pong));
        assert!(rx_bob.try_recv().is_err());
        hub.detach(&alice, tab1);
        assert_eq!(hub.publish(&alice, ServerFrame::Pong), 1);
        hub.detach(&alice, tab2);
        hub.detach(&alice, tab2);
        assert_eq!(hub.connections(&alice), 0);
        assert_eq!(hub.sessions(), 1);
    }

    #[test]
    fn publishing_to_an_offline_session_reaches_nobody() {
        let hub = SessionHub::new();
        assert_eq!(hub.publish(&SessionId::generate(), ServerFrame::Pong), 0);
    }

    #[tokio::test]
    async fn closed_and_slow_connections_are_dropped() {
        let hub = SessionHub::new();
        let session = SessionId::generate();
        let (_, closed) = hub.attach(&session);
        drop(closed);
        let (_, mut slow) = hub.attach(&session);
        for _ in 0..CONNECTION_QUEUE {
            assert_eq!(hub.publish(&session, ServerFrame::Pong), 1);
        }
        assert_eq!(hub.publish(&session, ServerFrame::Pong), 0);
        assert_eq!(hub.sessions(), 0);
        let mut drained = 0;
        while slow.recv().await.is_some() {
            drained += 1;
        }
        assert_eq!(drained, CONNECTION_QUEUE);
    }
}
