//! A local Graph API for tests (feature `fake`): `POST /{version}/{phone-number-id}/messages`,
//! `GET /{version}/{media-id}` and the media download URL, on `127.0.0.1:0`.
//!
//! It checks the bearer token (else 401, code 190) and what we send (button count and title
//! length, list rows, template structure, required fields), answers with Meta's documented
//! success and error JSON, can be told to fail the next sends ([`Failure`]), knows approved
//! templates when told ([`FakeGraph::approve_template`]; unknown names then get 132001, wrong
//! body parameter counts 132000), and records every `/messages` request.

mod validate;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

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
struct Shared {
    token: String,
    base: String,
    failures: VecDeque<Failure>,
    recorded: Vec<Recorded>,
    media: HashMap<String, (String, Vec<u8>)>,
    templates: HashMap<String, usize>,
    next_id: u64,
}

type Fake = Arc<Mutex<Shared>>;

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
            .route("/media-download/{id}", get(download))
            .route("/{version}/{media_id}", get(media_info))
            .route("/{version}/{phone_number_id}/messages", post(messages))
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

    /// Serves `bytes` as media `id` of type `mime`.
    pub fn add_media(&self, id: &str, mime: &str, bytes: Vec<u8>) {
        lock(&self.shared)
            .media
            .insert(id.to_owned(), (mime.to_owned(), bytes));
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

fn lock(shared: &Fake) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn graph_error(status: u16, code: i64, message: &str, details: &str) -> Response {
    let body = json!({"error": {
        "message": message, "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AFakeTraceId"
    }});
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(body)).into_response()
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token == shared.token)
}

fn unauthorized() -> Response {
    graph_error(
        401,
        190,
        "Invalid OAuth access token - Cannot parse access token",
        "",
    )
}

fn scripted(failure: Failure) -> Response {
    match failure {
        Failure::RateLimited(after) => {
            let mut response = graph_error(
                429,
                130429,
                "(#130429) Rate limit hit",
                "Cloud API message throughput has been reached.",
            );
            if let Some(after) = after.and_then(|a| a.to_string().parse().ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, after);
            }
            response
        }
        Failure::TemplateMissing => graph_error(
            400,
            132001,
            "(#132001) Template name does not exist in the translation",
            "template name (x) does not exist in en_US",
        ),
        Failure::WindowClosed => graph_error(
            400,
            131047,
            "(#131047) Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        ),
        Failure::TokenExpired => graph_error(
            401,
            190,
            "Error validating access token: Session has expired",
            "",
        ),
        Failure::ServerError => graph_error(
            500,
            131000,
            "(#131000) Something went wrong",
            "Something went wrong",
        ),
        Failure::Code { status, code } => {
            graph_error(status, code, &format!("(#{code}) Scripted failure"), "")
        }
    }
}

async fn messages(
    State(fake): State<Fake>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let mut shared = lock(&fake);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let response = answer(&mut shared, &headers, &parsed);
    shared.recorded.push(Recorded {
        phone_number_id,
        body: parsed,
        status: response.status().as_u16(),
    });
    response
}

fn answer(shared: &mut Shared, headers: &HeaderMap, body: &Value) -> Response {
    if !authorized(shared, headers) {
        return unauthorized();
    }
    let mark_read = match validate::message(body) {
        Ok(mark_read) => mark_read,
        Err((code, details)) => {
            return graph_error(400, code, &format!("(#{code}) Invalid parameter"), &details);
        }
    };
    if body["type"] == "template" && !shared.templates.is_empty() {
        let name = body["template"]["name"].as_str().unwrap_or_default();
        match shared.templates.get(name) {
            None => return scripted(Failure::TemplateMissing),
            Some(&count) if count != validate::body_param_count(&body["template"]) => {
                return graph_error(
                    400,
                    132000,
                    "(#132000) Number of parameters does not match the expected number of params",
                    "body: number of localizable_params does not match",
                );
            }
            Some(_) => {}
        }
    }
    if let Some(failure) = shared.failures.pop_front() {
        return scripted(failure);
    }
    if mark_read {
        return axum::Json(json!({"success": true})).into_response();
    }
    shared.next_id += 1;
    let to = body.get("to").or_else(|| body.get("recipient")).cloned();
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": format!("wamid.FAKE{:08}", shared.next_id)}]
    }))
    .into_response()
}

async fn media_info(
    State(fake): State<Fake>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let shared = lock(&fake);
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    let Some((mime, bytes)) = shared.media.get(&media_id) else {
        return graph_error(400, 100, "(#100) Invalid parameter", "unknown media id");
    };
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("{}/media-download/{media_id}", shared.base),
        "mime_type": mime,
        "sha256": hex::encode(Sha256::digest(bytes)),
        "file_size": bytes.len(),
        "id": media_id,
    }))
    .into_response()
}

async fn download(
    State(fake): State<Fake>,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let shared = lock(&fake);
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    match shared.media.get(&media_id) {
        Some((mime, bytes)) => {
            ([(header::CONTENT_TYPE, mime.clone())], bytes.clone()).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
