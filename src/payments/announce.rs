//! The announcement of a confirmation's moves (`processing`, `succeeded`, back to
//! `requires_confirmation`): the `payment.*` event and the message to the conversation are
//! built before the move and handed to the store as [`Companions`], so the move, the event
//! and the queued message are one write (one transaction, one commit) where the store can do
//! it. Where it cannot ([`Recorded::No`]), they are recorded right after the move, as
//! separate writes; a failure there is logged and never undoes the move.
//!
//! What an announcement needs of the conversation (its channel id, kind and ref) never
//! changes for a conversation id (the id is a hash of them, and conversations are never
//! deleted), so it is read once and kept in a small in-memory cache.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use omnibridge_sdk::{ConversationId, EventBody, PaymentUpdate};

use super::engine::PaymentEngine;
use super::intent::{IntentState, PaymentIntent, TransitionPatch};
use super::store::{Companions, Recorded};
use crate::ingest::Ingest;
use crate::outbox::Outbox;
use crate::store::{Conversation, StoreError};

/// Conversations kept by [`ConversationCache`] before it starts afresh.
const CACHED_CONVERSATIONS: usize = 4096;

/// Conversations already read by announcements (see the module docs).
#[derive(Debug, Default)]
pub(super) struct ConversationCache {
    seen: Mutex<HashMap<ConversationId, Conversation>>,
}

impl ConversationCache {
    fn get(&self, id: &ConversationId) -> Option<Conversation> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn keep(&self, conversation: &Conversation) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= CACHED_CONVERSATIONS {
            seen.clear();
        }
        seen.insert(conversation.id.clone(), conversation.clone());
    }
}

/// The message a move sends to the conversation.
pub(super) enum Message<'a> {
    /// `payment_receipt`.
    Receipt,
    /// `payment_failed` with the reason.
    Failed(&'a str),
}

/// What a move announces: its event (built from the intent as it will be after the move)
/// and, optionally, a message.
pub(super) struct Announcement<'a> {
    /// The event's payload for the moved intent.
    pub(super) event: EventBody,
    /// The message, if any.
    pub(super) message: Option<Message<'a>>,
}

/// Companions built for one move, and the conversation they are on.
pub(super) struct Prepared {
    conversation: Option<Conversation>,
    companions: Companions,
}

impl Prepared {
    /// What to hand the store.
    pub(super) fn companions(&self) -> &Companions {
        &self.companions
    }
}

/// The intent as `to` and `patch` will leave it (what the events and messages show).
pub(super) fn after_move(
    intent: &PaymentIntent,
    to: IntentState,
    patch: &TransitionPatch,
) -> PaymentIntent {
    let mut after = intent.clone();
    after.state = to;
    if let Some(method) = &patch.method {
        after.method = Some(method.clone());
    }
    if let Some(reference) = &patch.reference {
        after.reference = Some(reference.clone());
    }
    if let Some(settled_at) = patch.settled_at {
        after.settled_at = Some(settled_at);
    }
    after
}

impl PaymentEngine {
    /// Builds the event and message of a move of `after` (the intent as the move leaves it).
    /// A conversation that is gone, or a message that does not render, is logged as the
    /// separate writes would log it, and left out.
    pub(super) async fn prepare(
        &self,
        after: &PaymentIntent,
        announcement: Announcement<'_>,
    ) -> Prepared {
        let event_type = announcement.event.type_name();
        let conversation = match self.conversation(&after.conversation_id).await {
            Ok(Some(conversation)) => conversation,
            Ok(None) => {
                tracing::error!(payment_intent_id = %after.id, event_type,
                    "payment event could not be appended: the conversation is gone");
                return Prepared {
                    conversation: None,
                    companions: Companions::default(),
                };
            }
            Err(error) => {
                tracing::error!(payment_intent_id = %after.id, event_type, %error,
                    "payment event could not be appended");
                return Prepared {
                    conversation: None,
                    companions: Companions::default(),
                };
            }
        };
        let notifier = &self.inner.notifier;
        let message = announcement.message.and_then(|message| {
            let (template, built) = match message {
                Message::Receipt => (
                    "payment_receipt",
                    notifier.receipt_message(after, &conversation),
                ),
                Message::Failed(reason) => (
                    "payment_failed",
                    notifier.failed_message(after, &conversation, reason),
                ),
            };
            let record = built.and_then(|message| {
                Outbox::record(&conversation.id, &message).map_err(|e| e.to_string())
            });
            record
                .map_err(|error| {
                    tracing::warn!(payment_intent_id = %after.id, template, %error,
                        "payment message not sent");
                })
                .ok()
        });
        let companions = Companions {
            events: vec![Ingest::stamp_payment(&conversation, announcement.event)],
            messages: message.into_iter().collect(),
            conversation: Some(conversation.clone()),
        };
        Prepared {
            conversation: Some(conversation),
            companions,
        }
    }

    /// The conversation `id`, from the cache or the store.
    async fn conversation(&self, id: &ConversationId) -> Result<Option<Conversation>, StoreError> {
        if let Some(conversation) = self.inner.conversations_seen.get(id) {
            return Ok(Some(conversation));
        }
        let found = self.inner.conversations.conversation(id).await?;
        if let Some(conversation) = &found {
            self.inner.conversations_seen.keep(conversation);
        }
        Ok(found)
    }

    /// After the move happened: tells the bus and the outbox what the store recorded with
    /// it, or records it now.
    pub(super) async fn finish(&self, intent_id: &str, prepared: Prepared, recorded: Recorded) {
        let Prepared {
            conversation,
            companions,
        } = prepared;
        let Some(conversation) = conversation else {
            return;
        };
        let outbox = self.inner.notifier.outbox();
        match recorded {
            Recorded::Yes(appended) => {
                self.inner.ingest.payment_events_recorded(
                    &conversation.channel,
                    companions.events,
                    appended,
                );
                if !companions.messages.is_empty() {
                    outbox.wake();
                }
            }
            Recorded::No => {
                if let Err(error) = self
                    .inner
                    .ingest
                    .append_payment_events(&conversation, companions.events)
                    .await
                {
                    tracing::error!(payment_intent_id = %intent_id, %error,
                        "payment event could not be appended");
                }
                for record in &companions.messages {
                    if let Err(error) = outbox.enqueue_record(record).await {
                        tracing::warn!(payment_intent_id = %intent_id, %error,
                            "payment message not sent");
                    }
                }
            }
        }
    }
}

/// The payload of the event for `intent` in `state`, with an optional reason.
pub(super) fn payload(intent: &PaymentIntent, state: &str, reason: Option<&str>) -> PaymentUpdate {
    let update = super::events::update(intent, state);
    match reason {
        Some(reason) => update.with_reason(reason),
        None => update,
    }
}
