//! A local Telegram Bot API for tests (feature `fake`), on `127.0.0.1:0`, reached through
//! `api_base` (teloxide's `Bot::set_api_url`): `getMe`, `setWebhook` (JSON or multipart),
//! `deleteWebhook`, `getWebhookInfo`, `getUpdates` (long poll over queued updates; 409 while
//! a webhook is set), `sendMessage` (entities, length and `callback_data` checked like
//! Telegram, see `validate`), `editMessageText`, `answerCallbackQuery`, `getFile` and the file
//! download. It answers Telegram's JSON (`{"ok":false,"error_code":400,"description":"..."}`,
//! `parameters` only when there are some) and never 5xx, since teloxide sleeps 10 s on those.
//! Scripted answers ([`Failure`]) make the next `sendMessage` calls fail.

mod routes;
pub(crate) mod validate;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::Notify;

/// The bot token the fake accepts.
pub const FAKE_TOKEN: &str = "123456:fake-BOT-token_ABCdef";

/// A scripted answer for the next `sendMessage`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// 429 with `parameters.retry_after`.
    RetryAfter(u32),
    /// 403 "Forbidden: bot was blocked by the user".
    Blocked,
    /// Any 4xx with this description.
    Other {
        /// HTTP status and `error_code`.
        code: u16,
        /// Telegram's `description`.
        description: String,
    },
}

/// One Bot API call the fake answered.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Call {
    /// The method, e.g. `sendMessage`.
    pub method: String,
    /// The parameters, as JSON (multipart fields become strings, or JSON when they parse).
    pub params: Value,
    /// The status the fake answered.
    pub status: u16,
    /// When it was answered.
    pub at: std::time::Instant,
}

/// The webhook as set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Webhook {
    /// The URL.
    pub url: String,
    /// The `secret_token`.
    pub secret_token: Option<String>,
    /// The `allowed_updates`.
    pub allowed_updates: Vec<String>,
}

#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) token: String,
    pub(crate) webhook: Option<Webhook>,
    pub(crate) updates: Vec<Value>,
    pub(crate) next_update: u32,
    pub(crate) failures: VecDeque<Failure>,
    pub(crate) calls: Vec<Call>,
    pub(crate) files: HashMap<String, (String, Vec<u8>)>,
    pub(crate) next_message: i64,
    pub(crate) downloads: usize,
    /// `getUpdates` requests so far: a long poll still waiting when a newer one arrives is
    /// answered 409, as Telegram does when two bot instances poll.
    pub(crate) polls: u64,
}

pub(crate) struct Inner {
    pub(crate) shared: Mutex<Shared>,
    pub(crate) arrived: Notify,
}

pub(crate) type Fake = Arc<Inner>;

pub(crate) fn lock(fake: &Fake) -> MutexGuard<'_, Shared> {
    fake.shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running fake Bot API.
pub struct FakeBotApi {
    addr: SocketAddr,
    fake: Fake,
    server: tokio::task::JoinHandle<()>,
}

impl FakeBotApi {
    /// Starts the fake on `127.0.0.1:0`, accepting [`FAKE_TOKEN`].
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let fake: Fake = Arc::new(Inner {
            shared: Mutex::new(Shared {
                token: FAKE_TOKEN.into(),
                next_update: 1,
                next_message: 1000,
                ..Shared::default()
            }),
            arrived: Notify::new(),
        });
        let app = routes::router(fake.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, fake, server })
    }

    /// The base URL to configure as `api_base`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues an update for `getUpdates` (its `update_id` is assigned when absent) and
    /// returns its `update_id`.
    pub fn push_update(&self, mut update: Value) -> u32 {
        let id = {
            let mut shared = lock(&self.fake);
            let id = match update.get("update_id").and_then(Value::as_u64) {
                Some(id) => u32::try_from(id).unwrap_or(u32::MAX),
                None => shared.next_update,
            };
            shared.next_update = shared.next_update.max(id + 1);
            update["update_id"] = id.into();
            shared.updates.push(update);
            id
        };
        self.fake.arrived.notify_waiters();
        id
    }

    /// Makes the next `sendMessage` calls fail, in order.
    pub fn fail_next(&self, failure: Failure) {
        lock(&self.fake).failures.push_back(failure);
    }

    /// Sets a webhook as if another program had (then `getUpdates` answers 409).
    pub fn set_webhook(&self, url: &str) {
        lock(&self.fake).webhook = Some(Webhook {
            url: url.into(),
            ..Webhook::default()
        });
    }

    /// The webhook as set, if any.
    pub fn webhook(&self) -> Option<Webhook> {
        lock(&self.fake).webhook.clone()
    }

    /// Serves a file for `getFile` and the download.
    pub fn add_file(&self, file_id: &str, bytes: &[u8]) {
        let path = format!("documents/{file_id}.bin");
        lock(&self.fake)
            .files
            .insert(file_id.into(), (path, bytes.to_vec()));
    }

    /// Every call answered, in order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.fake).calls.clone()
    }

    /// The parameters of every successful call of `method`.
    pub fn accepted(&self, method: &str) -> Vec<Value> {
        lock(&self.fake)
            .calls
            .iter()
            .filter(|c| c.method == method && c.status == 200)
            .map(|c| c.params.clone())
            .collect()
    }

    /// How many file downloads were served.
    pub fn downloads(&self) -> usize {
        lock(&self.fake).downloads
    }
}

impl Drop for FakeBotApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}
