//! The HTTP server: business API, channel webhooks, web chat, the template studio page,
//! health and metrics.
//!
//! [`router`] is a plain function of [`AppState`], so tests can drive it directly. It composes:
//! the payment routes come as sub-routers from [`crate::payments::routes`], whose handlers
//! take their own state ([`PaymentsState`]) out of [`AppState`] through [`FromRef`].
//!
//! # API key scopes
//! Each business API route requires one [`Scope`] of the caller's key, set per group of
//! routes here with [`require_scope`] (403 `insufficient_scope` without it):
//!
//! | routes | scope |
//! |---|---|
//! | `/v1/conversations…` (list, detail, events, send), `/v1/outbound/{id}`, `/v1/media/{id}`, `/v1/events` (SSE) | `messages` |
//! | `/v1/payment-intents…`, `PUT /v1/customers/{channel}/{user_id}/payment-source` | `payments` |
//! | `/v1/templates…` | `templates` |
//! | none yet (dead letters, replays would go here) | `admin` |
//! | the MCP interface `/mcp` ([`mcp`]) | `agent`, or `messages` / `payments` for their tools |
//!
//! No scope implies another: an `admin` key cannot read conversations. `/v1/openapi.json`,
//! health, metrics, channel webhooks, web chat, `/pay/{id}`, Stripe's webhook and
//! `/confirm/{token}` need no API key.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::bus::EventLog;
use crate::channels::ChannelRegistry;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::payments::mpp::Mpp;
use crate::payments::routes::PaymentsState;
use crate::store::Store;

pub mod api;
pub mod health;
pub mod mcp;
pub mod middleware;
pub mod openapi;
pub mod stream;
pub mod studio;
pub mod webchat;
pub mod webhooks;

pub use crate::web::auth::{ApiCaller, Authenticator, Scope, require_scope};

/// Everything a request handler may need: one shared [`AppParts`], so the clone axum makes for
/// every request is one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    /// The state of a router over `parts`.
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of the [`AppState`].
pub struct AppParts {
    /// The event log.
    pub bus: Arc<dyn EventLog>,
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// The path onto the bus.
    pub ingest: Ingest,
    /// Configured channels.
    pub channels: Arc<ChannelRegistry>,
    /// The channel kinds this bridge can build (`/readyz` lists them).
    pub channel_kinds: Arc<Vec<&'static str>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// API key checks.
    pub auth: Arc<dyn Authenticator>,
    /// Queues outbound messages.
    pub outbox: Outbox,
    /// Stored inbound media.
    pub media: Arc<dyn crate::media::MediaStore>,
    /// Renders message templates.
    pub renderer: Arc<dyn crate::render::Renderer>,
    /// The template studio's versions, the live renderer and the template files.
    pub templates: api::templates::TemplatesState,
    /// What the payment routes need: intents, the MPP endpoint, the wallet.
    pub payments: PaymentsState,
    /// Web chat, when enabled.
    pub webchat: Option<webchat::WebChatState>,
    /// Cancelled when the bridge shuts down (ends SSE streams and sockets).
    pub shutdown: CancellationToken,
}

impl FromRef<AppState> for PaymentsState {
    fn from_ref(state: &AppState) -> Self {
        state.payments.clone()
    }
}

impl FromRef<AppState> for Arc<Mpp> {
    fn from_ref(state: &AppState) -> Self {
        state.payments.mpp.clone()
    }
}

impl FromRef<AppState> for webchat::WebChatContext {
    fn from_ref(state: &AppState) -> Self {
        Self {
            web: state.webchat.clone(),
            bus: state.bus.clone(),
            ingest: state.ingest.clone(),
            shutdown: state.shutdown.clone(),
        }
    }
}

impl FromRef<AppState> for Arc<dyn Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// Limits applied to every request.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
}

/// The bridge's routes with their middleware.
pub fn router(state: AppState, limits: HttpLimits) -> Router {
    let messages = Router::new()
        .route("/v1/conversations", get(api::conversations::list))
        .route("/v1/conversations/{id}", get(api::conversations::get_one))
        .route(
            "/v1/conversations/{id}/events",
            get(api::conversations::events),
        )
        .route("/v1/conversations/{id}/messages", post(api::messages::send))
        .route("/v1/outbound/{id}", get(api::messages::outbound_status))
        .route("/v1/media/{id}", get(api::media::get_one))
        .route("/v1/events", get(stream::events));
    let templates = Router::new()
        .route("/v1/templates", get(api::templates::list))
        .route(
            "/v1/templates/{channel}/{locale}/{name}",
            get(api::templates::get_one),
        )
        .route(
            "/v1/templates/{channel}/{locale}/{name}/versions",
            get(api::templates::versions).post(api::templates::create_version),
        )
        .route(
            "/v1/templates/{channel}/{locale}/{name}/publish",
            post(api::templates::publish),
        )
        .route(
            "/v1/templates/{channel}/{locale}/{name}/rollback",
            post(api::templates::rollback),
        )
        .route(
            "/v1/templates/{channel}/{locale}/{name}/test-send",
            post(api::templates::test_send),
        )
        .route(
            "/v1/templates/{channel}/{locale}/{name}/preview",
            post(api::templates::preview),
        );
    let messages = require_scope(messages, state.auth.clone(), Scope::Messages);
    let templates = require_scope(templates, state.auth.clone(), Scope::Templates);
    let payments = require_scope(
        crate::payments::routes::api_routes(),
        state.auth.clone(),
        Scope::Payments,
    );
    let mut app = Router::new()
        .merge(messages)
        .merge(templates)
        .merge(payments)
        .merge(mcp::routes(&state))
        .route("/v1/openapi.json", get(openapi::document))
        .merge(crate::payments::routes::public_routes())
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route(
            "/webhooks/{channel_id}",
            post(webhooks::receive).get(webhooks::handshake),
        )
        .route(
            "/webhooks/{channel_id}/{subpath}",
            post(webhooks::receive_at),
        )
        .merge(studio::routes());
    if state.webchat.is_some() {
        app = app.merge(webchat::routes());
    }
    app.fallback(middleware::not_found)
        .layer(axum::middleware::from_fn(
            middleware::problem_for_bare_errors,
        ))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .layer(middleware::request_id_layers())
        .with_state(state)
}
