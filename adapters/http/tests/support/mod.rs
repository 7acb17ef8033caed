//! Shared test helpers: configs, contexts with secrets, and a local receiver standing in
//! for the provider's API.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use omnibridge_http_channel::{HttpChannel, HttpChannelConfig};
use omnibridge_sdk::ChannelContext;
use serde_json::{Value, json};

/// The clock of every test channel (2023-11-14T22:13:20Z).
pub const NOW: i64 = 1_700_000_000;
pub const WEBHOOK_SECRET: &str = "whsec-test";
pub const OUT_SECRET: &str = "out-secret";
pub const AUTH: &str = "Bearer api-key-123";

/// A context for the channel `sms` whose secrets are `secrets`.
pub fn context(secrets: &[(&str, &str)]) -> ChannelContext {
    let secrets: Vec<(String, String)> = secrets
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    ChannelContext::new("sms", "http://bridge.test").with_secrets(Arc::new(move |var: &str| {
        secrets
            .iter()
            .find(|(k, _)| k == var)
            .map(|(_, v)| v.clone())
    }))
}

/// Every secret the base config names.
pub fn all_secrets() -> ChannelContext {
    context(&[
        ("SMS_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("SMS_API_AUTH", AUTH),
        ("SMS_OUT_SECRET", OUT_SECRET),
    ])
}

/// A complete table (as JSON, to mutate in tests) posting to `url`.
pub fn base_config(url: &str) -> Value {
    json!({
        "inbound": {
            "secret_env": "SMS_WEBHOOK_SECRET",
            "signature_header": "X-Signature",
            "signature": "hmac-sha256-hex",
            "items": "/messages",
            "message_id": "/id",
            "sender_id": "/from",
            "sender_name": "/name",
            "text": "/text",
            "action_payload": "/button",
            "timestamp": "/ts"
        },
        "outbound": {
            "url": url,
            "auth_header_env": "SMS_API_AUTH",
            "body": "{\"to\": {{json to}}, \"text\": {{json text}}, \"ref\": {{json outbound_id}}, \"reply_to\": {{json reply_to}}, \"buttons\": {{json buttons}}}",
            "secret_env": "SMS_OUT_SECRET",
            "signature_header": "X-Omnibridge-Signature",
            "provider_message_id": "/data/id",
            "timeout_secs": 1
        },
        "status": {
            "items": "/statuses",
            "message_id": "/id",
            "status": "/status",
            "map": {"DELIVRD": "delivered", "UNDELIV": "failed"}
        },
        "capabilities": {"max_text_len": 160, "buttons": true}
    })
}

pub fn parse(config: Value) -> HttpChannelConfig {
    serde_json::from_value(config).expect("the config deserializes")
}

/// A channel built from `config` with every secret, on the test clock.
pub fn channel(config: Value) -> HttpChannel {
    HttpChannel::new(parse(config), &all_secrets())
        .expect("the channel builds")
        .with_clock(|| NOW)
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Default)]
struct Script {
    received: Mutex<Vec<Received>>,
    answers: Mutex<VecDeque<Answer>>,
}

/// The provider's API on 127.0.0.1:0. `POST /send` answers the next scripted answer
/// (default 200 `{"data":{"id":"prov-1"}}`); `GET /media/<name>` serves [`MEDIA`] as
/// image/jpeg; `GET /moved` redirects there.
pub struct Receiver {
    pub base: String,
    script: Arc<Script>,
}

pub const MEDIA: &[u8] = b"\xff\xd8\xff\xe0 not really a jpeg";

impl Receiver {
    pub async fn start() -> Self {
        let script = Arc::new(Script::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            script,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn answer(&self, answer: Answer) {
        self.script.answers.lock().unwrap().push_back(answer);
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.received.lock().unwrap().clone()
    }
}

async fn handle(State(script): State<Arc<Script>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap();
    let path = parts.uri.path().to_owned();
    script.received.lock().unwrap().push(Received {
        method: parts.method.to_string(),
        path: path.clone(),
        headers: parts.headers,
        body,
    });
    if path.starts_with("/media/") {
        return Response::builder()
            .header("content-type", "image/jpeg; charset=binary")
            .body(Body::from(MEDIA))
            .unwrap();
    }
    if path == "/moved" {
        return Response::builder()
            .status(302)
            .header("location", "/media/photo.jpg")
            .body(Body::empty())
            .unwrap();
    }
    let answer = script
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| Answer::new(200, r#"{"data":{"id":"prov-1"}}"#));
    let mut response = Response::builder().status(answer.status);
    for (name, value) in answer.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(answer.body)).unwrap()
}
