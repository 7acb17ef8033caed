//! Errors: building the channel ([`ConfigError`]), and the Graph API's error answers mapped
//! to the SDK's [`ChannelError`] so the outbox knows whether to retry, wait or dead-letter.
//!
//! | Graph code | Meaning | [`ChannelError`] |
//! |---|---|---|
//! | 130429, 131056, 80007, 4, HTTP 429 | throughput / pair / account rate limit | `RateLimited` (Retry-After when sent) |
//! | 131047 | more than 24 h since the customer's last message | `Rejected { code: "131047" }` |
//! | 132000–132999 | template missing, paused, wrong parameters | `Rejected` |
//! | 100 | invalid parameter | `Rejected` |
//! | 190 | access token expired or invalid (operator alert logged) | `Rejected` |
//! | 1, 2, 131000, 131016, HTTP 5xx, network | Meta-side trouble | `Transient` |
//! | any other code | permanent | `Rejected` |

use std::time::Duration;

use omnibridge_sdk::ChannelError;
use serde::Deserialize;

/// The Graph error code for "re-engagement window closed".
pub const WINDOW_CLOSED: i64 = 131047;

/// Why a WhatsApp channel could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A secret's environment variable is unset or empty.
    #[error("the environment variable {0} (a WhatsApp secret) is not set")]
    MissingSecret(String),
    /// A value is unusable.
    #[error("invalid WhatsApp config: {0}")]
    Invalid(String),
}

/// Meta's error answer: `{"error": {...}}`.
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct GraphErrorBody {
    /// The error.
    pub error: GraphError,
}

/// One Graph API error, as Meta documents it.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct GraphError {
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Error type, e.g. `OAuthException`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The error code (`131047`, `190`…).
    #[serde(default)]
    pub code: i64,
    /// A finer code.
    #[serde(default)]
    pub error_subcode: Option<i64>,
    /// Details (`error_data.details`).
    #[serde(default)]
    pub error_data: Option<GraphErrorData>,
    /// Meta's trace id, for support tickets.
    #[serde(default)]
    pub fbtrace_id: Option<String>,
}

/// `error.error_data`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct GraphErrorData {
    /// Always `whatsapp`.
    #[serde(default)]
    pub messaging_product: Option<String>,
    /// What exactly went wrong.
    #[serde(default)]
    pub details: Option<String>,
}

impl GraphError {
    /// `message: details`, secret-free (Meta never echoes tokens).
    pub fn reason(&self) -> String {
        match self.error_data.as_ref().and_then(|d| d.details.as_deref()) {
            Some(details) if !details.is_empty() => format!("{}: {details}", self.message),
            _ => self.message.clone(),
        }
    }
}

/// Maps a Graph answer that was not 2xx to what the outbox should do.
pub fn classify(status: u16, body: &[u8], retry_after: Option<Duration>) -> ChannelError {
    let parsed = serde_json::from_slice::<GraphErrorBody>(body).ok();
    let Some(GraphErrorBody { error }) = parsed else {
        return match status {
            429 => ChannelError::RateLimited { retry_after },
            500..=599 => ChannelError::transient(format!("Graph API answered HTTP {status}")),
            _ => ChannelError::rejected(
                format!("http_{status}"),
                format!("Graph API answered HTTP {status} without an error body"),
            ),
        };
    };
    let code = error.code;
    match code {
        130429 | 131056 | 80007 | 4 => ChannelError::RateLimited { retry_after },
        WINDOW_CLOSED => ChannelError::rejected(
            code.to_string(),
            "window closed: more than 24 hours since the customer's last message; only an \
             approved template can reach them now",
        ),
        190 => {
            tracing::error!(
                code,
                fbtrace_id = error.fbtrace_id.as_deref().unwrap_or(""),
                "The WhatsApp access token expired or is invalid; an operator must renew it."
            );
            ChannelError::rejected(code.to_string(), error.reason())
        }
        1 | 2 | 131000 | 131016 => {
            ChannelError::transient(format!("Graph {code}: {}", error.reason()))
        }
        _ if status >= 500 => ChannelError::transient(format!("Graph {code}: {}", error.reason())),
        _ if status == 429 => ChannelError::RateLimited { retry_after },
        _ => ChannelError::rejected(code.to_string(), error.reason()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: i64) -> Vec<u8> {
        serde_json::json!({"error": {"message": "m", "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": "d"},
            "fbtrace_id": "A"}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn codes_map_to_what_the_outbox_does_next() {
        let wait = Some(Duration::from_secs(2));
        for code in [130429, 131056, 80007] {
            assert_eq!(classify(400, &body(code), wait).retry_after(), wait);
        }
        assert_eq!(classify(400, &body(131047), None).code(), "131047");
        assert_eq!(classify(400, &body(132001), None).code(), "132001");
        assert_eq!(classify(400, &body(100), None).code(), "100");
        assert_eq!(classify(401, &body(190), None).code(), "190");
        assert!(classify(500, &body(131000), None).is_retryable());
        assert!(classify(503, b"<html>", None).is_retryable());
        assert!(!classify(404, b"", None).is_retryable());
    }
}
