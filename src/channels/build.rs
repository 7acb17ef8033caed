//! Builds the `[[channels]]` entries by their `type`. Secrets come only from env: a channel's
//! table names the variables (`*_env`), and `env` resolves them.

use std::sync::Arc;

use omnibridge_email::{EmailChannel, EmailConfig};
use omnibridge_sdk::{Channel, ChannelContext};
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
        other => Err(unknown_type(other)),
    }
}

fn unknown_type(kind: &str) -> String {
    format!(
        "channel type {kind:?} is not available in this build (known: \"{}\", \"{}\")",
        omnibridge_whatsapp::KIND,
        omnibridge_email::KIND
    )
}

/// Checks one `[[channels]]` table without building the channel (no secrets needed): the
/// type is known and its keys and values are what that channel takes. For `omnibridge check`.
pub fn check_channel(settings: &ChannelSettings) -> Result<(), String> {
    match settings.kind.as_str() {
        omnibridge_email::KIND => {
            let config: EmailConfig = settings.config().map_err(|e| e.to_string())?;
            config
                .address_parts()
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        omnibridge_whatsapp::KIND => settings
            .config::<WhatsAppConfig>()
            .map(|_| ())
            .map_err(|e| e.to_string()),
        other => Err(unknown_type(other)),
    }
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
        assert_eq!(check_channel(&entry), Ok(()));
        entry.rest.insert("phone_numbr_id".into(), "typo".into());
        assert!(
            check_channel(&entry)
                .unwrap_err()
                .contains("phone_numbr_id")
        );
        let email: ChannelSettings = serde_json::from_value(serde_json::json!({
            "id": "m", "type": "email", "addres": "x@y.z", "smtp": {"host": "h"}
        }))
        .unwrap();
        assert!(check_channel(&email).unwrap_err().contains("addres"));
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
}
