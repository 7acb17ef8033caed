//! The canonical event: one envelope for everything that crosses the bus.
//!
//! Adapters build [`InboundEvent`]s; only the bridge stamps the schema version, the id, the
//! bus sequence number, the conversation id and the receive time, turning them into
//! [`Envelope`]s. Consumers see the same JSON shape whatever the channel:
//!
//! ```json
//! {"v":1,"id":"01J…","seq":42,"occurred_at":"…","received_at":"…","channel":"webchat",
//!  "conversation_id":"cv_…","conversation":{"account":"demo","thread":"s_…"},
//!  "sender":{"id":"s_…","display_name":null,"role":"customer"},
//!  "provider_message_id":"m1","reply_to":null,
//!  "type":"message.received","data":{"content":{"kind":"text","body":"hi"}}}
//! ```

use serde::{Deserialize, Serialize};

use crate::content::{Content, MediaUpdate};
use crate::ids::{
    ChannelKind, ConversationId, ConversationRef, EventId, OutboundId, Participant,
    ProviderMessageId, Timestamp,
};
use crate::outbound::Button;
use crate::payment::{AgentAction, PaymentUpdate};

/// The version of the envelope schema this crate writes.
pub const SCHEMA_VERSION: u16 = 1;

/// Largest raw provider payload kept on an event, in bytes.
pub const RAW_PAYLOAD_CAP: usize = 16 * 1024;

/// One event on the bus, as business consumers see it (SSE, webhooks, history API).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Envelope {
    /// Schema version ([`SCHEMA_VERSION`] when written by this crate).
    pub v: u16,
    /// Bridge-assigned, time-sortable id.
    pub id: EventId,
    /// Position on the bus: strictly increasing, the SSE `id` and `Last-Event-ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// When the provider says it happened.
    pub occurred_at: Timestamp,
    /// When the bridge received it.
    pub received_at: Timestamp,
    /// Which kind of channel it came from or went to.
    pub channel: ChannelKind,
    /// The bridge's id of the conversation; use it to reply.
    pub conversation_id: ConversationId,
    /// Where the conversation lives on its channel.
    pub conversation: ConversationRef,
    /// Who sent it, when known.
    pub sender: Option<Participant>,
    /// The provider's id of the message (de-duplication key with `channel`).
    pub provider_message_id: Option<ProviderMessageId>,
    /// The provider message this one answers.
    pub reply_to: Option<ProviderMessageId>,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
    /// A size-capped copy of the provider payload, for debugging; never holds secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawPayload>,
}

impl Envelope {
    /// Stamps an adapter's event into an envelope. Bridge-side: adapters never call this.
    pub fn stamp(
        event: InboundEvent,
        channel: ChannelKind,
        conversation_id: ConversationId,
        received_at: Timestamp,
    ) -> Self {
        Self {
            v: SCHEMA_VERSION,
            id: EventId::generate(),
            seq: None,
            occurred_at: event.occurred_at.unwrap_or(received_at),
            received_at,
            channel,
            conversation_id,
            conversation: event.conversation,
            sender: event.sender,
            provider_message_id: event.provider_message_id,
            reply_to: event.reply_to,
            body: event.body,
            raw: event.raw,
        }
    }

    /// The event's type name, e.g. `message.received`.
    pub fn event_type(&self) -> &'static str {
        self.body.type_name()
    }
}

/// What happened, tagged by `type` with its payload in `data`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
#[non_exhaustive]
pub enum EventBody {
    /// A customer's message reached the business.
    #[serde(rename = "message.received")]
    MessageReceived(Message),
    /// The business's message was handed to the channel.
    #[serde(rename = "message.sent")]
    MessageSent(Message),
    /// The customer pressed a button or chose an option.
    #[serde(rename = "action.invoked")]
    ActionInvoked(Action),
    /// A delivery status changed for an outbound message.
    #[serde(rename = "delivery.updated")]
    DeliveryUpdated(Delivery),
    /// The bridge downloaded and stored an inbound message's media: `data.media.url` serves
    /// it to API clients.
    #[serde(rename = "media.stored")]
    MediaStored(MediaUpdate),
    /// An inbound message's media could not be stored (too large, gone at the provider).
    #[serde(rename = "media.failed")]
    MediaFailed(MediaUpdate),
    /// Bridge-only: a payment intent was offered in the conversation.
    #[serde(rename = "payment.requested")]
    PaymentRequested(PaymentUpdate),
    /// Bridge-only: a payment credential was accepted for settlement.
    #[serde(rename = "payment.confirmation_submitted")]
    PaymentConfirmationSubmitted(PaymentUpdate),
    /// Bridge-only: the payment settled.
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded(PaymentUpdate),
    /// Bridge-only: the payment was refused or could not be processed.
    #[serde(rename = "payment.failed")]
    PaymentFailed(PaymentUpdate),
    /// Bridge-only: the business canceled the intent.
    #[serde(rename = "payment.canceled")]
    PaymentCanceled(PaymentUpdate),
    /// Bridge-only: the intent expired unpaid.
    #[serde(rename = "payment.expired")]
    PaymentExpired(PaymentUpdate),
    /// Bridge-only: some or all of a settled payment was refunded.
    #[serde(rename = "payment.refunded")]
    PaymentRefunded(PaymentUpdate),
    /// Bridge-only: the customer disputed a settled payment (for an operator; `reason` is
    /// the processor's dispute reason).
    #[serde(rename = "payment.disputed")]
    PaymentDisputed(PaymentUpdate),
    /// Bridge-only: an intent above its API key's `approval_above` guardrail waits for a
    /// person (`POST /v1/payment-intents/{id}/approve` or `reject`); nothing was sent to the
    /// customer yet.
    #[serde(rename = "payment.approval_requested")]
    PaymentApprovalRequested(PaymentUpdate),
    /// Bridge-only: a person rejected an intent waiting for approval; it is never offered to
    /// the customer.
    #[serde(rename = "payment.rejected")]
    PaymentRejected(PaymentUpdate),
    /// Bridge-only: an API key's agent changed something through the agent (MCP) interface
    /// (an audit record: never message bodies or secrets).
    #[serde(rename = "agent.action")]
    AgentAction(AgentAction),
}

impl EventBody {
    /// The `type` tag of this body.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::MessageReceived(_) => "message.received",
            Self::MessageSent(_) => "message.sent",
            Self::ActionInvoked(_) => "action.invoked",
            Self::DeliveryUpdated(_) => "delivery.updated",
            Self::MediaStored(_) => "media.stored",
            Self::MediaFailed(_) => "media.failed",
            Self::PaymentRequested(_) => "payment.requested",
            Self::PaymentConfirmationSubmitted(_) => "payment.confirmation_submitted",
            Self::PaymentSucceeded(_) => "payment.succeeded",
            Self::PaymentFailed(_) => "payment.failed",
            Self::PaymentCanceled(_) => "payment.canceled",
            Self::PaymentExpired(_) => "payment.expired",
            Self::PaymentRefunded(_) => "payment.refunded",
            Self::PaymentDisputed(_) => "payment.disputed",
            Self::PaymentApprovalRequested(_) => "payment.approval_requested",
            Self::PaymentRejected(_) => "payment.rejected",
            Self::AgentAction(_) => "agent.action",
        }
    }

    /// The payment update, for `payment.*` bodies.
    pub fn payment(&self) -> Option<&PaymentUpdate> {
        match self {
            Self::PaymentRequested(update)
            | Self::PaymentConfirmationSubmitted(update)
            | Self::PaymentSucceeded(update)
            | Self::PaymentFailed(update)
            | Self::PaymentCanceled(update)
            | Self::PaymentExpired(update)
            | Self::PaymentRefunded(update)
            | Self::PaymentDisputed(update)
            | Self::PaymentApprovalRequested(update)
            | Self::PaymentRejected(update) => Some(update),
            _ => None,
        }
    }

    /// Whether only the bridge itself may append this body (payment events, agent audit
    /// records): channels' events carrying one are refused at ingest.
    pub fn is_bridge_only(&self) -> bool {
        self.payment().is_some() || matches!(self, Self::AgentAction(_))
    }

    /// Every type name, for filters and docs.
    pub const TYPE_NAMES: &'static [&'static str] = &[
        "message.received",
        "message.sent",
        "action.invoked",
        "delivery.updated",
        "media.stored",
        "media.failed",
        "payment.requested",
        "payment.confirmation_submitted",
        "payment.succeeded",
        "payment.failed",
        "payment.canceled",
        "payment.expired",
        "payment.refunded",
        "payment.disputed",
        "payment.approval_requested",
        "payment.rejected",
        "agent.action",
    ];
}

/// A message's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// What it carries.
    pub content: Content,
    /// For `message.sent`: the bridge's outbound id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_id: Option<OutboundId>,
    /// Whether the provider marked it as forwarded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forwarded: bool,
    /// For `message.sent`: the action buttons offered with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    /// The subject line, on channels that have one (email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The whole text as received, when `content` holds only the new part (email: `content`
    /// has the quoted history and signature stripped; this keeps everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_text: Option<String>,
    /// Set when the message was sent by a machine (auto-reply, mailing list, bounce): never
    /// answer it automatically. The value says why (`auto_submitted`, `mailing_list`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<String>,
    /// Set by channels whose senders can be forged (email): whether this message may confirm
    /// a payment by keyword, and for which intent. `None`: the channel authenticates its users
    /// (chat apps), keyword confirmation applies as configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<ConfirmationCheck>,
    /// Set when this event is an edit: the provider id of the message the customer edited
    /// (`content` is the new version). Absent in events written before this field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_of: Option<ProviderMessageId>,
}

/// A channel's verdict on whether a message may confirm a payment by keyword ("PAY").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConfirmationCheck {
    /// Whether a confirm keyword in this message may pay.
    pub allowed: bool,
    /// The payment intent this message answers, when the channel knows it (email: the
    /// intent's reply address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_id: Option<String>,
    /// Why it may not pay (`not_sent_to_payment_address`, `sender_mismatch`,
    /// `sender_not_authenticated: ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ConfirmationCheck {
    /// The message may confirm `intent_id` (or the conversation's only open intent).
    pub fn allowed(intent_id: Option<String>) -> Self {
        Self {
            allowed: true,
            intent_id,
            reason: None,
        }
    }

    /// The message may not confirm anything, because of `reason`.
    pub fn refused(intent_id: Option<String>, reason: impl Into<String>) -> Self {
        Self {
            allowed: false,
            intent_id,
            reason: Some(reason.into()),
        }
    }
}

impl Message {
    /// A message with this content.
    pub fn new(content: Content) -> Self {
        Self {
            content,
            outbound_id: None,
            forwarded: false,
            buttons: Vec::new(),
            subject: None,
            full_text: None,
            automated: None,
            confirmation: None,
            edit_of: None,
        }
    }
}

/// A button press or option choice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Action {
    /// The payload the business attached to the button.
    pub payload: String,
    /// The label the customer saw, when the channel reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Action {
    /// An action carrying `payload`.
    pub fn new(payload: impl Into<String>) -> Self {
        Self {
            payload: payload.into(),
            label: None,
        }
    }
}

/// A delivery status of one outbound message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Delivery {
    /// The bridge's outbound id, when the bridge knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_id: Option<OutboundId>,
    /// The new status.
    pub status: DeliveryStatus,
    /// Why it failed, in words an operator can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The provider's or bridge's machine-readable error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl Delivery {
    /// A status without a reason.
    pub fn new(status: DeliveryStatus) -> Self {
        Self {
            outbound_id: None,
            status,
            reason: None,
            code: None,
        }
    }

    /// A failure with a code and a reason.
    pub fn failed(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            outbound_id: None,
            status: DeliveryStatus::Failed,
            reason: Some(reason.into()),
            code: Some(code.into()),
        }
    }

    /// Links the status to an outbound message.
    pub fn for_outbound(mut self, id: OutboundId) -> Self {
        self.outbound_id = Some(id);
        self
    }
}

/// Where an outbound message is on its way to the customer. Ordered: a later status never
/// downgrades an earlier one (except `failed`, which is final).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// The bridge accepted it and queued it.
    Queued,
    /// The provider accepted it.
    Sent,
    /// It reached the customer's device.
    Delivered,
    /// The customer read it.
    Read,
    /// It will not be delivered.
    Failed,
}

/// A capped copy of what the provider sent, for debugging.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RawPayload {
    /// The payload's media type.
    pub content_type: String,
    /// The payload as text, cut at [`RAW_PAYLOAD_CAP`] bytes.
    pub body: String,
    /// Whether the body was cut.
    pub truncated: bool,
}

impl RawPayload {
    /// Keeps at most [`RAW_PAYLOAD_CAP`] bytes of `body`, cut on a character boundary. Callers
    /// must pass payloads with secrets already removed.
    pub fn capped(content_type: impl Into<String>, body: &str) -> Self {
        let mut end = body.len().min(RAW_PAYLOAD_CAP);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            content_type: content_type.into(),
            body: body[..end].to_owned(),
            truncated: end < body.len(),
        }
    }
}

/// What an adapter produces from a verified payload: an event before the bridge stamps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InboundEvent {
    /// Where the conversation lives.
    pub conversation: ConversationRef,
    /// Who sent it, when known.
    pub sender: Option<Participant>,
    /// The provider's message id.
    pub provider_message_id: Option<ProviderMessageId>,
    /// The de-duplication key, when it differs from `provider_message_id` (e.g. id + status).
    pub dedup_key: Option<String>,
    /// The message this one answers.
    pub reply_to: Option<ProviderMessageId>,
    /// Provider time.
    pub occurred_at: Option<Timestamp>,
    /// What happened.
    pub body: EventBody,
    /// Capped, secret-free copy of the payload.
    pub raw: Option<RawPayload>,
}

impl InboundEvent {
    /// An event with this body on this conversation; add details with the `with_*` methods.
    pub fn new(conversation: ConversationRef, body: EventBody) -> Self {
        Self {
            conversation,
            sender: None,
            provider_message_id: None,
            dedup_key: None,
            reply_to: None,
            occurred_at: None,
            body,
            raw: None,
        }
    }

    /// A customer's message.
    pub fn message(conversation: ConversationRef, content: Content) -> Self {
        Self::new(
            conversation,
            EventBody::MessageReceived(Message::new(content)),
        )
    }

    /// A customer's button press.
    pub fn action(conversation: ConversationRef, action: Action) -> Self {
        Self::new(conversation, EventBody::ActionInvoked(action))
    }

    /// A delivery status.
    pub fn delivery(conversation: ConversationRef, delivery: Delivery) -> Self {
        Self::new(conversation, EventBody::DeliveryUpdated(delivery))
    }

    /// Sets the sender.
    pub fn with_sender(mut self, sender: Participant) -> Self {
        self.sender = Some(sender);
        self
    }

    /// Sets the provider message id.
    pub fn with_provider_message_id(mut self, id: impl Into<ProviderMessageId>) -> Self {
        self.provider_message_id = Some(id.into());
        self
    }

    /// Sets a de-duplication key other than the provider message id.
    pub fn with_dedup_key(mut self, key: impl Into<String>) -> Self {
        self.dedup_key = Some(key.into());
        self
    }

    /// Sets the message this one answers.
    pub fn with_reply_to(mut self, id: impl Into<ProviderMessageId>) -> Self {
        self.reply_to = Some(id.into());
        self
    }

    /// Sets the provider time.
    pub fn with_occurred_at(mut self, at: Timestamp) -> Self {
        self.occurred_at = Some(at);
        self
    }

    /// Attaches a raw payload copy.
    pub fn with_raw(mut self, raw: RawPayload) -> Self {
        self.raw = Some(raw);
        self
    }

    /// The key the bridge de-duplicates this event on, with the channel: the explicit
    /// `dedup_key`, else the provider message id. `None` means never de-duplicated.
    pub fn effective_dedup_key(&self) -> Option<&str> {
        self.dedup_key.as_deref().or(self
            .provider_message_id
            .as_ref()
            .map(ProviderMessageId::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_with_flattened_body() {
        let event = InboundEvent::message(ConversationRef::new("demo", "s1"), Content::text("hi"))
            .with_provider_message_id("m1");
        let now = chrono::Utc::now();
        let kind = ChannelKind::new("webchat").unwrap();
        let envelope = Envelope::stamp(event, kind, ConversationId::new("cv_1"), now);
        let json = serde_json::to_value(&envelope).unwrap();
        assert_eq!(json["type"], "message.received");
        assert_eq!(json["data"]["content"]["kind"], "text");
        assert_eq!(json["data"]["content"]["body"], "hi");
        assert_eq!(json["v"], 1);
        let back: Envelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, envelope);
    }

    #[test]
    fn payment_events_round_trip_and_are_bridge_only() {
        let update =
            PaymentUpdate::new("payint_1", 1250, "EUR", "succeeded").with_reference("pi_1");
        let body = EventBody::PaymentSucceeded(update.clone());
        assert_eq!(body.type_name(), "payment.succeeded");
        assert!(EventBody::TYPE_NAMES.contains(&body.type_name()));
        assert!(body.is_bridge_only());
        assert_eq!(body.payment(), Some(&update));
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["type"], "payment.succeeded");
        assert_eq!(json["data"]["amount_minor"], 1250);
        assert!(json["data"].get("reason").is_none());
        assert_eq!(serde_json::from_value::<EventBody>(json).unwrap(), body);
        let text = EventBody::MessageReceived(Message::new(Content::text("hi")));
        assert!(!text.is_bridge_only());
    }

    #[test]
    fn raw_payload_cuts_on_char_boundary() {
        let body = "é".repeat(RAW_PAYLOAD_CAP);
        let raw = RawPayload::capped("text/plain", &body);
        assert!(raw.truncated);
        assert!(raw.body.len() <= RAW_PAYLOAD_CAP);
        assert!(raw.body.chars().all(|c| c == 'é'));
    }

    #[test]
    fn dedup_key_prefers_explicit_key() {
        let conv = ConversationRef::new("a", "b");
        let plain =
            InboundEvent::message(conv.clone(), Content::text("x")).with_provider_message_id("m");
        assert_eq!(plain.effective_dedup_key(), Some("m"));
        let status = InboundEvent::delivery(conv, Delivery::new(DeliveryStatus::Read))
            .with_provider_message_id("m")
            .with_dedup_key("m:read");
        assert_eq!(status.effective_dedup_key(), Some("m:read"));
    }
}
