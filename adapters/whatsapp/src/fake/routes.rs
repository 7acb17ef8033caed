//! The fake's handlers and Meta's answers.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Failure, Fake, Recorded, Shared, lock, validate};

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
        Failure::Unreadable => axum::Json(json!({"unexpected": true})).into_response(),
        Failure::Code { status, code } => {
            graph_error(status, code, &format!("(#{code}) Scripted failure"), "")
        }
    }
}

pub(crate) async fn messages(
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

pub(crate) async fn media_info(
    State(fake): State<Fake>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut shared = lock(&fake);
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    shared.media_lookups += 1;
    *shared.lookups_by_id.entry(media_id.clone()).or_default() += 1;
    if let Some(failure) = shared.media_failures.get(&media_id) {
        return scripted(failure.clone());
    }
    let Some((mime, bytes)) = shared.media.get(&media_id) else {
        return graph_error(400, 100, "(#100) Invalid parameter", "unknown media id");
    };
    // Meta's OpenAPI description: `"file_size": "303833"`, a string.
    let file_size = match shared.numeric_sizes.contains(&media_id) {
        true => json!(bytes.len()),
        false => json!(bytes.len().to_string()),
    };
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("{}/media-download/{media_id}", shared.base),
        "mime_type": mime,
        "sha256": hex::encode(Sha256::digest(bytes)),
        "file_size": file_size,
        "id": media_id,
    }))
    .into_response()
}

pub(crate) async fn download(
    State(fake): State<Fake>,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut shared = lock(&fake);
    if !authorized(&shared, &headers) {
        return unauthorized();
    }
    if shared.expired_downloads > 0 {
        shared.expired_downloads -= 1;
        return StatusCode::NOT_FOUND.into_response();
    }
    let found = shared.media.get(&media_id).cloned();
    match found {
        Some((mime, bytes)) => {
            shared.downloads += 1;
            ([(header::CONTENT_TYPE, mime)], bytes).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
