//! The config tables: one struct per `[section]`, each `deny_unknown_fields`.
//!
//! Every value has an embedded default in `config/omnibridge.toml`, so these structs need no
//! `#[serde(default)]` except for the optional `[[webhooks]]` and `[[channels]]` arrays.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::{ApiKeyHash, ConfigError, Secret};

/// `[server]`: the HTTP listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free port).
    pub bind: SocketAddr,
    /// The URL the outside world reaches us at; used in links (MPP pay URLs, web chat).
    /// Unset: `http://<the bound address>` (loopback for `0.0.0.0`/`::`), logged at start.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes (webhooks, API).
    pub max_body_bytes: usize,
    /// Seconds to let in-flight work finish on shutdown.
    pub shutdown_grace_secs: u64,
}

/// `[storage]`: where state and the event log live.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Directory for the SQLite file `<data_dir>/omnibridge.sqlite`.
    pub data_dir: PathBuf,
    /// Where conversations, the outbox, payment intents, channel state, leases and template
    /// versions live: `"sqlite"` (the embedded file in `data_dir`), `"postgres"` (the URL in
    /// the env var `[storage.postgres] url_env` names) or a `postgres://` URL.
    pub state: StateBackend,
    /// `[storage.postgres]`: the pool and URL source of `state = "postgres..."`.
    pub postgres: PostgresSettings,
    /// The event bus: `"sqlite"` (embedded) or a `redis://` URL (Redis Streams).
    pub bus: Bus,
    /// SQLite `synchronous` level for the event log.
    pub durability: Durability,
    /// `[storage.retention]`: how long the log and the bookkeeping tables keep data.
    pub retention: RetentionSettings,
    /// Where inbound media lives: `"local"` (`<data_dir>/media`) or an `s3://bucket[/prefix]`
    /// URL (shared by every instance; `[storage.s3]` says how to reach it).
    pub media: MediaBackend,
    /// `[storage.s3]`: the S3-compatible endpoint and credentials of `media = "s3://..."`.
    pub s3: S3Settings,
}

/// Where the bridge's state (everything but the event log and media) lives. Its `Debug`
/// shows a URL without user name and password.
#[derive(Clone, PartialEq, Eq)]
pub enum StateBackend {
    /// The embedded SQLite file (`<data_dir>/omnibridge.sqlite`).
    Sqlite,
    /// PostgreSQL, at the URL of the env var `[storage.postgres] url_env` names.
    PostgresFromEnv,
    /// PostgreSQL at this `postgres://` URL (put a password in the env var form instead).
    Postgres(String),
}

impl StateBackend {
    /// Parses `"sqlite"`, `"postgres"` or a `postgres://` / `postgresql://` URL.
    pub fn parse(text: &str) -> Result<StateBackend, String> {
        match text {
            "sqlite" => Ok(StateBackend::Sqlite),
            "postgres" => Ok(StateBackend::PostgresFromEnv),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(StateBackend::Postgres(url.to_owned()))
            }
            other => Err(format!(
                "expected \"sqlite\", \"postgres\" or a postgres:// URL, got {:?}",
                crate::config::url_for_logs(other)
            )),
        }
    }
}

impl std::fmt::Debug for StateBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateBackend::Sqlite => f.write_str("Sqlite"),
            StateBackend::PostgresFromEnv => f.write_str("PostgresFromEnv"),
            StateBackend::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&crate::config::url_for_logs(url))
                .finish(),
        }
    }
}

impl<'de> Deserialize<'de> for StateBackend {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        StateBackend::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `[storage.postgres]`: how the PostgreSQL state store connects.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSettings {
    /// The env var holding the URL when `state = "postgres"` (a URL with a password belongs
    /// in the environment, not in the file).
    pub url_env: String,
    /// Most connections this instance keeps open.
    pub max_connections: u32,
    /// Seconds to wait for a free connection (or for the server at start) before failing.
    pub connect_timeout_secs: u64,
    /// The URL, resolved from `state` or from `url_env` when the state is PostgreSQL.
    #[serde(skip)]
    pub url: Secret,
}

/// Where inbound media is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaBackend {
    /// A directory under the data dir (the embedded default).
    Local,
    /// Objects in an S3-compatible bucket.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix (no leading or trailing `/`; empty for none): objects are at
        /// `<prefix>/media/<id>`.
        prefix: String,
    },
}

impl MediaBackend {
    /// Parses `"local"` or `s3://bucket[/prefix]`.
    pub fn parse(text: &str) -> Result<MediaBackend, String> {
        if text == "local" {
            return Ok(MediaBackend::Local);
        }
        let Some(rest) = text.strip_prefix("s3://") else {
            return Err(format!(
                "expected \"local\" or an s3://bucket[/prefix] URL, got {text:?}"
            ));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !bucket_ok {
            return Err(format!(
                "{text:?}: the bucket name must be 3 to 63 lowercase letters, digits, '-' or '.'"
            ));
        }
        let prefix = prefix.trim_matches('/');
        let prefix_ok = prefix.split('/').all(|segment| {
            prefix.is_empty()
                || (!segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        });
        if !prefix_ok {
            return Err(format!(
                "{text:?}: the prefix must be '/'-separated segments of letters, digits, '-', '_' \
                 or '.'"
            ));
        }
        Ok(MediaBackend::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl<'de> Deserialize<'de> for MediaBackend {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        MediaBackend::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `[storage.s3]`: how to reach the bucket of `storage.media = "s3://..."`. The credentials
/// come from the env vars named here, never from the file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// An S3-compatible server's URL (MinIO, moto...), e.g. `http://127.0.0.1:9000`; unset:
    /// AWS S3 of `region`. Requests are path-style (`<endpoint>/<bucket>/<key>`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The region requests are signed for.
    pub region: String,
    /// Allow a plain `http://` endpoint (a local test server); off: HTTPS only.
    pub allow_http: bool,
    /// The env var holding the access key id.
    pub access_key_id_env: String,
    /// The env var holding the secret access key.
    pub secret_access_key_env: String,
    /// The access key id, read from `access_key_id_env` when `storage.media` is `s3://`.
    #[serde(skip)]
    pub access_key_id: Secret,
    /// The secret access key, read from `secret_access_key_env` when `storage.media` is
    /// `s3://`.
    #[serde(skip)]
    pub secret_access_key: Secret,
}

/// `[storage.retention]`: what the periodic retention job trims (see
/// [`crate::retention`]). Floors apply on top: de-dup records are kept at least
/// `dedup_min_age_secs`, idempotency records at least 24 hours, unacked events at least
/// `max_age_secs`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Run the retention job at all.
    pub enabled: bool,
    /// Age in seconds after which events, finished outbox rows, idempotency records and
    /// channel state entries are removed.
    pub max_age_secs: u64,
    /// Size budget of the event log in bytes (sum of stored envelopes); the oldest acked
    /// events beyond it are removed. `0` means no size limit.
    pub max_log_bytes: u64,
    /// Hard limit in seconds for events a consumer group has not acked (or not yet read):
    /// they outlive `max_age_secs` and `max_log_bytes` until this age.
    pub unacked_max_age_secs: u64,
    /// De-duplication records are kept at least this long (seconds), even when
    /// `max_age_secs` is shorter: providers redeliver for days (WhatsApp up to 7).
    pub dedup_min_age_secs: u64,
    /// Seconds between runs of the retention job (the first run is at start).
    pub interval_secs: u64,
}

/// Which event bus backend to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bus {
    /// The embedded SQLite log.
    Sqlite,
    /// Redis Streams at this `redis://` or `rediss://` URL.
    Redis(String),
}

impl<'de> Deserialize<'de> for Bus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "sqlite" {
            Ok(Bus::Sqlite)
        } else if text.starts_with("redis://") || text.starts_with("rediss://") {
            Ok(Bus::Redis(text))
        } else {
            Err(serde::de::Error::custom(format!(
                "expected \"sqlite\" or a redis:// URL, got {text:?}"
            )))
        }
    }
}

/// SQLite durability: `full` fsyncs every commit, `normal` may lose the last commits on
/// power loss (never corrupts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `PRAGMA synchronous = FULL`.
    Full,
    /// `PRAGMA synchronous = NORMAL`.
    Normal,
}

/// `[api]`: the business API's keys.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Hashed keys: `[{ name = "ops", sha256 = "<hex of sha256(key)>", scopes = ["messages"] }]`
    /// (`scopes` optional: all when absent).
    pub keys: Vec<ApiKeyHash>,
    /// Plaintext keys from `OMNIBRIDGE_API_KEYS` (comma-separated; local use). Env only.
    #[serde(skip)]
    pub env_keys: Vec<Secret>,
}

/// `[outbox]`: retries for outbound messages.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// Tries before a message is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay, doubled per try.
    pub initial_backoff_ms: u64,
    /// Cap on the retry delay.
    pub max_backoff_ms: u64,
}

/// `[templates]`: message templates.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSettings {
    /// Directory of `<channel|default>/<locale>/<name>.hbs` files.
    pub dir: PathBuf,
    /// The last step of the locale fallback chain.
    pub default_locale: String,
}

/// `[webchat]`: the built-in web-chat widget.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebchatSettings {
    /// Whether the widget's routes are served.
    pub enabled: bool,
    /// The site/account name recorded on web-chat conversations.
    pub account: String,
    /// Origins allowed to open a chat session (exact match).
    pub allowed_origins: Vec<String>,
    /// Lifetime of a chat session token, in seconds.
    pub session_ttl_secs: u64,
}

/// `[[webhooks]]`: a signed outbound webhook the bridge posts events to.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Name used in logs and metrics.
    pub name: String,
    /// Where events are POSTed.
    pub url: String,
    /// The env var holding the signing secret (never the secret itself).
    pub secret_env: String,
    /// Event types to send (`message.received` ...); empty means all.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Tries before an event delivery is dead-lettered.
    #[serde(default = "webhook_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay, doubled per try.
    #[serde(default = "webhook_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// Cap on the retry delay.
    #[serde(default = "webhook_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// The signing secret, read from `secret_env` at load time.
    #[serde(skip)]
    pub secret: Secret,
}

impl WebhookSettings {
    /// A webhook built in code (tests, embedding): short backoffs (10 ms doubling to 50 ms)
    /// so retries play out in milliseconds.
    pub fn for_tests(name: &str, url: &str, secret: &str, max_attempts: u32) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            secret_env: String::new(),
            event_types: Vec::new(),
            max_attempts,
            initial_backoff_ms: 10,
            max_backoff_ms: 50,
            secret: Secret::new(secret),
        }
    }
}

fn webhook_max_attempts() -> u32 {
    10
}
fn webhook_initial_backoff_ms() -> u64 {
    1000
}
fn webhook_max_backoff_ms() -> u64 {
    300_000
}

/// `[[channels]]`: one configured channel account. Only `id` and `type` are read here; the
/// remaining keys belong to the channel type and are checked by its adapter's own config
/// struct (with `deny_unknown_fields`) via [`ChannelSettings::config`].
#[derive(Clone, Debug, Deserialize)]
pub struct ChannelSettings {
    /// Unique id of this channel account, e.g. `acme-wa`.
    pub id: String,
    /// The channel type, e.g. `whatsapp` (TOML key `type`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Largest inbound media file the bridge downloads for this channel, in bytes (default
    /// 16 MiB); larger ones get a `media.failed` event with code `media_too_large`.
    #[serde(default = "default_max_media_bytes")]
    pub max_media_bytes: u64,
    /// The channel type's own keys.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// The keys of a `[[channels]]` table the bridge itself reads; the rest go to the adapter.
pub const CHANNEL_BRIDGE_KEYS: &[&str] = &["id", "type", "max_media_bytes"];

fn default_max_media_bytes() -> u64 {
    crate::media::DEFAULT_MAX_MEDIA_BYTES
}

impl ChannelSettings {
    /// A channel entry of type `kind` with these type-specific keys.
    pub fn new(
        id: impl Into<String>,
        kind: impl Into<String>,
        rest: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        Self {
            id: id.into(),
            kind: kind.into(),
            max_media_bytes: default_max_media_bytes(),
            rest,
        }
    }

    /// Deserializes the channel type's own keys into its config struct. An unknown key's
    /// error names it once, with the keys of its table: for the `[[channels]]` table itself,
    /// the adapter's keys and the bridge's ([`CHANNEL_BRIDGE_KEYS`]).
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        serde_json::from_value(serde_json::Value::Object(self.rest.clone())).map_err(|e| {
            self.unknown_key::<T>()
                .unwrap_or_else(|| ConfigError::Invalid {
                    key: format!("channels.{}", self.id),
                    message: e.to_string(),
                    origin: format!("channel type {:?}", self.kind),
                })
        })
    }

    /// The same keys read through figment, whose error says which table a key is unknown
    /// in and which keys that table takes (serde_json's says neither the table nor all keys).
    fn unknown_key<T: DeserializeOwned>(&self) -> Option<ConfigError> {
        let provider = figment::providers::Serialized::defaults(&self.rest);
        let error = figment::Figment::from(provider).extract::<T>().err()?;
        let figment::error::Kind::UnknownField(field, expected) = &error.kind else {
            return None;
        };
        let nested: Vec<&str> = match error.path.split_last() {
            Some((last, parent)) if last == field => parent.iter().map(String::as_str).collect(),
            _ => error.path.iter().map(String::as_str).collect(),
        };
        let mut valid: Vec<String> = Vec::new();
        if nested.is_empty() {
            valid.extend(CHANNEL_BRIDGE_KEYS.iter().map(|k| (*k).to_owned()));
        }
        valid.extend(expected.iter().map(|k| (*k).to_owned()));
        let table = std::iter::once("channels")
            .chain(nested)
            .collect::<Vec<_>>()
            .join(".");
        Some(ConfigError::UnknownField {
            table,
            field: field.clone(),
            origin: format!("channel {:?} of type {:?}", self.id, self.kind),
            valid,
        })
    }
}
