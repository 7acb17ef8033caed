//! The agent interface: an MCP server (the official Rust SDK, `rmcp`) over Streamable HTTP at
//! [`PATH`], for AI agents that run a conversation end to end: read it, answer, ask for a
//! payment, wait for the customer, confirm.
//!
//! - Authentication: `Authorization: Bearer <API key>` on every request; the key needs the
//!   `agent` scope (every tool) or the scopes of the tools it calls (`messages`: reading,
//!   answering, waiting; `payments`: the payment tools). `tools/list` shows only the tools the
//!   key may call. A key with none of these scopes gets 403 `insufficient_scope`.
//! - Tools ([`tools`]): `list_conversations`, `get_conversation`, `send_message`,
//!   `request_payment`, `get_payment`, `cancel_payment`, `refund_payment`, `wait_for_events`.
//!   Money tools obey the key's guardrails (`[api.keys.guardrails]`).
//! - Resources: `omnibridge://conversations/{id}`, the transcript as text, with
//!   `notifications/resources/updated` for subscribed conversations.
//! - Audit: every tool call that changes something appends `agent.action` on the conversation.
//!
//! Desktop agents that launch a command use `omnibridge mcp --url <bridge>`, a stdio proxy to
//! this endpoint (`crate::cli`'s `mcp` command).

mod caller;
mod redact;
mod reply;
mod server;
mod tools;
mod transcript;
mod wait;

/// An envelope of `body` on a `kind` channel's conversation `cv_1`, for the modules' tests.
#[cfg(test)]
fn test_envelope(kind: &str, body: omnibridge_sdk::EventBody) -> omnibridge_sdk::Envelope {
    #![allow(clippy::unwrap_used)]
    let event =
        omnibridge_sdk::InboundEvent::new(omnibridge_sdk::ConversationRef::new("a", "t"), body);
    omnibridge_sdk::Envelope::stamp(
        event,
        omnibridge_sdk::ChannelKind::new(kind).unwrap(),
        omnibridge_sdk::ConversationId::new("cv_1"),
        chrono::Utc::now(),
    )
}

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

pub use server::{AgentServer, CONVERSATION_URI_PREFIX, tool_scope};

use super::AppState;
use crate::web::auth::{ApiCaller, Authenticator, Scope};
use crate::web::problem::ApiError;

/// Where the MCP endpoint is served.
pub const PATH: &str = "/mcp";

/// The `/mcp` route: API-key authentication, then the Streamable HTTP MCP service.
pub fn routes(state: &AppState) -> Router<AppState> {
    let server_state = state.clone();
    // Requests are authenticated by API key, so any Host the operator routes here is fine
    // (the SDK's loopback-only default guards unauthenticated local servers).
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(state.shutdown.child_token())
        .disable_allowed_hosts();
    let service = StreamableHttpService::new(
        move || Ok(AgentServer::new(server_state.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .route_service(PATH, service)
        .route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            authenticate,
        ))
}

/// Authenticates the request's API key and hands the caller to the tools (through the
/// request's extensions, which the SDK passes on as `http::request::Parts`).
async fn authenticate(
    State(auth): State<Arc<dyn Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match ApiCaller::from_headers(request.headers(), auth.as_ref()) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if ![Scope::Agent, Scope::Messages, Scope::Payments]
        .into_iter()
        .any(|scope| caller.has(scope))
    {
        return ApiError::new(
            http::StatusCode::FORBIDDEN,
            crate::web::auth::INSUFFICIENT_SCOPE,
            format!(
                "the MCP interface needs the `agent` scope (or `messages` / `payments` for their tools), which this API key lacks (it has: {})",
                caller.scopes
            ),
        )
        .into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}
