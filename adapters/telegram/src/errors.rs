//! Errors: building the channel ([`ConfigError`]), and the Bot API's answers mapped to the
//! SDK's [`ChannelError`] so the outbox knows whether to retry, wait or dead-letter.
//!
//! | Bot API answer | [`ChannelError`] |
//! |---|---|
//! | 429 with `parameters.retry_after` | `RateLimited { retry_after }`, exactly that long |
//! | 403 `Forbidden: bot was blocked by the user` | `Rejected { code: "bot_blocked" }` |
//! | other 403 (kicked from a group, user deactivated) | `Rejected { code: "forbidden" }` |
//! | 400 `message is not modified` | `Rejected { code: "message_not_modified" }` |
//! | 400 `can't parse entities` | `Rejected { code: "cant_parse_entities" }` |
//! | 409 (webhook set, or another `getUpdates`) | `Rejected { code: "webhook_conflict" }` |
//! | 401 / 404 (token refused) | `Rejected { code: "invalid_token" }` |
//! | other 4xx | `Rejected { code: "bad_request" }` |
//! | network, unreadable answer | `Transient` |
//!
//! No error text ever carries the bot token: teloxide strips the URL from network errors,
//! and only Telegram's `description` (which never holds it) is kept.

use omnibridge_sdk::ChannelError;
use teloxide_core::{ApiError, RequestError};

/// The code of a send to a customer who blocked the bot.
pub const BOT_BLOCKED: &str = "bot_blocked";

/// The code of `getUpdates` refused because a webhook is set (or another poller runs).
pub const WEBHOOK_CONFLICT: &str = "webhook_conflict";

/// Why a Telegram channel could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A secret's environment variable is unset or empty.
    #[error("the environment variable {0} (a Telegram secret) is not set")]
    MissingSecret(String),
    /// A value is unusable.
    #[error("invalid Telegram config: {0}")]
    Invalid(String),
}

/// Maps a Bot API failure to what the bridge should do about it.
pub fn from_request(error: RequestError) -> ChannelError {
    match error {
        RequestError::RetryAfter(seconds) => ChannelError::RateLimited {
            retry_after: Some(seconds.duration()),
        },
        RequestError::MigrateToChatId(to) => ChannelError::rejected(
            "chat_migrated",
            format!("the group became a supergroup; its new chat id is {to}"),
        ),
        RequestError::Api(api) => from_api(&api),
        RequestError::Network(error) => ChannelError::transient(format!(
            "network error talking to the Bot API ({})",
            network_kind(&error)
        )),
        RequestError::InvalidJson { .. } => {
            ChannelError::transient("the Bot API's answer could not be read")
        }
        RequestError::Io(_) => ChannelError::transient("I/O error sending to the Bot API"),
    }
}

/// Maps Telegram's `description` (teloxide's [`ApiError`]) to a typed rejection.
pub fn from_api(api: &ApiError) -> ChannelError {
    let description = match api {
        ApiError::Unknown(text) => text.clone(),
        other => other.to_string(),
    };
    let code = match api {
        ApiError::BotBlocked => BOT_BLOCKED,
        ApiError::MessageNotModified => "message_not_modified",
        ApiError::InvalidToken => "invalid_token",
        ApiError::CantGetUpdates | ApiError::TerminatedByOtherGetUpdates => WEBHOOK_CONFLICT,
        _ => code_of_description(&description),
    };
    ChannelError::rejected(code, description)
}

/// The code for a description teloxide does not know by heart (it matches whole texts,
/// and Telegram's wording drifts: match on the documented prefixes instead).
fn code_of_description(description: &str) -> &'static str {
    let lower = description.to_ascii_lowercase();
    if lower.contains("bot was blocked by the user") {
        BOT_BLOCKED
    } else if lower.starts_with("forbidden") {
        "forbidden"
    } else if lower.starts_with("conflict") {
        WEBHOOK_CONFLICT
    } else if lower.contains("message is not modified") {
        "message_not_modified"
    } else if lower.contains("can't parse entities") {
        "cant_parse_entities"
    } else if lower.starts_with("unauthorized") || lower == "not found" {
        "invalid_token"
    } else {
        "bad_request"
    }
}

fn network_kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_status() {
        "status"
    } else {
        "request"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use teloxide_core::types::Seconds;

    use super::*;

    #[test]
    fn answers_map_to_what_the_outbox_does_next() {
        let limited = from_request(RequestError::RetryAfter(Seconds::from_seconds(2)));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(2)));
        assert!(limited.is_retryable());
        let blocked = from_request(RequestError::Api(ApiError::BotBlocked));
        assert_eq!(blocked.code(), BOT_BLOCKED);
        assert!(!blocked.is_retryable());
        let conflict = from_api(&ApiError::Unknown(
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook \
             to delete the webhook first"
                .into(),
        ));
        assert_eq!(conflict.code(), WEBHOOK_CONFLICT);
        let parse = from_api(&ApiError::Unknown(
            "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0"
                .into(),
        ));
        assert_eq!(parse.code(), "cant_parse_entities");
        assert_eq!(
            from_api(&ApiError::MessageNotModified).code(),
            "message_not_modified"
        );
    }
}
