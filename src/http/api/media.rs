//! `GET /v1/media/{id}`: inbound media the bridge stored (the `data.media.url` of a
//! `media.stored` event), for API clients with a key.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::http::{ApiCaller, AppState};
use crate::web::problem::ApiError;

/// Serves one stored media file with its MIME type.
#[utoipa::path(get, path = "/v1/media/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "the file, with its MIME type"),
        (status = 401, body = crate::web::problem::Problem),
        (status = 404, body = crate::web::problem::Problem)),
    security(("api_key" = ["messages"])))]
pub async fn get_one(
    _caller: ApiCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (media, bytes) = state
        .media
        .get(&id)
        .await
        .map_err(ApiError::unavailable)?
        .ok_or_else(|| ApiError::not_found("unknown_media", format!("no media {id:?}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, media.mime_type),
            (header::CACHE_CONTROL, "private, max-age=3600".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response())
}
