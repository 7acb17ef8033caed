//! `/v1/templates`: the template studio's API. Support leads list templates, read one with
//! its parts and versions, save a version (refused with the lint problems when it has
//! errors), publish it, roll back to an earlier one, and preview or test-send it. The files
//! under `templates/` stay the reviewed defaults; a published version wins over its file on
//! every instance sharing the store within about a second.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::channels::profile::ChannelProfile;
use crate::http::{ApiCaller, AppState};
use crate::render::TemplateRenderer;
use crate::templates::TemplateFile;
use crate::templates::lint::{Draft, Problem, Severity};
use crate::templates::versions::{
    Parts, Publication, TemplateKey, TemplateStore, TemplateVersion, valid_part,
};
use crate::web::extract::{parse_body, require_json};
use crate::web::problem::ApiError;

/// What the template routes need.
#[derive(Clone)]
pub struct TemplatesState {
    /// Stored versions and publications.
    pub store: Arc<dyn TemplateStore>,
    /// The live renderer (refreshed at once after a publication here).
    pub renderer: Arc<TemplateRenderer>,
    /// `templates.dir`: the files over the embedded defaults.
    pub dir: PathBuf,
}

/// Longest part source accepted, in bytes.
const MAX_PART_BYTES: usize = 64 * 1024;
/// Most parts in one version.
const MAX_PARTS: usize = 8;

/// One template in the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateSummary {
    /// A channel kind or `default`.
    pub channel: String,
    /// Locale directory.
    pub locale: String,
    /// Template name.
    pub name: String,
    /// `file` (the shipped or configured file is live) or `store` (a published version is).
    pub source: String,
    /// The live stored version, if any.
    pub published_version: Option<u32>,
    /// The newest stored version, if any.
    pub latest_version: Option<u32>,
    /// When the live version was published.
    pub updated_at: Option<String>,
    /// Who published it (the API key's name).
    pub updated_by: Option<String>,
}

/// `GET /v1/templates`: every template, from the files and the store.
#[utoipa::path(get, path = "/v1/templates",
    responses((status = 200, description = "`{\"data\": [TemplateSummary]}`")),
    security(("api_key" = ["templates"])))]
pub async fn list(
    _caller: ApiCaller,
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let templates = &state.templates;
    let mut rows: BTreeMap<TemplateKey, TemplateSummary> = BTreeMap::new();
    for file in files(templates)? {
        if let Some(key) = key_of_file(&file) {
            rows.entry(key.clone()).or_insert_with(|| summary(&key));
        }
    }
    for (key, publication, latest) in templates.store.stored_templates().await? {
        let row = rows.entry(key.clone()).or_insert_with(|| summary(&key));
        row.latest_version = Some(latest);
        if let Some(publication) = publication {
            row.source = "store".into();
            row.published_version = Some(publication.version);
            row.updated_at = Some(publication.published_at.to_rfc3339());
            row.updated_by = Some(publication.published_by);
        }
    }
    Ok(Json(
        json!({ "data": rows.into_values().collect::<Vec<_>>() }),
    ))
}

fn summary(key: &TemplateKey) -> TemplateSummary {
    TemplateSummary {
        channel: key.channel.clone(),
        locale: key.locale.clone(),
        name: key.name.clone(),
        source: "file".into(),
        published_version: None,
        latest_version: None,
        updated_at: None,
        updated_by: None,
    }
}

/// The template files (embedded defaults overridden by `templates.dir`).
fn files(templates: &TemplatesState) -> Result<Vec<TemplateFile>, ApiError> {
    crate::templates::source::merged(&templates.dir).map_err(ApiError::internal)
}

/// The key and part of a file at `<channel>/<locale>/<name>[.<part>].hbs`; `None` for
/// partials and anything else.
fn key_and_part(file: &TemplateFile) -> Option<(TemplateKey, String)> {
    let mut segments = file.relative.iter().filter_map(|s| s.to_str());
    let (channel, locale, file_name) = (segments.next()?, segments.next()?, segments.next()?);
    if segments.next().is_some() || channel == "partials" {
        return None;
    }
    let stem = file_name.strip_suffix(".hbs")?;
    let (name, part) = match stem.split_once('.') {
        Some((name, part)) => (name, part.to_owned()),
        None => (stem, String::new()),
    };
    let key = TemplateKey::parse(channel, locale, name).ok()?;
    Some((key, part))
}

fn key_of_file(file: &TemplateFile) -> Option<TemplateKey> {
    key_and_part(file).map(|(key, _)| key)
}

/// The parts of `key` as the files have them.
fn file_parts(templates: &TemplatesState, key: &TemplateKey) -> Result<Parts, ApiError> {
    Ok(files(templates)?
        .into_iter()
        .filter_map(|file| {
            let (file_key, part) = key_and_part(&file)?;
            (file_key == *key).then_some((part, file.source))
        })
        .collect())
}

/// The template a request's path names and its JSON body.
fn keyed_body<T: serde::de::DeserializeOwned>(
    path: &(String, String, String),
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(TemplateKey, T), ApiError> {
    require_json(headers)?;
    Ok((key_from(path)?, parse_body(body)?))
}

fn key_from(path: &(String, String, String)) -> Result<TemplateKey, ApiError> {
    TemplateKey::parse(&path.0, &path.1, &path.2)
        .map_err(|detail| ApiError::bad_request("invalid_template_key", detail))
}

/// `GET /v1/templates/{channel}/{locale}/{name}`: its live parts, the file's parts, the
/// published version and the newest unpublished one (the draft).
#[utoipa::path(get, path = "/v1/templates/{channel}/{locale}/{name}",
    params(("channel" = String, Path), ("locale" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "the template"), (status = 404, body = crate::web::problem::Problem)),
    security(("api_key" = ["templates"])))]
pub async fn get_one(
    _caller: ApiCaller,
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = key_from(&path)?;
    let templates = &state.templates;
    let file = file_parts(templates, &key)?;
    let versions = templates.store.template_versions(&key).await?;
    if file.is_empty() && versions.is_empty() {
        return Err(unknown(&key));
    }
    let publication = publication_of(templates, &key).await?;
    let published = publication
        .as_ref()
        .and_then(|p| versions.iter().find(|v| v.version == p.version));
    let draft = versions.last().filter(|latest| {
        publication
            .as_ref()
            .is_none_or(|p| latest.version > p.version)
    });
    let parts = published.map_or_else(|| file.clone(), |version| version.parts.clone());
    Ok(Json(json!({
        "channel": key.channel,
        "locale": key.locale,
        "name": key.name,
        "source": if published.is_some() { "store" } else { "file" },
        "parts": parts,
        "file_parts": file,
        "published": publication,
        "draft": draft,
    })))
}

async fn publication_of(
    templates: &TemplatesState,
    key: &TemplateKey,
) -> Result<Option<Publication>, ApiError> {
    Ok(templates
        .store
        .stored_templates()
        .await?
        .into_iter()
        .find(|(k, _, _)| k == key)
        .and_then(|(_, publication, _)| publication))
}

fn unknown(key: &TemplateKey) -> ApiError {
    ApiError::not_found(
        "unknown_template",
        format!("no template {} in the files or the store", key.path()),
    )
}

/// A new version.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// Part name (`""` for the main text, or `subject`, `txt`, `html`) → handlebars source.
    #[schema(value_type = Object)]
    pub parts: Parts,
    /// What changed.
    pub message: String,
}

/// `POST /v1/templates/{channel}/{locale}/{name}/versions`: saves a version. 422 with the
/// problems when it has errors, and nothing is stored.
#[utoipa::path(post, path = "/v1/templates/{channel}/{locale}/{name}/versions", request_body = NewVersion,
    params(("channel" = String, Path), ("locale" = String, Path), ("name" = String, Path)),
    responses((status = 201, description = "the stored version"),
        (status = 422, description = "`lint_failed` with `problems`, or an invalid body", body = crate::web::problem::Problem)),
    security(("api_key" = ["templates"])))]
pub async fn create_version(
    caller: ApiCaller,
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (key, request): (_, NewVersion) = keyed_body(&path, &headers, &body)?;
    check_parts(&request.parts)?;
    let problems = lint(&state, &key, &request.parts);
    if has_errors(&problems) {
        return Ok(lint_failed(&problems));
    }
    let version = state
        .templates
        .store
        .add_template_version(
            &key,
            &request.parts,
            &caller.key_name,
            request.message.trim(),
        )
        .await?;
    tracing::info!(template = %key.path(), version = version.version, by = %caller.key_name, "Template version saved.");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "version": version, "problems": problems })),
    )
        .into_response())
}

fn check_parts(parts: &Parts) -> Result<(), ApiError> {
    let invalid =
        |detail: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", detail);
    if parts.is_empty() || parts.len() > MAX_PARTS {
        return Err(invalid(format!("give 1 to {MAX_PARTS} parts")));
    }
    for (part, source) in parts {
        if !valid_part(part) {
            return Err(invalid(format!(
                "part {part:?}: use \"\" or 1-32 characters of a-z, 0-9 and _"
            )));
        }
        if source.len() > MAX_PART_BYTES {
            return Err(invalid(format!(
                "part {part:?} is over {MAX_PART_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

/// The channels previews and lint consider: every configured channel (with its own
/// settings: WhatsApp mappings, Telegram parse mode), plus each built-in kind not configured
/// here, with its defaults.
fn profiles(state: &AppState) -> Vec<ChannelProfile> {
    let mut profiles: Vec<ChannelProfile> = Vec::new();
    for handle in state.channels.iter() {
        let profile = ChannelProfile::of(handle);
        if !profiles.iter().any(|p| p.kind == profile.kind) {
            profiles.push(profile);
        }
    }
    for profile in ChannelProfile::builtin() {
        if !profiles.iter().any(|p| p.kind == profile.kind) {
            profiles.push(profile);
        }
    }
    profiles
}

/// The draft of `key` with `parts` (parts left out are the saved files).
fn draft(key: &TemplateKey, parts: &Parts) -> Draft {
    let mut draft = Draft::new(&key.channel, &key.locale, &key.name);
    for (part, text) in parts {
        draft = draft.with_part(part, text.clone());
    }
    draft
}

/// The problems of `parts` of `key` on every channel that would use it.
fn lint(state: &AppState, key: &TemplateKey, parts: &Parts) -> Vec<Problem> {
    let engine = state.templates.renderer.engine();
    crate::templates::lint::lint(&engine, &profiles(state), &draft(key, parts), None, None)
}

fn has_errors(problems: &[Problem]) -> bool {
    problems.iter().any(|p| p.severity == Severity::Error)
}

/// 422 `lint_failed` with the problems (an RFC 9457 extension member).
fn lint_failed(problems: &[Problem]) -> Response {
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let body = json!({
        "type": "https://omnibridge.dev/problems/lint_failed",
        "title": "Unprocessable Entity",
        "status": 422,
        "code": "lint_failed",
        "detail": format!("the template has {errors} error(s); nothing was stored"),
        "problems": problems,
    });
    let mut response = (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// One version in the history, with its changes against the previous one.
#[derive(Debug, Serialize)]
struct HistoryEntry {
    #[serde(flatten)]
    version: TemplateVersion,
    /// Whether it is the live one.
    published: bool,
    /// Per part, a unified diff against the previous version (the file for version 1).
    diff: BTreeMap<String, String>,
}

/// `GET /v1/templates/{channel}/{locale}/{name}/versions`: the history, newest first, each
/// with a diff to the one before it.
#[utoipa::path(get, path = "/v1/templates/{channel}/{locale}/{name}/versions",
    params(("channel" = String, Path), ("locale" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "`{\"data\": [version with `published` and `diff`]}`")),
    security(("api_key" = ["templates"])))]
pub async fn versions(
    _caller: ApiCaller,
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = key_from(&path)?;
    let templates = &state.templates;
    let versions = templates.store.template_versions(&key).await?;
    let live = publication_of(templates, &key).await?.map(|p| p.version);
    let mut previous = file_parts(templates, &key)?;
    let mut history = Vec::with_capacity(versions.len());
    for version in versions {
        let diff = diff_parts(&previous, &version.parts);
        previous = version.parts.clone();
        history.push(HistoryEntry {
            published: live == Some(version.version),
            version,
            diff,
        });
    }
    history.reverse();
    Ok(Json(json!({ "data": history })))
}

/// A unified diff per part that changed between `before` and `after`.
fn diff_parts(before: &Parts, after: &Parts) -> BTreeMap<String, String> {
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter_map(|part| {
            let old = before.get(part).map_or("", String::as_str);
            let new = after.get(part).map_or("", String::as_str);
            (old != new).then(|| {
                let diff = similar::TextDiff::from_lines(old, new)
                    .unified_diff()
                    .context_radius(2)
                    .header("before", "after")
                    .to_string();
                (part.clone(), diff)
            })
        })
        .collect()
}

/// Which version to publish or roll back to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionChoice {
    /// The version number (`0` with `rollback`: back to the file).
    pub version: u32,
}

/// `POST /v1/templates/{channel}/{locale}/{name}/publish`: makes a version live.
#[utoipa::path(post, path = "/v1/templates/{channel}/{locale}/{name}/publish", request_body = VersionChoice,
    params(("channel" = String, Path), ("locale" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "the publication"), (status = 404, body = crate::web::problem::Problem),
        (status = 422, description = "`lint_failed`: the version no longer passes lint", body = crate::web::problem::Problem)),
    security(("api_key" = ["templates"])))]
pub async fn publish(
    caller: ApiCaller,
    state: State<AppState>,
    path: Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    make_live(caller, state, path, headers, body, "publish").await
}

/// `POST /v1/templates/{channel}/{locale}/{name}/rollback`: makes an earlier version live
/// again (the same as publishing it; recorded as a rollback in the log), or, with version
/// `0`, the file (every version stays stored).
#[utoipa::path(post, path = "/v1/templates/{channel}/{locale}/{name}/rollback", request_body = VersionChoice,
    params(("channel" = String, Path), ("locale" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "the publication"), (status = 404, body = crate::web::problem::Problem)),
    security(("api_key" = ["templates"])))]
pub async fn rollback(
    caller: ApiCaller,
    state: State<AppState>,
    path: Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    make_live(caller, state, path, headers, body, "rollback").await
}

async fn make_live(
    caller: ApiCaller,
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
    action: &'static str,
) -> Result<Response, ApiError> {
    let (key, choice): (_, VersionChoice) = keyed_body(&path, &headers, &body)?;
    let templates = &state.templates;
    if choice.version == 0 && action == "rollback" {
        if !templates
            .store
            .unpublish_template(&key, &caller.key_name)
            .await?
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "nothing_published",
                format!("no version of {} is live: the file already is", key.path()),
            ));
        }
        tracing::info!(template = %key.path(), by = %caller.key_name, "Template rolled back to its file.");
        templates
            .renderer
            .refresh(&templates.dir, templates.store.as_ref())
            .await?;
        return Ok((
            StatusCode::OK,
            Json(json!({ "published": null, "action": action, "source": "file" })),
        )
            .into_response());
    }
    let Some(version) = templates
        .store
        .template_version(&key, choice.version)
        .await?
    else {
        return Err(ApiError::not_found(
            "unknown_version",
            format!("{} has no version {}", key.path(), choice.version),
        ));
    };
    let problems = lint(&state, &key, &version.parts);
    if has_errors(&problems) {
        return Ok(lint_failed(&problems));
    }
    let publication = templates
        .store
        .publish_template(&key, choice.version, &caller.key_name)
        .await?
        .ok_or_else(|| unknown(&key))?;
    tracing::info!(template = %key.path(), version = choice.version, by = %caller.key_name, action, "Template version is live.");
    // This instance renders it at once; the others within their refresh interval.
    templates
        .renderer
        .refresh(&templates.dir, templates.store.as_ref())
        .await?;
    Ok((
        StatusCode::OK,
        Json(json!({ "published": publication, "action": action })),
    )
        .into_response())
}

/// A test send.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSend {
    /// The conversation to send to (the lead's own test conversation).
    pub conversation_id: String,
    /// Variables (default: none).
    #[schema(value_type = Object)]
    pub data: Option<serde_json::Value>,
    /// The stored version to send (default: what is live).
    pub version: Option<u32>,
}

/// `POST /v1/templates/{channel}/{locale}/{name}/test-send`: renders the template (a given
/// stored version, or what is live) for the conversation's channel and sends it through the
/// outbox like any message.
#[utoipa::path(post, path = "/v1/templates/{channel}/{locale}/{name}/test-send", request_body = TestSend,
    params(("channel" = String, Path), ("locale" = String, Path), ("name" = String, Path)),
    responses((status = 202, body = super::messages::Accepted), (status = 404, body = crate::web::problem::Problem),
        (status = 422, description = "`template_error`, `reply_window_closed` or an invalid body", body = crate::web::problem::Problem)),
    security(("api_key" = ["templates"])))]
pub async fn test_send(
    caller: ApiCaller,
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (key, request): (_, TestSend) = keyed_body(&path, &headers, &body)?;
    let templates = &state.templates;
    let renderer = match request.version {
        None => None,
        Some(number) => {
            let version = templates
                .store
                .template_version(&key, number)
                .await?
                .ok_or_else(|| {
                    ApiError::not_found(
                        "unknown_version",
                        format!("{} has no version {number}", key.path()),
                    )
                })?;
            let mut layered = templates.store.published_templates().await?;
            layered.retain(|published| published.key != key);
            layered.push(version);
            let engine = crate::render::load_engine(&templates.dir, &layered).map_err(|error| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "template_error",
                    error.to_string(),
                )
            })?;
            Some(TemplateRenderer::new(
                engine,
                state.renderer.default_locale().to_owned(),
            ))
        }
    };
    let message = super::messages::SendMessage::template(
        key.name.clone(),
        key.locale.clone(),
        request.data.clone(),
    );
    let renderer: &dyn crate::render::Renderer = match &renderer {
        Some(renderer) => renderer,
        None => state.renderer.as_ref(),
    };
    let accepted = super::messages::queue(
        &state,
        renderer,
        &request.conversation_id,
        &message,
        crate::outbox::Outbox::new_id(),
    )
    .await?;
    tracing::info!(template = %key.path(), by = %caller.key_name, "Template test send queued.");
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

/// What to preview.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// Unsaved parts (part → source); parts left out are the live ones.
    #[schema(value_type = Option<Object>)]
    pub parts: Option<Parts>,
    /// The data (default: the examples the template declares).
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// The message's buttons (default: those the bridge adds, e.g. Pay and Cancel for
    /// `payment_request`).
    pub buttons: Option<Vec<super::messages::ButtonSpec>>,
}

/// `POST /v1/templates/{channel}/{locale}/{name}/preview`: what the customer would see on
/// each channel that uses the template (messages after splitting, buttons as that channel
/// shows them, the email's subject, text and HTML, WhatsApp's approved-template fallback
/// outside the window), with the lint problems. Unsaved text is welcome: nothing is stored.
#[utoipa::path(post, path = "/v1/templates/{channel}/{locale}/{name}/preview", request_body = PreviewBody,
    params(("channel" = String, Path), ("locale" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "`{\"previews\": [...], \"problems\": [...], \"sample_data\": {...}}`")),
    security(("api_key" = ["templates"])))]
pub async fn preview(
    _caller: ApiCaller,
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = key_from(&path)?;
    let request: PreviewBody = if body.is_empty() {
        PreviewBody::default()
    } else {
        require_json(&headers)?;
        parse_body(&body)?
    };
    let parts = request.parts.unwrap_or_default();
    let buttons = request
        .buttons
        .as_deref()
        .map(super::compose::buttons)
        .transpose()?;
    check_parts_if_any(&parts)?;
    let engine = state.templates.renderer.engine();
    let sample_data = engine.sample_data(&key.channel, &key.locale, &key.name);
    let preview = crate::templates::preview::preview(
        &engine,
        &profiles(&state),
        &crate::templates::preview::PreviewRequest {
            draft: draft(&key, &parts),
            channels: None,
            data: request.data,
            buttons,
        },
    );
    let previews: Vec<serde_json::Value> = preview
        .channels
        .iter()
        .map(|channel| {
            let mut shown = serde_json::to_value(channel).unwrap_or_default();
            // The studio's shape: buttons as objects, the WhatsApp fallback as text.
            if let Some(messages) = shown.get_mut("messages").and_then(|m| m.as_array_mut()) {
                for message in messages {
                    let labels = message["buttons"].as_array().cloned().unwrap_or_default();
                    message["buttons"] = labels
                        .into_iter()
                        .map(|label| json!({ "label": label }))
                        .collect();
                }
            }
            shown["whatsapp_outside_window"] = match &channel.outside_window {
                Some(outside) => json!(outside_window_text(outside)),
                None => serde_json::Value::Null,
            };
            shown
        })
        .collect();
    Ok(Json(json!({
        "channel": key.channel,
        "locale": key.locale,
        "name": key.name,
        "previews": previews,
        "problems": preview.problems,
        "sample_data": sample_data,
    })))
}

/// The approved-template fallback in words.
fn outside_window_text(outside: &crate::templates::preview::OutsideWindow) -> String {
    match (&outside.template, &outside.note) {
        (Some(template), _) => {
            let parameters: Vec<String> = template
                .parameters
                .iter()
                .map(|p| format!("{}: {:?}", p.component, p.value))
                .collect();
            format!(
                "Outside the 24-hour window this goes out as the approved template {:?} ({}) with {}",
                template.template_name,
                template.language,
                if parameters.is_empty() {
                    "no parameters".to_owned()
                } else {
                    parameters.join(", ")
                }
            )
        }
        (None, Some(note)) => note.clone(),
        (None, None) => String::new(),
    }
}

fn check_parts_if_any(parts: &Parts) -> Result<(), ApiError> {
    if parts.is_empty() {
        Ok(())
    } else {
        check_parts(parts)
    }
}
