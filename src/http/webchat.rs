//! The web-chat routes (placeholder until the webchat crate lands).

use axum::Router;

use super::AppState;

/// What the web-chat routes need.
#[derive(Clone)]
pub struct WebChatState {}

/// The web-chat routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
