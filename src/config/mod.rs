//! Settings, layered: embedded defaults, then an optional TOML file, then env vars.
//!
//! 1. `config/omnibridge.toml`, compiled in (`include_str!`): runs with no file at all.
//! 2. The `--config` file, if given (must exist).
//! 3. `OMNIBRIDGE__SECTION__KEY` env vars (double underscores, lowercased), e.g.
//!    `OMNIBRIDGE__SERVER__BIND=0.0.0.0:9000`.
//!
//! Every table is `deny_unknown_fields`; errors name the key and where it came from.
//! Secrets are never in TOML: a key such as `secret_env` names the env var that holds them,
//! read at load time into a [`Secret`]. Plaintext API keys may also come from
//! `OMNIBRIDGE_API_KEYS` (comma-separated), for local use.
//!
//! # Layout
//! - `sections.rs`: the table structs. `secret.rs`: [`Secret`]. `api_keys.rs`: [`ApiKeys`].
//! - `env.rs`: the env var provider. `guardrails.rs`: [`Guardrails`], per-key limits on money.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::error::Kind;
use figment::providers::{Format, Toml};
use serde::Deserialize;

mod api_keys;
mod env;
mod guardrails;
mod payments;
mod secret;
mod sections;
mod wallet;

pub use api_keys::{API_KEYS_ENV, ApiKeyHash, ApiKeys, Scope, Scopes, Sha256Hex};
pub use env::EnvVars;
pub use guardrails::{CurrencyAmounts, Guardrails, RefundRights, SpendGuard};
pub use payments::{
    LinkedSourceSettings, MIN_SECRET_BYTES, PaymentSettings, ReconcileSettings, StripeSettings,
    WalletSettings,
};
pub use secret::Secret;
pub use sections::{
    ApiSettings, Bus, CHANNEL_BRIDGE_KEYS, ChannelSettings, Durability, MediaBackend,
    OutboxSettings, PostgresSettings, RetentionSettings, S3Settings, ServerSettings, StateBackend,
    StorageSettings, TemplateSettings, WebchatSettings, WebhookSettings,
};

/// The embedded defaults (`config/omnibridge.toml`).
pub const DEFAULTS_TOML: &str = include_str!("../../config/omnibridge.toml");

/// `url` without its user name and password, for logs and error messages.
pub fn url_for_logs(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut url) => {
            // Both only fail for URLs that cannot carry credentials at all.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

/// The figment source name of env values.
const ENV_SOURCE: &str = "environment";

/// Errors loading settings. Messages name the key and its source, never a secret's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The `--config` file is missing or unreadable.
    #[error("cannot read config file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A key no table has.
    #[error("unknown key `{field}` in {} ({origin}); valid keys: {}", table_name(table), valid.join(", "))]
    UnknownField {
        /// The table, e.g. `server` (empty for the top level).
        table: String,
        /// The unknown key.
        field: String,
        /// Where it came from (file, env var, embedded defaults).
        origin: String,
        /// The keys that table takes.
        valid: Vec<String>,
    },
    /// A required key is absent.
    #[error("missing key {key}")]
    Missing {
        /// The dotted key.
        key: String,
    },
    /// A value of the wrong type or format.
    #[error("invalid value for {key}: {message} ({origin})")]
    Invalid {
        /// The dotted key, e.g. `server.bind`.
        key: String,
        /// What is wrong.
        message: String,
        /// Where it came from.
        origin: String,
    },
    /// A key names an env var that is not set.
    #[error("{key} names env var {var}, which is not set")]
    MissingSecret {
        /// The key naming the variable, e.g. `webhooks.crm.secret_env`.
        key: String,
        /// The variable.
        var: String,
    },
}

/// All settings of the bridge.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The HTTP listener.
    pub server: ServerSettings,
    /// State and event log storage.
    pub storage: StorageSettings,
    /// Business API keys.
    pub api: ApiSettings,
    /// Outbound message retries.
    pub outbox: OutboxSettings,
    /// Message templates.
    pub templates: TemplateSettings,
    /// The web-chat widget.
    pub webchat: WebchatSettings,
    /// Signed outbound webhooks (`[[webhooks]]`).
    #[serde(default)]
    pub webhooks: Vec<WebhookSettings>,
    /// Configured channel accounts (`[[channels]]`).
    #[serde(default)]
    pub channels: Vec<ChannelSettings>,
    /// Payment intents and the MPP endpoint.
    pub payments: PaymentSettings,
}

impl Settings {
    /// Loads from the embedded defaults, `file` if given, and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Settings::load_from(file, vars)
    }

    /// Like [`Settings::load`] with an explicit environment (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = env.into_iter().collect();
        let mut figment = Figment::new().merge(Toml::string(DEFAULTS_TOML));
        if let Some(path) = file {
            std::fs::metadata(path).map_err(|source| ConfigError::File {
                path: path.to_path_buf(),
                source,
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(EnvVars::new(env.clone()));
        let mut settings: Settings = figment.extract().map_err(convert)?;
        settings.resolve_secrets(&env)?;
        Ok(settings)
    }

    /// A verifier for the configured API keys.
    pub fn api_keys(&self) -> ApiKeys {
        ApiKeys::new(&self.api.keys, &self.api.env_keys)
    }

    fn resolve_secrets(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        let storage = &mut self.storage;
        match &storage.state {
            StateBackend::Sqlite => {}
            StateBackend::Postgres(url) => storage.postgres.url = Secret::new(url.clone()),
            StateBackend::PostgresFromEnv => {
                let var = &storage.postgres.url_env;
                let url = env.get(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                    ConfigError::MissingSecret {
                        key: "storage.postgres.url_env".to_owned(),
                        var: var.clone(),
                    }
                })?;
                storage.postgres.url = Secret::new(url.clone());
            }
        }
        if matches!(self.storage.media, MediaBackend::S3 { .. }) {
            let s3 = &mut self.storage.s3;
            let read = |key: &str, var: &str| {
                env.get(var)
                    .filter(|v| !v.is_empty())
                    .map(|v| Secret::new(v.clone()))
                    .ok_or_else(|| ConfigError::MissingSecret {
                        key: format!("storage.s3.{key}"),
                        var: var.to_owned(),
                    })
            };
            s3.access_key_id = read("access_key_id_env", &s3.access_key_id_env)?;
            s3.secret_access_key = read("secret_access_key_env", &s3.secret_access_key_env)?;
        }
        for hook in &mut self.webhooks {
            let value = env
                .get(&hook.secret_env)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError::MissingSecret {
                    key: format!("webhooks.{}.secret_env", hook.name),
                    var: hook.secret_env.clone(),
                })?;
            hook.secret = Secret::new(value.clone());
        }
        self.payments
            .resolve_secrets(env)
            .map_err(|problem| match problem {
                payments::SecretProblem::Missing(var) => ConfigError::MissingSecret {
                    key: "payments.previous_secret_envs".to_owned(),
                    var,
                },
                payments::SecretProblem::Short(var) => ConfigError::Invalid {
                    key: "payments.secret_env".to_owned(),
                    message: format!(
                        "the secret in {var} is shorter than {MIN_SECRET_BYTES} bytes"
                    ),
                    origin: format!("from env {var}"),
                },
            })?;
        if let Some(keys) = env.get(API_KEYS_ENV) {
            self.api.env_keys = ApiKeys::parse_env(keys);
        }
        Ok(())
    }
}

/// `[server]`, or "the top level" for the empty path.
fn table_name(table: &str) -> String {
    if table.is_empty() {
        "the top level".to_owned()
    } else {
        format!("[{table}]")
    }
}

/// Turns figment's error into one that names the key and its source.
fn convert(e: figment::Error) -> ConfigError {
    let key = e.path.join(".");
    let origin = match &e.metadata {
        Some(m) if m.name == ENV_SOURCE => format!("from env {}", EnvVars::var_for(&key)),
        Some(m) => match &m.source {
            Some(figment::Source::File(path)) => format!("from {}", path.display()),
            Some(figment::Source::Custom(s)) => format!("from {s}"),
            _ if m.name.contains("TOML") => "from embedded defaults".to_owned(),
            _ => format!("from {}", m.name),
        },
        None => "from config".to_owned(),
    };
    match e.kind {
        Kind::UnknownField(field, expected) => {
            let table = match e.path.split_last() {
                Some((last, parent)) if *last == field => parent.join("."),
                _ => key,
            };
            ConfigError::UnknownField {
                table,
                field,
                origin,
                valid: expected.iter().map(|k| (*k).to_owned()).collect(),
            }
        }
        Kind::MissingField(field) => {
            let key = if key.is_empty() {
                field.to_string()
            } else {
                format!("{key}.{field}")
            };
            ConfigError::Missing { key }
        }
        kind => ConfigError::Invalid {
            key,
            message: kind.to_string(),
            origin,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
