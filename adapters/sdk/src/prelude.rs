//! One import for channel authors: `use omnibridge_sdk::prelude::*;`.

pub use crate::{
    Action, Button, ButtonAction, Capabilities, Channel, ChannelContext, ChannelError,
    ChannelFactory, ChannelKind, Content, ConversationRef, DeliveryStatus, Formatting,
    InboundEvent, Inbox, OutboundMessage, Participant, ProviderMessageId, Role, SendReceipt,
    WebhookRequest,
};
pub use async_trait::async_trait;
