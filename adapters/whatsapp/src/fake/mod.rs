//! A local Graph API for tests (feature `fake`): `POST /{version}/{phone-number-id}/messages`,
//! `GET /{version}/{media-id}` and the media download URL, on `127.0.0.1:0`.
//!
//! It checks the bearer token (else 401, code 190) and what we send (button count and title
//! length, list rows, template structure, required fields), answers with Meta's documented
//! success and error JSON (a media lookup answers `file_size` as a string, as Meta's OpenAPI
//! description has it, or as a number when told), can be told to fail the next sends or every
//! lookup of one media id ([`Failure`]), knows approved
//! templates when told ([`FakeGraph::approve_template`]; unknown names then get 132001, wrong
//! body parameter counts 132000), and records every `/messages` request.

mod routes;
mod validate;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::{get, post};
use serde_json::Value;

/// The access token the fake accepts unless told otherwise.
pub const FAKE_TOKEN: &str = "fake-access-token";

/// A scripted answer for the next `/messages` request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// 429, code 130429, with `Retry-After` seconds when given.
    RateLimited(Option<u64>),
    /// 400, code 132001: template does not exist.
    TemplateMissing,
    /// 400, code 131047: re-engagement window closed.
    WindowClosed,
    /// 401, code 190: access token expired.
    TokenExpired,
    /// HTTP 500 with code 131000.
    ServerError,
    /// HTTP 200 with a body that is not the documented shape (`{"unexpected": true}`).
    Unreadable,
    /// Any status and code.
    Code {
        /// HTTP status.
        status: u16,
        /// Graph code.
        code: i64,
    },
}

/// One `/messages` request the fake received.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Recorded {
    /// The phone-number id in the path.
    pub phone_number_id: String,
    /// The JSON body (`Null` when it was not JSON).
    pub body: Value,
    /// The status the fake answered.
    pub status: u16,
}

#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) token: String,
    pub(crate) base: String,
    pub(crate) failures: VecDeque<Failure>,
    pub(crate) recorded: Vec<Recorded>,
    pub(crate) media: HashMap<String, (String, Vec<u8>)>,
    pub(crate) templates: HashMap<String, usize>,
    pub(crate) next_id: u64,
    pub(crate) media_lookups: usize,
    pub(crate) lookups_by_id: HashMap<String, usize>,
    pub(crate) numeric_sizes: HashSet<String>,
    pub(crate) media_failures: HashMap<String, Failure>,
    pub(crate) downloads: usize,
    pub(crate) expired_downloads: usize,
}

pub(crate) type Fake = Arc<Mutex<Shared>>;

/// A running fake Graph API; stops when dropped.
pub struct FakeGraph {
    addr: SocketAddr,
    shared: Fake,
    server: tokio::task::JoinHandle<()>,
}

impl FakeGraph {
    /// Starts the fake on `127.0.0.1:0`, accepting [`FAKE_TOKEN`].
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared: Fake = Arc::new(Mutex::new(Shared {
            token: FAKE_TOKEN.to_owned(),
            base: format!("http://{addr}"),
            ..Shared::default()
        }));
        let app = Router::new()
            .route("/media-download/{id}", get(routes::download))
            .route("/{version}/{media_id}", get(routes::media_info))
            .route(
                "/{version}/{phone_number_id}/messages",
                post(routes::messages),
            )
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// The base URL to put in `api_base`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next `/messages` request with `failure` (queued in order).
    pub fn fail_next(&self, failure: Failure) {
        lock(&self.shared).failures.push_back(failure);
    }

    /// Every `/messages` request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared).recorded.clone()
    }

    /// The bodies of the requests answered 200.
    pub fn accepted(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 200)
            .map(|r| r.body)
            .collect()
    }

    /// Serves `bytes` as media `id` of type `mime`. The lookup answers Meta's documented
    /// shape, `file_size` as a string (`"303833"`).
    pub fn add_media(&self, id: &str, mime: &str, bytes: Vec<u8>) {
        lock(&self.shared)
            .media
            .insert(id.to_owned(), (mime.to_owned(), bytes));
    }

    /// Like [`FakeGraph::add_media`], with `file_size` answered as a JSON number instead.
    pub fn add_media_with_numeric_size(&self, id: &str, mime: &str, bytes: Vec<u8>) {
        let mut shared = lock(&self.shared);
        shared.numeric_sizes.insert(id.to_owned());
        shared.media.insert(id.to_owned(), (mime.to_owned(), bytes));
    }

    /// Answers every lookup of media `id` with `failure` (Meta's error JSON), for good.
    pub fn fail_media_lookup(&self, id: &str, failure: Failure) {
        lock(&self.shared)
            .media_failures
            .insert(id.to_owned(), failure);
    }

    /// How many times media `id` was looked up.
    pub fn media_lookups_of(&self, id: &str) -> usize {
        lock(&self.shared)
            .lookups_by_id
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    /// Answers the next `n` media downloads 404, as Meta does once a looked-up URL expired.
    pub fn expire_next_downloads(&self, n: usize) {
        lock(&self.shared).expired_downloads = n;
    }

    /// `(media lookups, downloads answered 200)` so far.
    pub fn media_requests(&self) -> (usize, usize) {
        let shared = lock(&self.shared);
        (shared.media_lookups, shared.downloads)
    }

    /// Declares an approved template with `body_params` body parameters; once any is
    /// declared, other names get 132001 and wrong counts 132000.
    pub fn approve_template(&self, name: &str, body_params: usize) {
        lock(&self.shared)
            .templates
            .insert(name.to_owned(), body_params);
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub(crate) fn lock(shared: &Fake) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
