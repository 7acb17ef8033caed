//! Our `callback_data` format. Telegram allows at most 64 **bytes**: a payload that fits
//! goes inline (`p:<payload>`); a longer one is stored in the channel's durable state under
//! a short token (`t:<ulid>`) and resolved when the tap comes back.

/// Telegram's limit on `callback_data`, in bytes.
pub const MAX_CALLBACK_DATA: usize = 64;

/// The prefix of an inline payload.
const INLINE: &str = "p:";
/// The prefix of a stored payload's token.
const TOKEN: &str = "t:";

/// The state key under which a long payload's token is stored.
pub fn state_key(token: &str) -> String {
    format!("callback:{token}")
}

/// A button's data as it came back.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackData {
    /// The payload itself.
    Inline(String),
    /// A token standing for a payload stored server-side.
    Token(String),
    /// Data in no format of ours (a button another program made): passed on as it is.
    Raw(String),
}

impl CallbackData {
    /// Reads `callback_data`.
    pub fn decode(data: &str) -> Self {
        if let Some(payload) = data.strip_prefix(INLINE) {
            Self::Inline(payload.to_owned())
        } else if let Some(token) = data.strip_prefix(TOKEN) {
            Self::Token(token.to_owned())
        } else {
            Self::Raw(data.to_owned())
        }
    }

    /// The payload, when no lookup is needed.
    pub fn payload(&self) -> Option<String> {
        match self {
            Self::Inline(payload) | Self::Raw(payload) => Some(payload.clone()),
            Self::Token(_) => None,
        }
    }
}

/// How one payload goes on a button.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Encoded {
    /// The `callback_data` (at most [`MAX_CALLBACK_DATA`] bytes).
    pub data: String,
    /// For a long payload: the state key to store it under, before sending.
    pub store: Option<String>,
}

/// Encodes `payload` for a button; `token` is a fresh unique token used when it is too long.
pub fn encode(payload: &str, token: impl FnOnce() -> String) -> Encoded {
    if INLINE.len() + payload.len() <= MAX_CALLBACK_DATA {
        Encoded {
            data: format!("{INLINE}{payload}"),
            store: None,
        }
    } else {
        let token = token();
        Encoded {
            data: format!("{TOKEN}{token}"),
            store: Some(state_key(&token)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_payloads_go_inline_and_long_ones_behind_a_token() {
        let short = encode("pay:payint_1", || unreachable!("no token needed"));
        assert_eq!(short.data, "p:pay:payint_1");
        assert_eq!(
            CallbackData::decode(&short.data).payload().as_deref(),
            Some("pay:payint_1")
        );
        // 62 bytes of payload fit exactly; 21 three-byte characters (63 bytes) do not.
        assert!(encode(&"x".repeat(62), || unreachable!()).store.is_none());
        let long = encode(&"€".repeat(21), || "01TOKEN".into());
        assert_eq!(long.data, "t:01TOKEN");
        assert!(long.data.len() <= MAX_CALLBACK_DATA);
        assert_eq!(long.store.as_deref(), Some("callback:01TOKEN"));
        assert_eq!(
            CallbackData::decode("t:01TOKEN"),
            CallbackData::Token("01TOKEN".into())
        );
        assert_eq!(
            CallbackData::decode("other").payload().as_deref(),
            Some("other")
        );
    }
}
