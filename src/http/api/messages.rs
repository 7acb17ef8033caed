//! `POST /v1/conversations/{id}/messages`: send text (with optional buttons) or a template to
//! any conversation, whatever its channel, through the outbox. `GET /v1/outbound/{id}` shows
//! where a message is.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use omnibridge_sdk::{OutboundId, OutboundMessage, ProviderMessageId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::compose::{buttons, message_text};
use super::conversations::find;
use crate::channels::window::{self, Window};
use crate::http::{ApiCaller, AppState};
use crate::outbox::Outbox;
use crate::store::{IdempotentResponse, OutboxState};
use crate::web::extract::{idempotency_key, parse_body, require_json};
use crate::web::problem::ApiError;

/// A message to send.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// Text to send (exactly one of `text` and `template`).
    pub text: Option<String>,
    /// A template name, rendered for the conversation's channel and `locale`.
    pub template: Option<String>,
    /// The locale to render in (default: config `templates.default_locale`).
    pub locale: Option<String>,
    /// Variables for the template.
    #[schema(value_type = Object)]
    pub data: Option<serde_json::Value>,
    /// Action buttons (at most 10).
    #[serde(default)]
    pub buttons: Vec<ButtonSpec>,
    /// The provider message id to reply to, where the channel supports it.
    pub reply_to: Option<String>,
    /// Stored media to attach (`media_id` from a `media.stored` event or the media API),
    /// where the channel has attachments (email).
    #[serde(default)]
    pub attachments: Vec<AttachmentSpec>,
}

impl SendMessage {
    /// A message of template `name` in `locale` with `data`.
    pub fn template(name: String, locale: String, data: Option<serde_json::Value>) -> Self {
        Self {
            text: None,
            template: Some(name),
            locale: Some(locale),
            data,
            buttons: Vec::new(),
            reply_to: None,
            attachments: Vec::new(),
        }
    }
}

/// One attachment: a stored media file, optionally renamed.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentSpec {
    /// The media id (`md_…`).
    pub media_id: String,
    /// The file name the recipient sees (default: the media id).
    pub filename: Option<String>,
}

/// One button: exactly one of `payload` (comes back as `action.invoked`) and `url`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ButtonSpec {
    /// What the customer sees (1–100 characters).
    pub label: String,
    /// Sent back in the `action.invoked` event when pressed.
    pub payload: Option<String>,
    /// Opened when pressed.
    pub url: Option<String>,
}

/// The answer to an accepted message.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Accepted {
    /// The outbound id; delivery events carry it.
    pub outbound_id: String,
    /// The conversation.
    pub conversation_id: String,
    /// `queued`.
    pub status: String,
    /// `template` when the channel's reply window is closed and the message goes out as the
    /// channel's stand-in template (WhatsApp: the mapped approved template); absent for
    /// free-form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// With `"via": "template"`: the provider template's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_template: Option<String>,
}

/// Queues a message for a conversation.
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", request_body = SendMessage,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Retry safely: the same key returns the first answer")),
    responses((status = 202, body = Accepted), (status = 400, body = crate::web::problem::Problem),
        (status = 404, body = crate::web::problem::Problem),
        (status = 422, description = "invalid body, template error, or `reply_window_closed`: the channel's reply window is closed and no approved template stands in", body = crate::web::problem::Problem)),
    security(("api_key" = ["messages"])))]
pub async fn send(
    caller: ApiCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let key = idempotency_key(&headers)?;
    let fingerprint = hex::encode(Sha256::digest([id.as_bytes(), b"\0", &body].concat()));
    if let Some(key) = &key
        && let Some(stored) = state
            .store
            .idempotent_response(&caller.key_name, key)
            .await?
    {
        return replay(stored, &fingerprint);
    }
    let request: SendMessage = parse_body(&body)?;
    let outbound_id = match &key {
        Some(key) => derived_id(&caller.key_name, key),
        None => Outbox::new_id(),
    };
    let accepted = json!(queue(&state, state.renderer.as_ref(), &id, &request, outbound_id).await?);
    let response = IdempotentResponse {
        fingerprint: fingerprint.clone(),
        status: 202,
        body: accepted,
    };
    let response = match &key {
        Some(key) => {
            state
                .store
                .save_idempotent_response(&caller.key_name, key, &response)
                .await?
        }
        None => response,
    };
    replay(response, &fingerprint)
}

/// Renders `request` (templates through `renderer`) for the conversation `id`'s channel and
/// queues it in the outbox as `outbound_id`.
pub(crate) async fn queue(
    state: &AppState,
    renderer: &dyn crate::render::Renderer,
    id: &str,
    request: &SendMessage,
    outbound_id: OutboundId,
) -> Result<Accepted, ApiError> {
    let conversation = find(state, id).await?;
    let handle = state
        .channels
        .get(&conversation.channel_id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "channel_not_configured",
                "the conversation's channel is not configured on this bridge",
            )
        })?;
    let locale = request
        .locale
        .clone()
        .unwrap_or_else(|| renderer.default_locale().to_owned());
    let text = message_text(renderer, handle.kind.as_str(), &locale, request)?;
    let buttons = buttons(&request.buttons)?;
    let mut message =
        OutboundMessage::text(outbound_id.clone(), conversation.conversation.clone(), text)
            .with_buttons(buttons);
    message.reply_to = request.reply_to.clone().map(ProviderMessageId::new);
    message.attachments =
        attachments(state, handle.channel.capabilities(), &request.attachments).await?;
    message.template.clone_from(&request.template);
    if let Some(template) = &request.template {
        let data = request.data.clone().unwrap_or(serde_json::Value::Null);
        crate::render::apply_variants(
            renderer,
            handle.channel.capabilities(),
            handle.kind.as_str(),
            &locale,
            template,
            &data,
            &mut message,
        )
        .map_err(|reason| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "template_error", reason)
        })?;
    }
    message.locale = Some(locale);
    if message.template.is_some() {
        message.template_data.clone_from(&request.data);
    }
    let provider_template = match window::check(
        handle.channel.as_ref(),
        conversation.last_inbound_at,
        &message,
        chrono::Utc::now(),
    ) {
        Window::Open => None,
        Window::Template(name) => Some(name),
        Window::Closed(reason) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Window::CODE,
                reason,
            ));
        }
    };
    state.outbox.enqueue(&conversation.id, &message).await?;
    Ok(Accepted {
        outbound_id: outbound_id.to_string(),
        conversation_id: conversation.id.to_string(),
        status: "queued".into(),
        via: provider_template.as_ref().map(|_| "template".to_owned()),
        provider_template,
    })
}

/// Where an outbound message is.
#[utoipa::path(get, path = "/v1/outbound/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "state, attempts, last error and `delivery` (the highest delivery status reached)"), (status = 404, body = crate::web::problem::Problem)),
    security(("api_key" = ["messages"])))]
pub async fn outbound_status(
    _caller: ApiCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let record = state
        .store
        .outbound(&OutboundId::new(id.clone()))
        .await?
        .ok_or_else(|| {
            ApiError::not_found("unknown_outbound", format!("no outbound message {id:?}"))
        })?;
    let state_name = match record.state {
        OutboxState::Pending => "pending",
        OutboxState::Sent => "sent",
        OutboxState::Dead => "dead",
    };
    Ok(Json(json!({
        "outbound_id": record.id,
        "conversation_id": record.conversation_id,
        "state": state_name,
        "attempts": record.attempts,
        "last_error": record.last_error,
        "delivery": state.store.delivery_status(&record.id).await?,
        "created_at": record.created_at,
    })))
}

fn replay(stored: IdempotentResponse, fingerprint: &str) -> Result<Response, ApiError> {
    if stored.fingerprint != fingerprint {
        return Err(crate::store::StoreError::IdempotencyConflict.into());
    }
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::ACCEPTED);
    Ok((status, Json(stored.body)).into_response())
}

/// Same caller + same key → same outbound id, so even concurrent retries enqueue once.
pub(crate) fn derived_id(scope: &str, key: &str) -> OutboundId {
    let digest = Sha256::digest(format!("{scope}\0{key}"));
    OutboundId::new(format!("ob_k{}", hex::encode(&digest[..13])))
}

/// Checks the requested attachments against the channel and the media store.
async fn attachments(
    state: &AppState,
    capabilities: &omnibridge_sdk::Capabilities,
    specs: &[AttachmentSpec],
) -> Result<Vec<omnibridge_sdk::OutboundAttachment>, ApiError> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let Some(limits) = &capabilities.attachments else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "attachments_not_supported",
            "this conversation's channel cannot send attachments",
        ));
    };
    let mut out = Vec::with_capacity(specs.len());
    let mut total = 0u64;
    for spec in specs {
        let found = state
            .media
            .get(&spec.media_id)
            .await
            .map_err(ApiError::unavailable)?;
        let Some((media, _)) = found else {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_media",
                format!("no stored media {:?}", spec.media_id),
            ));
        };
        total += media.size_bytes;
        if total > limits.max_bytes {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "attachments_too_large",
                format!("attachments over {} bytes in all", limits.max_bytes),
            ));
        }
        let mut attachment = omnibridge_sdk::OutboundAttachment::new(media.id.clone());
        attachment.filename = Some(spec.filename.clone().unwrap_or_else(|| media.id.clone()));
        attachment.mime_type = Some(media.mime_type.clone());
        out.push(attachment);
    }
    Ok(out)
}
