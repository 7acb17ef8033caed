//! A local stand-in for a provider's send API: records every request and answers from a
//! script (200 `{}` once the script is used up).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Answer {
    status: u16,
    body: String,
    retry_after: Option<u64>,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            retry_after: None,
        }
    }

    pub fn raw(status: u16, body: String) -> Self {
        Self {
            status,
            body,
            retry_after: None,
        }
    }

    pub fn status(status: u16) -> Self {
        Self::raw(status, String::new())
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// A request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Answer>,
    requests: Vec<Recorded>,
}

/// The receiver, listening on 127.0.0.1.
#[derive(Clone)]
pub struct Receiver {
    base: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .fallback(record)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, inner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Queues the answer to the next request.
    pub fn answer(&self, answer: Answer) {
        self.inner.lock().unwrap().script.push_back(answer);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }
}

async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(Recorded {
            at: Instant::now(),
            headers,
            body,
        });
        inner
            .script
            .pop_front()
            .unwrap_or_else(|| Answer::raw(200, "{}".into()))
    };
    let status = StatusCode::from_u16(answer.status).unwrap();
    let mut response =
        (status, [("content-type", "application/json")], answer.body).into_response();
    if let Some(secs) = answer.retry_after {
        response
            .headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    response
}
