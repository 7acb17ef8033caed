//! Building and running the bridge: open storage, wire channels, workers and the HTTP
//! server, and shut down gracefully (drain in-flight requests, stop workers).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::bus::EventLog;
use crate::bus::redis_streams::RedisBus;
use crate::bus::sqlite::SqliteBus;
use crate::channels::{ChannelFactories, ChannelRegistry};
use crate::config::{Bus, MediaBackend, Settings, StateBackend, StorageSettings};
use crate::http::{self, AppParts, AppState, HttpLimits};
use crate::ingest::{BatchWriter, Ingest, OneSqliteTransaction, StoreThenBus};
use crate::media::{LocalMediaStore, MediaStore, MediaWorker, ObjectMediaStore};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, OutboxWorker, RetryPolicy};
use crate::payments::notify::Notifier;
use crate::payments::routes::PaymentsState;
use crate::payments::sandbox::SandboxMethod;
use crate::payments::store::PaymentStore;
use crate::sqlite::{Database, Durability};
use crate::store::Store;
use crate::store::postgres::{PgOptions, PgStore};
use crate::store::sqlite::SqliteStore;
use crate::templates::versions::TemplateStore;
use crate::webhooks_out::{WebhookDispatcher, WebhookEndpoint};
use omnibridge_sdk::SecretSource;

mod public_url;

/// How often each instance looks for newly published template versions.
const TEMPLATE_REFRESH: Duration = Duration::from_millis(500);

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Storage could not be opened.
    #[error("storage: {0}")]
    Storage(String),
    /// The templates did not load.
    #[error("templates: {0}")]
    Templates(String),
    /// A channel could not be built.
    #[error("channel {id}: {reason}")]
    Channel {
        /// The channel's config id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Any other setup step.
    #[error("{0}")]
    Other(String),
}

/// Where the bridge's channels come from, besides the `[[channels]]` tables.
#[derive(Clone)]
pub struct ChannelSetup {
    /// The channel kinds by config `type` (default: the built-in ones).
    pub factories: ChannelFactories,
    /// Channels built in code, registered under the given ids.
    pub extra: Vec<(String, Arc<dyn omnibridge_sdk::Channel>)>,
    /// Where `[[channels]]` secrets (`*_env`) are read (default: the process environment).
    pub secrets: SecretSource,
}

impl Default for ChannelSetup {
    fn default() -> Self {
        Self {
            factories: ChannelFactories::builtin(),
            extra: Vec::new(),
            secrets: Arc::new(|name: &str| std::env::var(name).ok()),
        }
    }
}

/// A built bridge, bound to its socket, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    limits: HttpLimits,
    workers: JoinSet<()>,
    grace: Duration,
    sandbox: Option<Arc<SandboxMethod>>,
}

impl Application {
    /// Opens storage, builds channels and workers, and binds the listener (port 0 picks a
    /// free port: see [`Application::local_addr`]).
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_channels(settings, Vec::new()).await
    }

    /// Like [`Application::build`], plus channels built in code (a test double, or an
    /// embedder's own instance), registered under the given ids.
    pub async fn build_with_channels(
        settings: Settings,
        extra: Vec<(String, Arc<dyn omnibridge_sdk::Channel>)>,
    ) -> Result<Self, StartupError> {
        Self::build_with(
            settings,
            ChannelSetup {
                extra,
                ..ChannelSetup::default()
            },
        )
        .await
    }

    /// Like [`Application::build_with_channels`], with the `[[channels]]` secrets (`*_env`)
    /// looked up through `env` instead of the process environment (tests, embedders).
    pub async fn build_with_env(
        settings: Settings,
        extra: Vec<(String, Arc<dyn omnibridge_sdk::Channel>)>,
        env: SecretSource,
    ) -> Result<Self, StartupError> {
        Self::build_with(
            settings,
            ChannelSetup {
                extra,
                secrets: env,
                ..ChannelSetup::default()
            },
        )
        .await
    }

    /// Builds the bridge with the channel kinds, code-built channels and secret source of
    /// `setup`.
    pub async fn build_with(settings: Settings, setup: ChannelSetup) -> Result<Self, StartupError> {
        let ChannelSetup {
            factories,
            extra,
            secrets,
        } = setup;
        let addr = settings.server.bind;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?;
        let public_url = public_url::resolve(settings.server.public_url.as_deref(), local);
        let (bus, store, payment_store, template_store, batches) = open_storage(&settings).await?;
        if settings.api_keys().is_empty() {
            tracing::warn!(
                "No API keys are configured: set OMNIBRIDGE_API_KEYS (or api.keys) to use the business API."
            );
        }
        let metrics = Arc::new(Metrics::new());
        let ingest = Ingest::with_writer(batches, bus.clone(), store.clone(), metrics.clone());
        // The files, with the versions published in the studio on top: a stored version
        // that does not load stops the start like a broken file would.
        let generation = template_store
            .templates_generation()
            .await
            .map_err(|error| StartupError::Storage(error.to_string()))?;
        let published = template_store
            .published_templates()
            .await
            .map_err(|error| StartupError::Storage(error.to_string()))?;
        let templates = crate::render::load_engine(&settings.templates.dir, &published)
            .map_err(|error| StartupError::Templates(error.to_string()))?;
        let renderer = Arc::new(
            crate::render::TemplateRenderer::new(
                templates,
                settings.templates.default_locale.clone(),
            )
            .at_generation(generation),
        );
        let mut channels = ChannelRegistry::new();
        let context = |id: &str| {
            omnibridge_sdk::ChannelContext::new(id, public_url.clone())
                .with_state(Arc::new(crate::channels::state::StoreChannelState::new(
                    store.clone(),
                    id,
                )))
                .with_secrets(secrets.clone())
        };
        let webchat = if settings.webchat.enabled {
            let cx = context(crate::http::webchat::CHANNEL_ID);
            Some(crate::http::webchat::build(
                &settings,
                &factories,
                &cx,
                &mut channels,
            )?)
        } else {
            None
        };
        for entry in &settings.channels {
            let refused = |reason| StartupError::Channel {
                id: entry.id.clone(),
                reason,
            };
            let channel = factories
                .build(entry, &context(&entry.id))
                .map_err(refused)?;
            channels
                .register(entry.id.clone(), channel)
                .map_err(refused)?;
        }
        for (id, channel) in extra {
            channels
                .register(id.clone(), channel)
                .map_err(|reason| StartupError::Channel { id, reason })?;
        }
        crate::http::webchat::refuse_unhosted(&channels)?;
        let channels = Arc::new(channels);
        let outbox = Outbox::new(store.clone());
        let built = crate::payments::setup::build(crate::payments::setup::Parts {
            settings: &settings,
            payment_store,
            store: store.clone(),
            bus: bus.clone(),
            ingest: ingest.clone(),
            notifier: Notifier::new(
                store.clone(),
                channels.clone(),
                outbox.clone(),
                renderer.clone(),
                &public_url,
            ),
            metrics: metrics.clone(),
            local,
            consumer: format!("{}-{}", hostname(), std::process::id()),
        })
        .map_err(|error| StartupError::Other(format!("payments: {error}")))?;
        let payments = built.mpp;
        let wallet = built.wallet;
        let shutdown = CancellationToken::new();
        let media = media_store(&settings.storage)?;
        let state = AppState::new(AppParts {
            channel_kinds: Arc::new(factories.kinds()),
            bus: bus.clone(),
            store: store.clone(),
            ingest: ingest.clone(),
            channels: channels.clone(),
            metrics: metrics.clone(),
            auth: Arc::new(settings.api_keys()),
            outbox: outbox.clone(),
            renderer: renderer.clone(),
            templates: crate::http::api::templates::TemplatesState {
                store: template_store.clone(),
                renderer: renderer.clone(),
                dir: settings.templates.dir.clone(),
            },
            payments: PaymentsState {
                mpp: payments.clone(),
                store: store.clone(),
                wallet: wallet.clone().map(Arc::new),
            },
            webchat,
            media: media.clone(),
            shutdown: shutdown.clone(),
        });
        let mut workers = JoinSet::new();
        if let Some(web) = &state.webchat {
            workers.spawn(web.hub_task(&ingest, bus.clone(), shutdown.clone()));
        }
        workers.spawn(renderer.clone().keep_fresh(
            settings.templates.dir.clone(),
            template_store.clone(),
            TEMPLATE_REFRESH,
            shutdown.clone(),
        ));
        let retry = RetryPolicy {
            max_attempts: settings.outbox.max_attempts,
            initial_backoff: Duration::from_millis(settings.outbox.initial_backoff_ms),
            max_backoff: Duration::from_millis(settings.outbox.max_backoff_ms),
        };
        let worker = OutboxWorker::new(
            store.clone(),
            ingest.clone(),
            channels.clone(),
            metrics.clone(),
            retry,
        )
        .with_media(media.clone());
        workers.spawn(worker.run(outbox, shutdown.clone()));
        if let Some(wallet) = wallet {
            workers.spawn(wallet.run(shutdown.clone()));
        }
        workers.spawn(payments.engine.clone().run_sweeper(shutdown.clone()));
        let instance = format!("{}-{}", hostname(), std::process::id());
        let media_worker = MediaWorker {
            consumer: instance.clone(),
            bus: bus.clone(),
            store: store.clone(),
            ingest: ingest.clone(),
            channels: channels.clone(),
            media,
            caps: settings
                .channels
                .iter()
                .map(|c| (c.id.clone(), c.max_media_bytes))
                .collect(),
            public_url,
            retry,
        };
        workers.spawn(media_worker.run(shutdown.clone()));
        if settings.storage.retention.enabled {
            let policy =
                crate::retention::RetentionPolicy::from_settings(&settings.storage.retention);
            let job = crate::retention::RetentionJob::new(
                bus.clone(),
                store.clone(),
                metrics.clone(),
                policy,
            );
            workers.spawn(job.run(shutdown.clone()));
        }
        for hook in &settings.webhooks {
            let endpoint = WebhookEndpoint {
                name: hook.name.clone(),
                url: hook.url.clone(),
                secret: hook.secret.expose().as_bytes().to_vec(),
                event_types: hook.event_types.clone(),
                retry: RetryPolicy {
                    max_attempts: hook.max_attempts,
                    initial_backoff: Duration::from_millis(hook.initial_backoff_ms),
                    max_backoff: Duration::from_millis(hook.max_backoff_ms),
                },
            };
            let dispatcher = WebhookDispatcher::new(
                endpoint,
                instance.clone(),
                bus.clone(),
                store.clone(),
                metrics.clone(),
            )
            .map_err(|error| StartupError::Other(format!("webhook {}: {error}", hook.name)))?;
            workers.spawn(dispatcher.run(shutdown.clone()));
        }
        // Instances sharing the store take turns on each channel's receive loop (leases);
        // named by host and address, so a restarted instance takes its own lease back.
        let holder = format!("{}@{}", hostname(), local);
        for handle in channels.iter() {
            let listen = crate::channels::leased::LeasedListen {
                store: store.clone(),
                holder: holder.clone(),
                channel_id: handle.id.clone(),
                channel: handle.channel.clone(),
                inbox: Arc::new(crate::ingest::ChannelInbox::new(
                    ingest.clone(),
                    handle.id.clone(),
                    handle.kind.clone(),
                )),
            };
            workers.spawn(listen.run(shutdown.clone()));
        }
        Ok(Self {
            listener,
            state,
            limits: HttpLimits {
                max_body_bytes: settings.server.max_body_bytes,
            },
            workers,
            grace: Duration::from_secs(settings.server.shutdown_grace_secs),
            sandbox: built.sandbox,
        })
    }

    /// The sandbox payment method, when enabled (tests read its settlement counter).
    pub fn sandbox(&self) -> Option<Arc<SandboxMethod>> {
        self.sandbox.clone()
    }

    /// The address the bridge listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, std::io::Error> {
        self.listener.local_addr()
    }

    /// Serves until `signal` resolves, then stops accepting, drains in-flight requests and
    /// ends workers, waiting at most the configured grace period.
    pub async fn run_until_stopped(
        self,
        signal: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), std::io::Error> {
        let Self {
            listener,
            state,
            limits,
            mut workers,
            grace,
            sandbox: _,
        } = self;
        let shutdown = state.shutdown.clone();
        let app = http::router(state, limits);
        let addr = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "Could not set TCP_NODELAY.");
            }
        });
        tracing::info!(%addr, "omnibridge is listening; the web-chat demo is at http://{addr}/ when web chat is on.");
        let stop = shutdown.clone();
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            signal.await;
            tracing::info!("Shutting down: draining requests and workers.");
            stop.cancel();
        });
        let result = server.await;
        shutdown.cancel();
        let drained = tokio::time::timeout(grace, async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "Workers did not stop in time; aborting them."
            );
            workers.abort_all();
        }
        result
    }
}

type Storage = (
    Arc<dyn EventLog>,
    Arc<dyn Store>,
    Arc<dyn PaymentStore>,
    Arc<dyn TemplateStore>,
    Arc<dyn BatchWriter>,
);

async fn open_storage(settings: &Settings) -> Result<Storage, StartupError> {
    let dir: &Path = &settings.storage.data_dir;
    std::fs::create_dir_all(dir).map_err(|error| {
        StartupError::Storage(format!("cannot create {}: {error}", dir.display()))
    })?;
    let on_sqlite = settings.storage.state == StateBackend::Sqlite;
    // The SQLite file holds the state, the event log, or both.
    let db = if on_sqlite || settings.storage.bus == Bus::Sqlite {
        let durability = match settings.storage.durability {
            crate::config::Durability::Full => Durability::Full,
            crate::config::Durability::Normal => Durability::Normal,
        };
        Some(
            Database::open(dir.join("omnibridge.sqlite"), durability)
                .map_err(|error| StartupError::Storage(error.to_string()))?,
        )
    } else {
        None
    };
    let (store, payment_store, template_store): (
        Arc<dyn Store>,
        Arc<dyn PaymentStore>,
        Arc<dyn TemplateStore>,
    ) = match &db {
        Some(db) if on_sqlite => {
            let sqlite_store = SqliteStore::new(db.clone());
            // The SQLite bus lives in the same file: payment moves record their events with
            // them.
            let sqlite_store = Arc::new(match &settings.storage.bus {
                Bus::Sqlite => sqlite_store.with_colocated_bus(),
                Bus::Redis(_) => sqlite_store,
            });
            (sqlite_store.clone(), sqlite_store.clone(), sqlite_store)
        }
        _ => {
            let pg = Arc::new(open_postgres(&settings.storage).await?);
            (pg.clone(), pg.clone(), pg)
        }
    };
    let (bus, batches): (Arc<dyn EventLog>, Arc<dyn BatchWriter>) =
        match (&settings.storage.bus, db) {
            (Bus::Sqlite, Some(db)) => {
                let bus = SqliteBus::new(db)
                    .await
                    .map_err(|error| StartupError::Storage(error.to_string()))?;
                // With the state in the same file, a batch's conversation records and events
                // commit in one transaction.
                let batches: Arc<dyn BatchWriter> = if on_sqlite {
                    Arc::new(OneSqliteTransaction::new(bus.clone()))
                } else {
                    Arc::new(StoreThenBus::new(store.clone(), Arc::new(bus.clone())))
                };
                (Arc::new(bus), batches)
            }
            (Bus::Redis(url), _) => {
                let bus: Arc<dyn EventLog> = Arc::new(
                    RedisBus::connect(url, "omnibridge")
                        .await
                        .map_err(|error| StartupError::Storage(error.to_string()))?,
                );
                let batches = Arc::new(StoreThenBus::new(store.clone(), bus.clone()));
                (bus, batches)
            }
            (Bus::Sqlite, None) => {
                return Err(StartupError::Storage(
                    "the SQLite event log needs the SQLite file".to_owned(),
                ));
            }
        };
    Ok((bus, store, payment_store, template_store, batches))
}

/// Brings the schema of the state store `storage.state` names up to date (what `serve` does
/// at start, for `omnibridge migrate`); answers what it did, for the operator.
pub async fn migrate_state(settings: &Settings) -> Result<String, StartupError> {
    let storage = &settings.storage;
    if storage.state == StateBackend::Sqlite {
        let dir: &Path = &storage.data_dir;
        std::fs::create_dir_all(dir).map_err(|error| {
            StartupError::Storage(format!("cannot create {}: {error}", dir.display()))
        })?;
        let path = dir.join("omnibridge.sqlite");
        // Opening the file applies its migrations.
        Database::open(&path, Durability::Full)
            .map_err(|error| StartupError::Storage(error.to_string()))?;
        return Ok(format!("SQLite state at {} is up to date", path.display()));
    }
    let options = PgOptions {
        max_connections: 1,
        connect_timeout: Duration::from_secs(storage.postgres.connect_timeout_secs),
    };
    let url = storage.postgres.url.expose();
    let store = PgStore::connect(url, &options)
        .await
        .map_err(|error| StartupError::Storage(format!("storage.state: {error}")))?;
    let applied = store
        .migrate()
        .await
        .map_err(|error| StartupError::Storage(format!("storage.state: {error}")))?;
    Ok(format!(
        "PostgreSQL state at {} is up to date ({applied} migration(s) applied now)",
        crate::config::url_for_logs(url)
    ))
}

/// Connects to the PostgreSQL state store of `storage.state` and applies its migrations.
async fn open_postgres(storage: &StorageSettings) -> Result<PgStore, StartupError> {
    let url = storage.postgres.url.expose();
    tracing::info!(
        url = %crate::config::url_for_logs(url),
        max_connections = storage.postgres.max_connections,
        "State in PostgreSQL."
    );
    let options = PgOptions {
        max_connections: storage.postgres.max_connections,
        connect_timeout: Duration::from_secs(storage.postgres.connect_timeout_secs),
    };
    let store = PgStore::connect(url, &options)
        .await
        .map_err(|error| StartupError::Storage(format!("storage.state: {error}")))?;
    store
        .migrate()
        .await
        .map_err(|error| StartupError::Storage(format!("storage.state: {error}")))?;
    Ok(store)
}

/// The media store `storage.media` names: `<data_dir>/media`, or an S3-compatible bucket.
pub fn media_store(
    storage: &crate::config::StorageSettings,
) -> Result<Arc<dyn MediaStore>, StartupError> {
    let media: Arc<dyn MediaStore> = match &storage.media {
        MediaBackend::Local => Arc::new(
            LocalMediaStore::open(storage.data_dir.join("media"))
                .map_err(|error| StartupError::Storage(error.to_string()))?,
        ),
        MediaBackend::S3 { bucket, prefix } => {
            tracing::info!(
                bucket = %bucket,
                prefix = %prefix,
                endpoint = %endpoint_for_logs(storage.s3.endpoint.as_deref()),
                region = %storage.s3.region,
                "media in object storage"
            );
            Arc::new(
                ObjectMediaStore::s3(bucket, prefix, &storage.s3)
                    .map_err(|error| StartupError::Storage(format!("storage.media: {error}")))?,
            )
        }
    };
    Ok(media)
}

/// The S3 endpoint as logs may show it: without any user or password written into the URL.
fn endpoint_for_logs(endpoint: Option<&str>) -> String {
    let Some(endpoint) = endpoint else {
        return "AWS S3".to_owned();
    };
    crate::config::url_for_logs(endpoint)
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "omnibridge".to_owned())
}

#[cfg(test)]
mod endpoint_tests {
    use super::endpoint_for_logs;

    #[test]
    fn logged_endpoints_carry_no_credentials() {
        let shown = endpoint_for_logs(Some("https://AKIDEXAMPLE:s3cr3t@minio.internal:9000/"));
        assert_eq!(shown, "https://minio.internal:9000/");
        assert_eq!(endpoint_for_logs(None), "AWS S3");
        assert_eq!(endpoint_for_logs(Some("not a url")), "(unparsable URL)");
    }
}
