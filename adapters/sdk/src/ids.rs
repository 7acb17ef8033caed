//! Newtype identifiers shared by every channel.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A point in time, in UTC, serialised as RFC 3339.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// The lowercase service noun naming a kind of channel (`whatsapp`, `webchat`, a plug-in's name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChannelKind(String);

impl ChannelKind {
    /// Parses a channel kind: 1 to 32 characters of `a-z`, `0-9`, `-` or `_`, starting with a letter.
    pub fn new(kind: impl Into<String>) -> Result<Self, String> {
        let kind = kind.into();
        let mut chars = kind.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if starts_with_letter && rest_ok && kind.len() <= 32 {
            Ok(Self(kind))
        } else {
            Err(format!(
                "invalid channel kind {kind:?}: use lowercase letters, digits, '-' or '_'"
            ))
        }
    }

    /// The kind as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ChannelKind {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<ChannelKind> for String {
    fn from(value: ChannelKind) -> Self {
        value.0
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }
    };
}

string_id!(
    /// The provider's own id for a message (WhatsApp `wamid`, Telegram message id, Message-ID);
    /// with the channel it is the de-duplication key.
    ProviderMessageId
);
string_id!(
    /// The bridge's id for one conversation, derived from channel, account and thread.
    ConversationId
);
string_id!(
    /// The bridge's id for one outbound message (the outbox record).
    OutboundId
);

/// The bridge-assigned, time-sortable id of one event on the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub ulid::Ulid);

impl EventId {
    /// A fresh id for an event stamped now.
    pub fn generate() -> Self {
        Self(ulid::Ulid::new())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ev_{}", self.0)
    }
}

/// The thread of a `delivery.updated` whose provider does not say whom the message went to:
/// the bridge files the status under the conversation of the outbound message it links to
/// (and drops it, logged, when it links to none).
pub const UNKNOWN_THREAD: &str = "";

/// Where a conversation lives on its channel: the business account (phone-number id, bot,
/// mailbox, site) and the thread (customer's WhatsApp id, chat id, thread root, session).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConversationRef {
    /// The business side: which of our accounts on this channel.
    pub account: String,
    /// The customer side: which thread within that account.
    pub thread: String,
}

impl ConversationRef {
    /// A conversation on `account` with `thread`.
    pub fn new(account: impl Into<String>, thread: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            thread: thread.into(),
        }
    }
}

/// Who takes part in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// The business's customer.
    #[default]
    Customer,
    /// A person answering for the business.
    Agent,
    /// An automated answerer (bot, AI agent).
    Bot,
    /// The bridge itself.
    System,
}

/// One participant of a conversation as the channel knows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Participant {
    /// The channel's id for this user (optional on channels that hide it).
    pub id: Option<String>,
    /// A display name, when the channel gives one.
    pub display_name: Option<String>,
    /// Which side of the conversation they are on.
    pub role: Role,
}

impl Participant {
    /// A customer with the channel's user id.
    pub fn customer(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            display_name: None,
            role: Role::Customer,
        }
    }

    /// A participant with the given role and no id.
    pub fn with_role(role: Role) -> Self {
        Self {
            id: None,
            display_name: None,
            role,
        }
    }

    /// Sets the display name.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_kind_rejects_uppercase_and_empty() {
        assert!(ChannelKind::new("webchat").is_ok());
        assert!(ChannelKind::new("my-crm_2").is_ok());
        assert!(ChannelKind::new("WhatsApp").is_err());
        assert!(ChannelKind::new("").is_err());
        assert!(ChannelKind::new("9lives").is_err());
    }
}
