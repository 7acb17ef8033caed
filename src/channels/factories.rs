//! The channel factories by kind: the one seam through which `serve`, `omnibridge check`,
//! `/readyz` and error messages learn which channel types exist. Built-in kinds register
//! here like a business's own ([`ChannelFactories::register`]); nothing else in the bridge
//! knows a channel kind by name.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use omnibridge_sdk::{
    Channel, ChannelContext, ChannelError, ChannelFactory, ChannelState, SecretSource, StateError,
};

use crate::config::ChannelSettings;

/// A factory with its config type erased, so factories of every kind share one map.
trait AnyFactory: Send + Sync {
    /// Parses `settings`' keys into the factory's config and builds the channel.
    fn build(
        &self,
        settings: &ChannelSettings,
        cx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, String>;
}

impl<F: ChannelFactory> AnyFactory for F {
    fn build(
        &self,
        settings: &ChannelSettings,
        cx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, String> {
        let config: F::Config = settings.config().map_err(|e| e.to_string())?;
        ChannelFactory::build(self, config, cx).map_err(|error| describe(settings, &error))
    }
}

/// The error of a factory, with a `Config` key spelled as the full config path.
fn describe(settings: &ChannelSettings, error: &ChannelError) -> String {
    match error {
        ChannelError::Config { key, message } if !key.is_empty() => {
            format!("channels.{}.{key}: {message}", settings.id)
        }
        other => other.to_string(),
    }
}

/// Every channel kind this bridge can build, by its config `type`.
#[derive(Clone, Default)]
pub struct ChannelFactories {
    by_kind: BTreeMap<&'static str, Arc<dyn AnyFactory>>,
}

impl std::fmt::Debug for ChannelFactories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds()).finish()
    }
}

impl ChannelFactories {
    /// No kinds at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The kinds this build ships with (see [`super::builtin`]).
    pub fn builtin() -> Self {
        super::builtin::register_all(Self::empty())
    }

    /// Adds a kind; a factory for a kind already present replaces it (a business may ship
    /// its own take on a built-in kind).
    pub fn register<F: ChannelFactory>(&mut self, factory: F) {
        if self.by_kind.insert(F::KIND, Arc::new(factory)).is_some() {
            tracing::info!(
                kind = F::KIND,
                "A channel factory replaces the built-in one."
            );
        }
    }

    /// The same, by value (for builders).
    pub fn with<F: ChannelFactory>(mut self, factory: F) -> Self {
        self.register(factory);
        self
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.by_kind.keys().copied().collect()
    }

    /// Builds one configured channel; the error says why, secret-free. `cx` carries the
    /// channel's id, the public URL, its durable state and its secrets.
    pub fn build(
        &self,
        settings: &ChannelSettings,
        cx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, String> {
        self.factory(&settings.kind)?.build(settings, cx)
    }

    /// Checks one `[[channels]]` table without serving: the type is known, its keys and
    /// values are what that channel takes (the factory builds it, with no I/O), and which
    /// of the secret env vars it asks for `env` does not set (names only; values are never
    /// read beyond "set or not"). For `omnibridge check`.
    pub fn check(
        &self,
        settings: &ChannelSettings,
        env: &HashMap<String, String>,
        public_url: &str,
    ) -> Result<Vec<MissingSecret>, String> {
        let factory = self.factory(&settings.kind)?;
        // Every variable the factory asks for is one it needs; an unset one is recorded and
        // a stand-in lets the build go on, so one run names them all.
        let unset = Arc::new(Mutex::new(Vec::<String>::new()));
        let record = unset.clone();
        let env = env.clone();
        let source: SecretSource = Arc::new(move |var: &str| match env.get(var) {
            Some(value) if !value.is_empty() => Some(value.clone()),
            _ => {
                if let Ok(mut unset) = record.lock() {
                    unset.push(var.to_owned());
                }
                Some("unset-secret-stand-in-for-omnibridge-check".to_owned())
            }
        });
        let cx = ChannelContext::new(settings.id.clone(), public_url)
            .with_secrets(source)
            .with_state(Arc::new(NoState));
        factory.build(settings, &cx)?;
        let unset = unset.lock().map(|vars| vars.clone()).unwrap_or_default();
        let mut missing: Vec<MissingSecret> = Vec::new();
        for var in unset {
            if !missing.iter().any(|m| m.var == var) {
                missing.push(MissingSecret {
                    key: naming_key(settings, &var),
                    var,
                });
            }
        }
        Ok(missing)
    }

    fn factory(&self, kind: &str) -> Result<&Arc<dyn AnyFactory>, String> {
        self.by_kind.get(kind).ok_or_else(|| {
            let known: Vec<String> = self.kinds().iter().map(|k| format!("{k:?}")).collect();
            format!(
                "channel type {kind:?} is not available in this build (known: {})",
                known.join(", ")
            )
        })
    }
}

/// The channel state of a check-only build: empty, and writes go nowhere (`check` never
/// runs a channel).
struct NoState;

#[async_trait::async_trait]
impl ChannelState for NoState {
    async fn get(&self, _key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(None)
    }
    async fn put(&self, _key: &str, _value: &[u8]) -> Result<(), StateError> {
        Ok(())
    }
    async fn delete(&self, _key: &str) -> Result<(), StateError> {
        Ok(())
    }
}

/// A secret env var a channel needs and the environment does not set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingSecret {
    /// The key naming it, e.g. `channels.acme-wa.access_token_env`.
    pub key: String,
    /// The variable.
    pub var: String,
}

/// The `*_env` key (at any depth) of the channel's table whose value is `var`.
fn naming_key(settings: &ChannelSettings, var: &str) -> String {
    fn find(
        table: &serde_json::Map<String, serde_json::Value>,
        var: &str,
        path: &mut Vec<String>,
    ) -> bool {
        for (key, value) in table {
            path.push(key.clone());
            let found = match value {
                serde_json::Value::String(v) => key.ends_with("_env") && v == var,
                serde_json::Value::Object(nested) => find(nested, var, path),
                _ => false,
            };
            if found {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = Vec::new();
    let key = if find(&settings.rest, var, &mut path) {
        path.join(".")
    } else {
        "?".to_owned()
    };
    format!("channels.{}.{key}", settings.id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::config::Settings;

    fn env_of(vars: &[(&str, &str)]) -> HashMap<String, String> {
        vars.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn all_set() -> HashMap<String, String> {
        [
            "ACME_WA_ACCESS_TOKEN",
            "ACME_WA_APP_SECRET",
            "ACME_WA_VERIFY_TOKEN",
        ]
        .into_iter()
        .map(|k| (k.to_owned(), "x".to_owned()))
        .collect()
    }

    fn check_channel(
        entry: &ChannelSettings,
        env: &HashMap<String, String>,
    ) -> Result<Vec<MissingSecret>, String> {
        ChannelFactories::builtin().check(entry, env, "http://127.0.0.1")
    }

    fn build_channel(
        entry: &ChannelSettings,
        env: HashMap<String, String>,
        cx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, String> {
        let cx = cx
            .clone()
            .with_secrets(Arc::new(move |var: &str| env.get(var).cloned()));
        ChannelFactories::builtin().build(entry, &cx)
    }

    fn cx() -> ChannelContext {
        ChannelContext::new("test", "http://127.0.0.1")
    }

    fn example_channels() -> Vec<ChannelSettings> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/production.example.toml");
        let vars = [
            "OMNIBRIDGE_WEBHOOK_CRM_SECRET",
            "OMNIBRIDGE_MEDIA_S3_ACCESS_KEY_ID",
            "OMNIBRIDGE_MEDIA_S3_SECRET_ACCESS_KEY",
            "OMNIBRIDGE_POSTGRES_URL",
        ]
        .map(|var| (var.to_owned(), "x".to_owned()));
        Settings::load_from(Some(&path), vars).unwrap().channels
    }

    #[test]
    fn whatsapp_channels_build_with_secrets_from_env() {
        let channels = example_channels();
        let env = env_of(&[
            ("ACME_WA_ACCESS_TOKEN", "token"),
            ("ACME_WA_APP_SECRET", "secret"),
            ("ACME_WA_VERIFY_TOKEN", "verify"),
        ]);
        let channel = build_channel(&channels[0], env, &cx()).unwrap();
        assert_eq!(channel.kind().as_str(), "whatsapp");
        let missing = build_channel(&channels[0], HashMap::new(), &cx())
            .err()
            .unwrap();
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
        let env = env_of(&[("A", "x"), ("B", "x"), ("C", "x")]);
        assert!(build_channel(&entry, env, &cx()).is_ok());
    }

    #[test]
    fn check_channel_finds_typos_without_secrets() {
        let mut entry = example_channels().remove(0);
        assert_eq!(check_channel(&entry, &all_set()), Ok(Vec::new()));
        entry.rest.insert("phone_numbr_id".into(), "typo".into());
        let error = check_channel(&entry, &HashMap::new()).unwrap_err();
        assert!(error.contains("phone_numbr_id"), "{error}");
        let email: ChannelSettings = serde_json::from_value(serde_json::json!({
            "id": "m", "type": "email", "addres": "x@y.z", "smtp": {"host": "h"}
        }))
        .unwrap();
        assert!(
            check_channel(&email, &HashMap::new())
                .unwrap_err()
                .contains("addres")
        );
    }

    #[test]
    fn unknown_types_and_keys_are_refused() {
        let mut entry = example_channels().remove(0);
        entry.rest.insert("phone_numbr_id".into(), "typo".into());
        let error = build_channel(&entry, all_set(), &cx()).err().unwrap();
        assert!(error.contains("phone_numbr_id"), "{error}");
        entry.kind = "pigeon".into();
        let error = build_channel(&entry, all_set(), &cx()).err().unwrap();
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
        let vars: Vec<(String, String)> = check_channel(&entry, &HashMap::new())
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
        let channel = build_channel(
            &entry,
            env_of(&[("TG_TOKEN", "secret"), ("TG_SECRET", "secret")]),
            &cx(),
        )
        .unwrap();
        assert_eq!(channel.kind().as_str(), "telegram");
        let mut typo = entry;
        typo.rest.insert("bot_tokn_env".into(), "x".into());
        let error = check_channel(&typo, &HashMap::new()).unwrap_err();
        assert!(error.contains("bot_tokn_env"), "{error}");
    }

    #[test]
    fn check_channel_names_every_unset_secret_and_its_key() {
        let entry = example_channels().remove(0);
        let only_token = env_of(&[("ACME_WA_ACCESS_TOKEN", "t")]);
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
        let vars: Vec<String> = check_channel(&email, &HashMap::new())
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
        let error = check_channel(&entry, &HashMap::new()).unwrap_err();
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
        let error = check_channel(&email, &HashMap::new()).unwrap_err();
        assert!(error.contains("`hots` in [channels.smtp]"), "{error}");
        assert!(
            error.contains("host") && !error.contains("max_media_bytes"),
            "{error}"
        );
    }
}

#[cfg(test)]
mod seam_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A kind the bridge has never heard of, registered from outside.
    struct Pigeon;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PigeonConfig {
        loft: String,
        key_env: String,
    }

    impl ChannelFactory for Pigeon {
        const KIND: &'static str = "pigeon";
        type Config = PigeonConfig;

        fn build(
            &self,
            config: PigeonConfig,
            cx: &ChannelContext,
        ) -> Result<Arc<dyn Channel>, ChannelError> {
            if config.loft.is_empty() {
                return Err(ChannelError::config("loft", "must not be empty"));
            }
            cx.secret(&config.key_env)?;
            Err(ChannelError::config("", "pigeons are not implemented"))
        }
    }

    fn entry(loft: &str) -> ChannelSettings {
        serde_json::from_value(serde_json::json!({
            "id": "p1", "type": "pigeon", "loft": loft, "key_env": "PIGEON_KEY"
        }))
        .unwrap()
    }

    #[test]
    fn an_outside_kind_is_known_to_errors_check_and_build() {
        let builtin = ChannelFactories::builtin();
        let error = builtin
            .check(&entry("roof"), &HashMap::new(), "http://x")
            .unwrap_err();
        assert!(error.contains("\"pigeon\" is not available"), "{error}");
        assert!(error.contains("\"whatsapp\""), "{error}");
        let factories = ChannelFactories::builtin().with(Pigeon);
        assert!(factories.kinds().contains(&"pigeon"));
        let error = factories
            .check(&entry(""), &HashMap::new(), "http://x")
            .unwrap_err();
        assert_eq!(error, "channels.p1.loft: must not be empty");
        // Check names the secret the build asked for; the stand-in lets it go on.
        let error = factories
            .check(&entry("roof"), &HashMap::new(), "http://x")
            .unwrap_err();
        assert_eq!(error, "pigeons are not implemented");
        let cx = ChannelContext::new("p1", "http://x");
        let error = factories.build(&entry("roof"), &cx).err().unwrap();
        assert_eq!(error, "env var PIGEON_KEY is not set");
    }
}
