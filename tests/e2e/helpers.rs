//! `TestApp`: the whole bridge in-process on a random port with a temp data dir, plus a
//! client with one method per endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use omnibridge::config::Settings;
use omnibridge::startup::Application;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::test_channel::{self, TestChannel};

pub const API_KEY: &str = "test-api-key-0123456789";
pub const CHANNEL_ID: &str = "tc";

/// Set to `postgres` to run every in-process test bridge on its own fresh PostgreSQL
/// database instead of the embedded SQLite state (the suite against the other backend:
/// `OMNIBRIDGE_TEST_STATE=postgres cargo nextest run --test e2e`).
pub const STATE_ENV: &str = "OMNIBRIDGE_TEST_STATE";

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub channel: Arc<TestChannel>,
    pub dir: TempDir,
    /// The sandbox payment method (its settlement counter), when enabled.
    pub sandbox: Option<Arc<omnibridge::payments::sandbox::SandboxMethod>>,
    /// The app's own PostgreSQL database, when the suite runs on PostgreSQL (see
    /// [`STATE_ENV`]).
    pub postgres: Option<crate::support::postgres::PgDatabase>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// Settings for a test bridge: port 0, a temp data dir, the repo's templates, one API key.
pub fn test_settings(dir: &std::path::Path) -> Settings {
    let mut settings = Settings::load(None).expect("embedded defaults load");
    settings.server.bind = "127.0.0.1:0".parse().unwrap();
    settings.storage.data_dir = dir.to_path_buf();
    settings.templates.dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    settings.api.keys = vec![omnibridge::config::ApiKeyHash {
        name: "tests".into(),
        sha256: omnibridge::config::Sha256Hex::of(API_KEY.as_bytes()),
        scopes: omnibridge::config::Scopes::all(),
        guardrails: None,
    }];
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with_channels(configure, Vec::new()).await
}

/// Like [`spawn_app_with`], plus channels built by the test (registered next to `tc`).
pub async fn spawn_app_with_channels(
    configure: impl FnOnce(&mut Settings),
    extra: Vec<(String, Arc<dyn omnibridge_sdk::Channel>)>,
) -> TestApp {
    spawn_app_with_env(configure, extra, Arc::new(|_: &str| None)).await
}

/// Like [`spawn_app_with_channels`], with `[[channels]]` secrets looked up through `env`.
pub async fn spawn_app_with_env(
    configure: impl FnOnce(&mut Settings),
    extra: Vec<(String, Arc<dyn omnibridge_sdk::Channel>)>,
    env: omnibridge_sdk::SecretSource,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.outbox.initial_backoff_ms = 10;
    settings.outbox.max_backoff_ms = 50;
    configure(&mut settings);
    let postgres = (std::env::var(STATE_ENV).as_deref() == Ok("postgres")
        && settings.storage.state == omnibridge::config::StateBackend::Sqlite)
        .then(|| {
            let database = crate::support::postgres::PgDatabase::create();
            settings.storage.state = omnibridge::config::StateBackend::Postgres(database.url());
            settings.storage.postgres.url = omnibridge::config::Secret::new(database.url());
            database
        });
    let channel = TestChannel::new();
    let mut channels: Vec<(String, Arc<dyn omnibridge_sdk::Channel>)> =
        vec![(CHANNEL_ID.into(), channel.clone())];
    channels.extend(extra);
    let app = Application::build_with_env(settings, channels, env)
        .await
        .expect("bridge builds");
    let addr = app.local_addr().unwrap();
    let sandbox = app.sandbox();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    TestApp {
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        channel,
        dir,
        sandbox,
        postgres,
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Posts a signed test-channel webhook; returns the status.
    pub async fn inbound(&self, thread: &str, id: &str, text: &str) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/webhooks/{CHANNEL_ID}")))
            .header("x-test-secret", test_channel::SECRET)
            .json(&json!({ "thread": thread, "id": id, "text": text }))
            .send()
            .await
            .unwrap()
    }

    /// Sends an inbound message and returns the conversation id it landed in.
    pub async fn conversation_from(&self, thread: &str) -> String {
        let response = self
            .inbound(thread, &format!("{thread}-first"), "hello")
            .await;
        assert_eq!(response.status(), 200);
        let events = self.conversation_list().await;
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["conversation"]["thread"] == thread)
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .expect("conversation listed")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap()
    }

    pub async fn conversation_list(&self) -> Value {
        self.get("/v1/conversations").await.json().await.unwrap()
    }

    pub async fn history(&self, conversation: &str) -> Vec<Value> {
        let body: Value = self
            .get(&format!(
                "/v1/conversations/{conversation}/events?limit=500"
            ))
            .await
            .json()
            .await
            .unwrap();
        body["data"].as_array().unwrap().clone()
    }

    pub async fn send_message(&self, conversation: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/v1/conversations/{conversation}/messages")))
            .bearer_auth(API_KEY)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Opens `/v1/events` (resuming after `last_event_id` when given).
    pub async fn sse(
        &self,
        query: &str,
        last_event_id: Option<u64>,
    ) -> impl Stream<Item = Event> + Unpin + use<> {
        let mut request = self
            .client
            .get(self.url(&format!("/v1/events{query}")))
            .bearer_auth(API_KEY);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        Box::pin(
            response
                .bytes_stream()
                .eventsource()
                .filter_map(|event| async move { event.ok() }),
        )
    }

    /// Polls the conversation history until `predicate` holds (at most 10 s).
    pub async fn wait_for_history(
        &self,
        conversation: &str,
        predicate: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let events = self.history(conversation).await;
            if predicate(&events) {
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out; history: {events:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }
}

/// The `type` of each event.
pub fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Reads the next SSE event within 10 s.
pub async fn next_event(stream: &mut (impl Stream<Item = Event> + Unpin)) -> Event {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an SSE event within 10 s")
        .expect("stream open")
}
