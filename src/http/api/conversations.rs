//! `GET /v1/conversations`, `GET /v1/conversations/{id}`, `GET /v1/conversations/{id}/events`.

use axum::Json;
use axum::extract::{Path, Query, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use omnibridge_sdk::{ConversationId, Envelope, Timestamp};
use serde::{Deserialize, Serialize};

use super::clamp_limit;
use crate::http::{ApiCaller, AppState};
use crate::store::{Conversation, ParticipantRecord};
use crate::web::problem::ApiError;

/// Query of the conversation list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Items per page (1–500, default 50).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of conversations, newest activity first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationPage {
    /// The conversations.
    pub data: Vec<Conversation>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A conversation with the people in it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationDetail {
    /// The conversation.
    #[serde(flatten)]
    pub conversation: Conversation,
    /// Who took part, in order of first appearance.
    pub participants: Vec<ParticipantRecord>,
}

/// Query of a conversation's history.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// Return events with a `seq` greater than this (default 0: from the start).
    pub after: Option<u64>,
    /// Items per page (1–500, default 50).
    pub limit: Option<usize>,
}

/// A page of a conversation's events, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    /// Envelopes in bus order.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Envelope>,
    /// Pass as `after` for the next page; absent when this page is not full.
    pub next_after: Option<u64>,
}

/// Lists conversations.
#[utoipa::path(get, path = "/v1/conversations", params(ListQuery),
    responses((status = 200, body = ConversationPage), (status = 401, body = crate::web::problem::Problem)),
    security(("api_key" = ["messages"])))]
pub async fn list(
    _caller: ApiCaller,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ConversationPage>, ApiError> {
    let limit = clamp_limit(query.limit);
    let before = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let data = state.store.list_conversations(before, limit).await?;
    let next_cursor = (data.len() == limit)
        .then(|| data.last().map(|c| encode_cursor(&c.last_event_at, &c.id)))
        .flatten();
    Ok(Json(ConversationPage { data, next_cursor }))
}

/// One conversation.
#[utoipa::path(get, path = "/v1/conversations/{id}", params(("id" = String, Path)),
    responses((status = 200, body = ConversationDetail), (status = 404, body = crate::web::problem::Problem)),
    security(("api_key" = ["messages"])))]
pub async fn get_one(
    _caller: ApiCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConversationDetail>, ApiError> {
    let conversation = find(&state, &id).await?;
    let participants = state.store.participants(&conversation.id).await?;
    Ok(Json(ConversationDetail {
        conversation,
        participants,
    }))
}

/// A conversation's events, oldest first, paginated by `seq`.
#[utoipa::path(get, path = "/v1/conversations/{id}/events", params(("id" = String, Path), EventsQuery),
    responses((status = 200, body = EventPage), (status = 404, body = crate::web::problem::Problem)),
    security(("api_key" = ["messages"])))]
pub async fn events(
    _caller: ApiCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let conversation = find(&state, &id).await?;
    let limit = clamp_limit(query.limit);
    let data = state
        .bus
        .read_conversation(&conversation.id, query.after.unwrap_or(0), limit)
        .await?;
    let next_after = (data.len() == limit)
        .then(|| data.last().and_then(|e| e.seq))
        .flatten();
    Ok(Json(EventPage { data, next_after }))
}

/// Loads a conversation or answers 404 `unknown_conversation`.
pub(crate) async fn find(state: &AppState, id: &str) -> Result<Conversation, ApiError> {
    state
        .store
        .conversation(&ConversationId::new(id))
        .await?
        .ok_or_else(|| {
            ApiError::not_found("unknown_conversation", format!("no conversation {id:?}"))
        })
}

pub(crate) fn encode_cursor(at: &Timestamp, id: &ConversationId) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", at.to_rfc3339(), id))
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<(Timestamp, ConversationId), ApiError> {
    let invalid =
        || ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once('|').ok_or_else(invalid)?;
    let at = chrono::DateTime::parse_from_rfc3339(at).map_err(|_| invalid())?;
    Ok((at.with_timezone(&chrono::Utc), ConversationId::new(id)))
}
