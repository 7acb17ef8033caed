//! The `[[channels]] type = "telegram"` table, and the secrets the bridge resolves for it.
//!
//! ```toml
//! [[channels]]
//! id = "acme-tg"
//! type = "telegram"
//! bot_token_env = "ACME_TG_BOT_TOKEN"
//! mode = "webhook"
//! webhook_secret_env = "ACME_TG_WEBHOOK_SECRET"
//! ```

use std::fmt;

use serde::Deserialize;

use crate::errors::ConfigError;

/// Bot API host used unless `api_base` says otherwise.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";

/// Long-poll timeout of `getUpdates` unless `poll_timeout_secs` says otherwise.
pub const DEFAULT_POLL_TIMEOUT_SECS: u32 = 30;

/// How updates reach the bridge.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mode {
    /// Telegram POSTs each update to `<server.public_url>/webhooks/<id>` (set at start with
    /// `setWebhook`); needs a public HTTPS URL.
    #[default]
    Webhook,
    /// The bridge long-polls `getUpdates`; works behind NAT, one bridge instance per bot.
    Polling,
}

/// One Telegram bot, as configured. Secrets are never in here: only the names of the
/// environment variables holding them.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TelegramConfig {
    /// Env var holding the bot token BotFather gave you (`123456:ABC-...`).
    pub bot_token_env: String,
    /// `webhook` (default) or `polling`.
    #[serde(default)]
    pub mode: Mode,
    /// Env var holding the secret Telegram echoes in `X-Telegram-Bot-Api-Secret-Token`
    /// (1-256 characters of `A-Z a-z 0-9 _ -`); required in webhook mode.
    #[serde(default)]
    pub webhook_secret_env: Option<String>,
    /// Bot API base URL; tests point it at the fake.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Polling mode: the `getUpdates` long-poll timeout, in seconds.
    #[serde(default = "default_poll_timeout")]
    pub poll_timeout_secs: u32,
    /// Polling mode: delete a webhook left set on the bot (otherwise Telegram refuses
    /// `getUpdates` with 409 and `/readyz` says so).
    #[serde(default)]
    pub delete_webhook: bool,
    /// How outbound text is marked up: `html` (default) or `markdown_v2`; the channel
    /// escapes the text for it, so templates are written as plain text.
    #[serde(default)]
    pub parse_mode: crate::outbound::render::ParseMode,
    /// Webhook mode: call `setWebhook` at start (default true; turn it off when you manage
    /// the webhook yourself).
    #[serde(default = "default_true")]
    pub set_webhook: bool,
}

impl TelegramConfig {
    /// A webhook-mode config with the default env var names (`TELEGRAM_BOT_TOKEN`,
    /// `TELEGRAM_WEBHOOK_SECRET`) and API.
    pub fn new() -> Self {
        Self {
            bot_token_env: "TELEGRAM_BOT_TOKEN".into(),
            mode: Mode::Webhook,
            webhook_secret_env: Some("TELEGRAM_WEBHOOK_SECRET".into()),
            api_base: default_api_base(),
            poll_timeout_secs: DEFAULT_POLL_TIMEOUT_SECS,
            delete_webhook: false,
            parse_mode: crate::outbound::render::ParseMode::Html,
            set_webhook: true,
        }
    }

    /// Points the channel at another Bot API host (a fake in tests).
    pub fn with_api_base(mut self, api_base: impl Into<String>) -> Self {
        self.api_base = api_base.into();
        self
    }

    /// Switches to polling mode with this long-poll timeout.
    pub fn polling(mut self, timeout_secs: u32) -> Self {
        self.mode = Mode::Polling;
        self.poll_timeout_secs = timeout_secs;
        self
    }

    /// Resolves the secrets through `lookup` (the bridge passes the process env). Webhook
    /// mode needs `webhook_secret_env`.
    pub fn resolve_secrets(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<TelegramSecrets, ConfigError> {
        let get = |name: &str| match lookup(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(ConfigError::MissingSecret(name.to_owned())),
        };
        let bot_token = get(&self.bot_token_env)?;
        let webhook_secret = match (&self.webhook_secret_env, self.mode) {
            (Some(name), _) => Some(get(name)?),
            (None, Mode::Webhook) => {
                return Err(ConfigError::Invalid(
                    "webhook mode needs webhook_secret_env (the secret Telegram echoes in \
                     X-Telegram-Bot-Api-Secret-Token)"
                        .into(),
                ));
            }
            (None, Mode::Polling) => None,
        };
        if let Some(secret) = &webhook_secret
            && (secret.len() > 256
                || !secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        {
            return Err(ConfigError::Invalid(format!(
                "the value of {} must be 1-256 characters of A-Z, a-z, 0-9, _ and - \
                 (Telegram's rule for secret_token)",
                self.webhook_secret_env
                    .as_deref()
                    .unwrap_or("webhook_secret_env")
            )));
        }
        if reqwest::Url::parse(&self.api_base).is_err() {
            return Err(ConfigError::Invalid(format!(
                "api_base {:?} is not a URL",
                self.api_base
            )));
        }
        Ok(TelegramSecrets {
            bot_token,
            webhook_secret,
        })
    }
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// The channel's secrets, resolved from env by the bridge. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TelegramSecrets {
    /// The bot token (it goes in the Bot API's URL path, so never in a log or an error).
    pub bot_token: String,
    /// What Telegram echoes in `X-Telegram-Bot-Api-Secret-Token` (webhook mode).
    pub webhook_secret: Option<String>,
}

impl TelegramSecrets {
    /// Secrets from their values.
    pub fn new(bot_token: impl Into<String>, webhook_secret: Option<String>) -> Self {
        Self {
            bot_token: bot_token.into(),
            webhook_secret,
        }
    }
}

impl fmt::Debug for TelegramSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TelegramSecrets { .. }")
    }
}

fn default_api_base() -> String {
    DEFAULT_API_BASE.to_owned()
}

fn default_poll_timeout() -> u32 {
    DEFAULT_POLL_TIMEOUT_SECS
}

fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unknown_keys_are_refused_and_defaults_apply() {
        let json = serde_json::json!({
            "bot_token_env": "T", "webhook_secret_env": "S"
        });
        let config: TelegramConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(config.api_base, DEFAULT_API_BASE);
        assert_eq!(config.mode, Mode::Webhook);
        let mut bad = json;
        bad["bot_tokn_env"] = "oops".into();
        assert!(serde_json::from_value::<TelegramConfig>(bad).is_err());
        let polling: TelegramConfig =
            serde_json::from_value(serde_json::json!({"bot_token_env": "T", "mode": "polling"}))
                .unwrap();
        assert_eq!(polling.mode, Mode::Polling);
        assert!(polling.resolve_secrets(|_| Some("x".into())).is_ok());
    }

    #[test]
    fn secrets_come_from_lookup_and_never_print() {
        let config = TelegramConfig::new();
        let secrets = config
            .resolve_secrets(|name| Some(format!("value-of-{name}")))
            .unwrap();
        assert_eq!(secrets.bot_token, "value-of-TELEGRAM_BOT_TOKEN");
        assert!(!format!("{secrets:?}").contains("value-of"));
        let missing = config.resolve_secrets(|_| None).unwrap_err();
        assert!(missing.to_string().contains("TELEGRAM_BOT_TOKEN"));
    }

    #[test]
    fn webhook_mode_needs_a_well_formed_secret() {
        let mut config = TelegramConfig::new();
        let bad = config.resolve_secrets(|name| {
            Some(
                if name.contains("SECRET") {
                    "no spaces!"
                } else {
                    "t"
                }
                .to_owned(),
            )
        });
        let error = bad.unwrap_err().to_string();
        assert!(
            error.contains("A-Z") && !error.contains("no spaces"),
            "{error}"
        );
        config.webhook_secret_env = None;
        assert!(config.resolve_secrets(|_| Some("t".into())).is_err());
    }
}
