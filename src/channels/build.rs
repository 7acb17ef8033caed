//! Builds the `[[channels]]` entries by their `type`. Secrets come only from env: a channel's
//! table names the variables (`*_env`), and `env` resolves them.

use std::sync::Arc;

use omnibridge_email::{EmailChannel, EmailConfig};
use omnibridge_sdk::{Channel, ChannelContext};
use omnibridge_telegram::{TelegramChannel, TelegramConfig};
use omnibridge_whatsapp::{WhatsAppChannel, WhatsAppConfig};

use crate::config::ChannelSettings;

/// Builds one configured channel; the error says why, secret-free. `cx` carries the
/// channel's id, the public URL and its durable state.
pub fn build_channel(
    settings: &ChannelSettings,
    env: &dyn Fn(&str) -> Option<String>,
    cx: &ChannelContext,
) -> Result<Arc<dyn Channel>, String> {
    match settings.kind.as_str() {
        omnibridge_email::KIND => {
            let config: EmailConfig = settings.config().map_err(|e| e.to_string())?;
            let secrets = config.resolve_secrets(env).map_err(|e| e.to_string())?;
            let channel = EmailChannel::new(config, secrets, cx).map_err(|e| e.to_string())?;
            Ok(Arc::new(channel))
        }
        omnibridge_whatsapp::KIND => {
            let config: WhatsAppConfig = settings.config().map_err(|e| e.to_string())?;
            let secrets = config.resolve_secrets(env).map_err(|e| e.to_string())?;
            let channel = WhatsAppChannel::new(config, secrets).map_err(|e| e.to_string())?;
            Ok(Arc::new(channel))
        }
        omnibridge_telegram::KIND => {
            let config: TelegramConfig = settings.config().map_err(|e| e.to_string())?;
            let secrets = config.resolve_secrets(env).map_err(|e| e.to_string())?;
            let channel = TelegramChannel::new(config, secrets, cx).map_err(|e| e.to_string())?;
            Ok(Arc::new(channel))
        }
        other => Err(unknown_type(other)),
    }
}

fn unknown_type(kind: &str) -> String {
    format!(
        "channel type {kind:?} is not available in this build (known: \"{}\", \"{}\", \"{}\")",
        omnibridge_whatsapp::KIND,
        omnibridge_email::KIND,
        omnibridge_telegram::KIND
    )
}

/// A secret env var a channel needs and the environment does not set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingSecret {
    /// The key naming it, e.g. `channels.acme-wa.access_token_env`.
    pub key: String,
    /// The variable.
    pub var: String,
}

/// Checks one `[[channels]]` table without building the channel: the type is known, its
/// keys and values are what that channel takes, and which of the secret env vars it needs
/// `env` does not set (names only; values are never read beyond "set or not").
/// For `omnibridge check`.
pub fn check_channel(
    settings: &ChannelSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<MissingSecret>, String> {
    let missing = std::cell::RefCell::new(Vec::new());
    // Every variable the adapter asks for is one it needs; an unset one is recorded and a
    // stand-in lets resolution go on, so one run names them all.
    let lookup = |var: &str| match env(var).filter(|value| !value.is_empty()) {
        Some(value) => Some(value),
        None => {
            missing.borrow_mut().push(var.to_owned());
            Some("unset".to_owned())
        }
    };
    match settings.kind.as_str() {
        omnibridge_email::KIND => {
            let config: EmailConfig = settings.config().map_err(|e| e.to_string())?;
            config.resolve_secrets(&lookup).map_err(|e| e.to_string())?;
        }
        omnibridge_whatsapp::KIND => {
            let config: WhatsAppConfig = settings.config().map_err(|e| e.to_string())?;
            config.resolve_secrets(lookup).map_err(|e| e.to_string())?;
        }
        omnibridge_telegram::KIND => {
            let config: TelegramConfig = settings.config().map_err(|e| e.to_string())?;
            config.resolve_secrets(lookup).map_err(|e| e.to_string())?;
        }
        other => return Err(unknown_type(other)),
    }
    let vars = missing.into_inner();
    Ok(vars
        .into_iter()
        .map(|var| MissingSecret {
            key: naming_key(settings, &var),
            var,
        })
        .collect())
}

/// The `*_env` key of the channel's table whose value is `var`.
fn naming_key(settings: &ChannelSettings, var: &str) -> String {
    let key = settings
        .rest
        .iter()
        .find(|(_, value)| value.as_str() == Some(var))
        .map_or("?", |(key, _)| key.as_str());
    format!("channels.{}.{key}", settings.id)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::config::Settings;

    fn cx() -> ChannelContext {
        ChannelContext::new("test", "http://127.0.0.1")
    }

    fn example_channels() -> Vec<ChannelSettings> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/production.example.toml");
        let vars = [("OMNIBRIDGE_WEBHOOK_CRM_SECRET".to_owned(), "x".to_owned())];
        Settings::load_from(Some(&path), vars).unwrap().channels
    }

    #[test]
    fn whatsapp_channels_build_with_secrets_from_env() {
        let channels = example_channels();
        let env: HashMap<&str, &str> = [
            ("ACME_WA_ACCESS_TOKEN", "token"),
            ("ACME_WA_APP_SECRET", "secret"),
            ("ACME_WA_VERIFY_TOKEN", "verify"),
        ]
        .into();
        let lookup = |name: &str| env.get(name).map(|v| (*v).to_owned());
        let channel = build_channel(&channels[0], &lookup, &cx()).unwrap();
        assert_eq!(channel.kind().as_str(), "whatsapp");
        let missing = build_channel(&channels[0], &|_| None, &cx()).err().unwrap();
        assert!(missing.contains("ACME_WA_ACCESS_TOKEN"), "{missing}");
    }

    #[test]
    fn max_media_bytes_is_the_bridge_s_key_with_a_default() {
        let mut entry = example_channels().remove(0);
        assert_eq!(entry.max_media_bytes, crate::media::DEFAULT_MAX_MEDIA_BYTES);
        let parsed: ChannelSettings = serde_json::from_value(serde_json::json!({
            "id": "x", "type": "whatsapp", "max_media_bytes": 1024, "phone_number_id": "1",
            "access_token_env": "A", "app_secret_env": "B", "verify_token_env": "C"
        }))
        .unwrap();
        assert_eq!(parsed.max_media_bytes, 1024);
        assert!(!parsed.rest.contains_key("max_media_bytes"));
        entry.rest = parsed.rest;
        assert!(build_channel(&entry, &|_| Some("x".into()), &cx()).is_ok());
    }

    #[test]
    fn check_channel_finds_typos_without_secrets() {
        let mut entry = example_channels().remove(0);
        let all_set = |_: &str| Some("x".to_owned());
        assert_eq!(check_channel(&entry, &all_set), Ok(Vec::new()));
        entry.rest.insert("phone_numbr_id".into(), "typo".into());
        let error = check_channel(&entry, &|_| None).unwrap_err();
        assert!(error.contains("phone_numbr_id"), "{error}");
        let email: ChannelSettings = serde_json::from_value(serde_json::json!({
            "id": "m", "type": "email", "addres": "x@y.z", "smtp": {"host": "h"}
        }))
        .unwrap();
        assert!(
            check_channel(&email, &|_| None)
                .unwrap_err()
                .contains("addres")
        );
    }

    #[test]
    fn unknown_types_and_keys_are_refused() {
        let mut entry = example_channels().remove(0);
        entry.rest.insert("phone_numbr_id".into(), "typo".into());
        let error = build_channel(&entry, &|_| Some("x".into()), &cx())
            .err()
            .unwrap();
        assert!(error.contains("phone_numbr_id"), "{error}");
        entry.kind = "pigeon".into();
        let error = build_channel(&entry, &|_| Some("x".into()), &cx())
            .err()
            .unwrap();
        assert!(error.contains("not available"), "{error}");
    }

    #[test]
    fn telegram_channels_build_and_check_like_the_others() {
        let entry: ChannelSettings = serde_json::from_value(serde_json::json!({
            "id": "acme-tg", "type": "telegram", "bot_token_env": "TG_TOKEN",
            "mode": "webhook", "webhook_secret_env": "TG_SECRET", "max_media_bytes": 1024
        }))
        .unwrap();
        assert_eq!(entry.max_media_bytes, 1024);
        let vars: Vec<(String, String)> = check_channel(&entry, &|_| None)
            .unwrap()
            .into_iter()
            .map(|m| (m.key, m.var))
            .collect();
        assert_eq!(
            vars,
            [
                (
                    "channels.acme-tg.bot_token_env".to_owned(),
                    "TG_TOKEN".to_owned()
                ),
                (
                    "channels.acme-tg.webhook_secret_env".to_owned(),
                    "TG_SECRET".to_owned()
                ),
            ]
        );
        let channel = build_channel(&entry, &|_| Some("secret".into()), &cx()).unwrap();
        assert_eq!(channel.kind().as_str(), "telegram");
        let mut typo = entry;
        typo.rest.insert("bot_tokn_env".into(), "x".into());
        let error = check_channel(&typo, &|_| None).unwrap_err();
        assert!(error.contains("bot_tokn_env"), "{error}");
    }

    #[test]
    fn check_channel_names_every_unset_secret_and_its_key() {
        let entry = example_channels().remove(0);
        let only_token = |var: &str| (var == "ACME_WA_ACCESS_TOKEN").then(|| "t".to_owned());
        let missing = check_channel(&entry, &only_token).unwrap();
        let names: Vec<(&str, &str)> = missing
            .iter()
            .map(|m| (m.key.as_str(), m.var.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("channels.acme-wa.app_secret_env", "ACME_WA_APP_SECRET"),
                ("channels.acme-wa.verify_token_env", "ACME_WA_VERIFY_TOKEN"),
            ]
        );
        let email: ChannelSettings = serde_json::from_value(serde_json::json!({
            "id": "m", "type": "email", "address": "s@acme.test",
            "imap": {"host": "imap.acme.test", "username": "s"},
            "imap_password_env": "M_IMAP", "webhook_secret_env": "M_HOOK",
            "smtp": {"host": "smtp.acme.test", "username": "s"}, "smtp_password_env": "M_SMTP"
        }))
        .unwrap();
        let vars: Vec<String> = check_channel(&email, &|_| None)
            .unwrap()
            .into_iter()
            .map(|m| m.var)
            .collect();
        assert_eq!(vars, ["M_IMAP", "M_SMTP", "M_HOOK"]);
    }

    #[test]
    fn an_unknown_channel_key_lists_the_adapter_s_and_the_bridge_s_keys() {
        let mut entry = example_channels().remove(0);
        entry.rest.insert("phone_numbr_id".into(), "typo".into());
        let error = check_channel(&entry, &|_| None).unwrap_err();
        assert_eq!(error.matches("phone_numbr_id").count(), 1, "{error}");
        for key in [
            "id",
            "type",
            "max_media_bytes",
            "phone_number_id",
            "access_token_env",
        ] {
            assert!(
                error.contains(&format!(" {key},")) || error.ends_with(key),
                "{key}: {error}"
            );
        }
        assert!(error.contains("[channels]"), "{error}");
        let email: ChannelSettings = serde_json::from_value(serde_json::json!({
            "id": "m", "type": "email", "address": "s@acme.test",
            "smtp": {"host": "smtp.acme.test", "hots": "x"}
        }))
        .unwrap();
        let error = check_channel(&email, &|_| None).unwrap_err();
        assert!(error.contains("`hots` in [channels.smtp]"), "{error}");
        assert!(
            error.contains("host") && !error.contains("max_media_bytes"),
            "{error}"
        );
    }
}
