//! The omnibridge channel SDK: everything an outside business needs to plug a new messaging
//! channel into the bridge, and nothing more (no web framework, no HTTP client).
//!
//! # Layout
//! - [`channel`]: the [`Channel`] trait every adapter implements, the [`Inbox`] pull channels
//!   deliver into, and the [`ChannelFactory`] the bridge builds channels with.
//! - [`event`]: the canonical, versioned event envelope that crosses the bus.
//! - [`content`]: message content (text, media, location, contact, reaction, unsupported).
//! - [`capabilities`]: what a channel can render; the bridge fits outbound messages to it.
//! - [`outbound`]: a message the bridge asks a channel to deliver, and the receipt.
//! - [`error`]: [`ChannelError`], typed so the caller knows what to do next.
//! - [`answer`]: what a provider's HTTP answer to a send means (retry, wait, dead letter).
//! - [`ids`]: newtype identifiers.
//! - [`payment`]: the payload of the bridge-only `payment.*` events.
//! - `testkit` (feature `testkit`): the conformance kit (`assert_conforms`,
//!   `assert_conforms_async`, `check_factory`) and test doubles (`RecordingInbox`,
//!   `MemoryState`, `WebhookFixture`).
//!
//! See the crate README (below) for a complete channel with its factory and its conformance
//! test in under 200 lines, how a business plugs it into its own bridge binary, and the
//! conformance kit.
//!
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod answer;
pub mod capabilities;
pub mod channel;
pub mod content;
pub mod error;
pub mod event;
pub mod ids;
pub mod outbound;
pub mod payment;
pub mod prelude;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use capabilities::{
    AttachmentLimits, ButtonLimits, Capabilities, Formatting, MediaKind, Receipts,
};
pub use channel::{
    BODY_TOO_LARGE, Channel, ChannelContext, ChannelFactory, ChannelState, FetchedMedia, Inbox,
    InboxError, MEDIA_TOO_LARGE, SecretSource, StateError, WebhookRequest,
};
pub use content::{Contact, Content, Formatted, Location, Media, MediaUpdate};
pub use error::{BoxError, ChannelError};
pub use event::{
    Action, ConfirmationCheck, Delivery, DeliveryStatus, Envelope, EventBody, InboundEvent,
    Message, RawPayload, SCHEMA_VERSION,
};
pub use ids::{
    ChannelKind, ConversationId, ConversationRef, EventId, OutboundId, Participant,
    ProviderMessageId, Role, Timestamp, UNKNOWN_THREAD,
};
pub use outbound::{
    Button, ButtonAction, OutboundAttachment, OutboundMessage, REPLY_WINDOW_CLOSED, SendReceipt,
};
pub use payment::{AgentAction, PaymentUpdate};
