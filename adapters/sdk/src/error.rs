//! Typed channel errors that tell the caller what to do next.

use std::time::Duration;

/// Any error, boxed, as the source of a transient failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in a channel, shaped by what the bridge should do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The webhook's signature or secret did not verify: answer 401, store nothing.
    #[error("unauthorized: {reason}")]
    Unauthorized {
        /// A short, secret-free reason (`missing_signature`, `bad_signature`).
        reason: &'static str,
    },
    /// The payload could not be understood: answer 400, store nothing.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// The provider asked us to slow down: retry, after `retry_after` when given.
    #[error("rate limited")]
    RateLimited {
        /// How long the provider asked us to wait.
        retry_after: Option<Duration>,
    },
    /// The provider refused permanently: dead-letter, never retry.
    #[error("rejected by the provider: {code}: {reason}")]
    Rejected {
        /// The provider's error code.
        code: String,
        /// The provider's explanation, secret-free.
        reason: String,
    },
    /// A temporary failure (network, 5xx): retry with backoff.
    #[error("transient failure: {0}")]
    Transient(#[source] BoxError),
    /// The channel's config table cannot work (a bad JSON Pointer, a template that does not
    /// compile, a missing secret): the bridge refuses to start and `omnibridge check` names
    /// the key.
    #[error("{}", keyed(key, message))]
    Config {
        /// The key of the channel's table that is wrong, e.g. `inbound.message_id` (empty
        /// when the message names it already).
        key: String,
        /// What is wrong with it, secret-free.
        message: String,
    },
}

fn keyed(key: &str, message: &str) -> String {
    if key.is_empty() {
        message.to_owned()
    } else {
        format!("{key}: {message}")
    }
}

impl ChannelError {
    /// A permanent rejection.
    pub fn rejected(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Rejected {
            code: code.into(),
            reason: reason.into(),
        }
    }

    /// A config problem at `key`.
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            key: key.into(),
            message: message.into(),
        }
    }

    /// A transient failure from any error.
    pub fn transient(error: impl Into<BoxError>) -> Self {
        Self::Transient(error.into())
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient(_))
    }

    /// How long the provider asked us to wait before retrying, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// A stable snake_case code for this error, for problem+json bodies and delivery events.
    pub fn code(&self) -> &str {
        match self {
            Self::Unauthorized { .. } => "unauthorized",
            Self::Malformed(_) => "malformed_payload",
            Self::RateLimited { .. } => "rate_limited",
            Self::Rejected { code, .. } => code,
            Self::Transient(_) => "transient_failure",
            Self::Config { .. } => "invalid_config",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_data_follows_the_variant() {
        let limited = ChannelError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        assert!(limited.is_retryable());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        let rejected = ChannelError::rejected("131047", "window closed");
        assert!(!rejected.is_retryable());
        assert_eq!(rejected.code(), "131047");
        assert!(ChannelError::transient("io").is_retryable());
    }
}
