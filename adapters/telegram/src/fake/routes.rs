//! The fake's routes: `POST|GET /bot<token>/<method>` and `GET /file/bot<token>/<path>`.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};

use super::{Call, Failure, Fake, Webhook, lock, validate};

pub(crate) fn router(fake: Fake) -> Router {
    Router::new()
        .route("/{bot}/{method}", any(method))
        .route("/file/{bot}/{*path}", get(download))
        .with_state(fake)
}

type Answer = Result<Value, (u16, String, Option<Value>)>;

fn bad(description: impl Into<String>) -> (u16, String, Option<Value>) {
    (400, description.into(), None)
}

async fn method(
    State(fake): State<Fake>,
    Path((bot, method)): Path<(String, String)>,
    request: Request,
) -> Response {
    // Telegram's method names are case-insensitive (teloxide sends `SendMessage`).
    let method = canonical(&method);
    let token_ok = bot.strip_prefix("bot") == Some(lock(&fake).token.as_str());
    if !token_ok {
        return reply(
            &fake,
            &method,
            Value::Null,
            Err((401, "Unauthorized".into(), None)),
        );
    }
    let params = match params(request).await {
        Ok(params) => params,
        Err(error) => return reply(&fake, &method, Value::Null, Err(bad(error))),
    };
    let answer = match method.as_str() {
        "getMe" => Ok(json!({
            "id": 123456, "is_bot": true, "first_name": "Fake", "username": "fake_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false
        })),
        "setWebhook" => set_webhook(&fake, &params),
        "deleteWebhook" => {
            lock(&fake).webhook = None;
            Ok(json!(true))
        }
        "getWebhookInfo" => {
            let shared = lock(&fake);
            let hook = shared.webhook.clone().unwrap_or_default();
            Ok(json!({
                "url": hook.url, "has_custom_certificate": false, "pending_update_count": 0,
                "allowed_updates": hook.allowed_updates
            }))
        }
        "getUpdates" => get_updates(&fake, &params).await,
        "sendMessage" => send_message(&fake, &params),
        "editMessageText" => edit_message_text(&fake, &params),
        "answerCallbackQuery" => match params.get("callback_query_id") {
            Some(_) => Ok(json!(true)),
            None => Err(bad(
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )),
        },
        "getFile" => get_file(&fake, &params),
        "sendPhoto" | "sendDocument" | "sendVideo" | "sendAudio" => {
            send_file(&fake, &method, &params)
        }
        _ => Err((404, "Not Found: method not found".into(), None)),
    };
    reply(&fake, &method, params, answer)
}

const METHODS: &[&str] = &[
    "getMe",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "answerCallbackQuery",
    "getFile",
    "sendPhoto",
    "sendDocument",
    "sendVideo",
    "sendAudio",
];

fn canonical(method: &str) -> String {
    METHODS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(method))
        .map_or_else(|| method.to_owned(), |known| (*known).to_owned())
}

/// Records the call and answers Telegram's JSON.
fn reply(fake: &Fake, method: &str, params: Value, answer: Answer) -> Response {
    let (status, body) = match answer {
        Ok(result) => (200, json!({"ok": true, "result": result})),
        Err((code, description, parameters)) => {
            let mut body = json!({"ok": false, "error_code": code, "description": description});
            if let Some(parameters) = parameters {
                body["parameters"] = parameters;
            }
            (code, body)
        }
    };
    lock(fake).calls.push(Call {
        method: method.to_owned(),
        params,
        status,
        at: Instant::now(),
    });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The call's parameters from a JSON body, a form, a multipart body or the query.
async fn params(request: Request) -> Result<Value, String> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let mut object = serde_json::Map::new();
    for (key, value) in url_pairs(&query) {
        object.insert(key, field(&value));
    }
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| format!("Bad Request: {e}"))?;
        while let Some(part) = multipart
            .next_field()
            .await
            .map_err(|e| format!("Bad Request: {e}"))?
        {
            let name = part.name().unwrap_or_default().to_owned();
            if let Some(file_name) = part.file_name().map(str::to_owned) {
                let bytes = part
                    .bytes()
                    .await
                    .map_err(|e| format!("Bad Request: {e}"))?;
                object.insert(name, json!({"file_name": file_name, "size": bytes.len()}));
                continue;
            }
            let text = part.text().await.map_err(|e| format!("Bad Request: {e}"))?;
            object.insert(name, field(&text));
        }
    } else {
        let body = Bytes::from_request(request, &())
            .await
            .map_err(|e| format!("Bad Request: {e}"))?;
        if content_type.starts_with("application/json") && !body.is_empty() {
            let value: Value = serde_json::from_slice(&body)
                .map_err(|_| "Bad Request: invalid JSON".to_owned())?;
            if let Value::Object(map) = value {
                object.extend(map);
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            for (key, value) in url_pairs(&String::from_utf8_lossy(&body)) {
                object.insert(key, field(&value));
            }
        }
    }
    // Uploads referenced as `attach://<part>` (teloxide's way) are resolved to their part.
    let attached: Vec<(String, Value)> = object
        .iter()
        .filter_map(|(key, value)| {
            let part = value.as_str()?.strip_prefix("attach://")?;
            Some((key.clone(), object.get(part)?.clone()))
        })
        .collect();
    for (key, upload) in attached {
        object.insert(key, upload);
    }
    Ok(Value::Object(object))
}

fn url_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A form field: JSON when it is a JSON array or object (Telegram reads them so), else text.
fn field(text: &str) -> Value {
    match text.trim_start().chars().next() {
        Some('[' | '{') => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into()))
        }
        _ => Value::String(text.into()),
    }
}

fn string(params: &Value, key: &str) -> Option<String> {
    match params.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn set_webhook(fake: &Fake, params: &Value) -> Answer {
    let url = string(params, "url").ok_or_else(|| bad("Bad Request: bad webhook: URL is empty"))?;
    let secret_token = string(params, "secret_token");
    if let Some(secret) = &secret_token
        && (secret.is_empty()
            || secret.len() > 256
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        return Err(bad(
            "Bad Request: secret token contains unallowed characters",
        ));
    }
    let allowed_updates = params
        .get("allowed_updates")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut shared = lock(fake);
    shared.webhook = (!url.is_empty()).then_some(Webhook {
        url,
        secret_token,
        allowed_updates,
    });
    Ok(json!(true))
}

async fn get_updates(fake: &Fake, params: &Value) -> Answer {
    if lock(fake).webhook.is_some() {
        return Err((
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first".into(),
            None,
        ));
    }
    let offset = string(params, "offset")
        .and_then(|o| o.parse::<i64>().ok())
        .unwrap_or(0);
    let timeout = string(params, "timeout")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(0);
    let limit = string(params, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let me = {
        let mut shared = lock(fake);
        shared.polls += 1;
        shared.polls
    };
    // An older long poll still waiting is terminated by this one.
    fake.arrived.notify_waiters();
    loop {
        let notified = fake.arrived.notified();
        {
            let mut shared = lock(fake);
            if shared.polls != me {
                return Err((
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running".into(),
                    None,
                ));
            }
            // Like Telegram: an offset confirms (and forgets) every update before it.
            shared
                .updates
                .retain(|u| u["update_id"].as_i64().unwrap_or_default() >= offset);
            if !shared.updates.is_empty() {
                let batch: Vec<Value> = shared.updates.iter().take(limit).cloned().collect();
                return Ok(Value::Array(batch));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Ok(json!([]));
        }
    }
}

fn message(fake: &Fake, chat_id: &str, text: &str, params: &Value) -> Value {
    let mut shared = lock(fake);
    shared.next_message += 1;
    let id = shared.next_message;
    let chat: i64 = chat_id.parse().unwrap_or_default();
    let mut msg = json!({
        "message_id": id, "date": 1_700_000_000,
        "chat": {"id": chat, "type": if chat < 0 { "group" } else { "private" }, "title": "chat", "first_name": "Customer"},
        "from": {"id": 123456, "is_bot": true, "first_name": "Fake", "username": "fake_bot"},
        "text": text
    });
    if let Some(markup) = params.get("reply_markup") {
        msg["reply_markup"] = markup.clone();
    }
    msg
}

fn send_message(fake: &Fake, params: &Value) -> Answer {
    if let Some(failure) = lock(fake).failures.pop_front() {
        return Err(match failure {
            Failure::RetryAfter(seconds) => (
                429,
                format!("Too Many Requests: retry after {seconds}"),
                Some(json!({"retry_after": seconds})),
            ),
            Failure::Blocked => (403, "Forbidden: bot was blocked by the user".into(), None),
            Failure::Other { code, description } => (code, description, None),
        });
    }
    let chat_id = string(params, "chat_id").ok_or_else(|| bad("Bad Request: chat_id is empty"))?;
    let text = string(params, "text").ok_or_else(|| bad("Bad Request: message text is empty"))?;
    validate::text(&text, string(params, "parse_mode").as_deref()).map_err(bad)?;
    if let Some(markup) = params.get("reply_markup") {
        validate::reply_markup(markup).map_err(bad)?;
    }
    Ok(message(fake, &chat_id, &text, params))
}

/// `sendPhoto` & co.: the file must be an upload (multipart) or a file id / URL string.
fn send_file(fake: &Fake, method: &str, params: &Value) -> Answer {
    if let Some(failure) = lock(fake).failures.pop_front() {
        return Err(match failure {
            Failure::RetryAfter(seconds) => (
                429,
                format!("Too Many Requests: retry after {seconds}"),
                Some(json!({"retry_after": seconds})),
            ),
            Failure::Blocked => (403, "Forbidden: bot was blocked by the user".into(), None),
            Failure::Other { code, description } => (code, description, None),
        });
    }
    let chat_id = string(params, "chat_id").ok_or_else(|| bad("Bad Request: chat_id is empty"))?;
    let field = match method {
        "sendPhoto" => "photo",
        "sendVideo" => "video",
        "sendAudio" => "audio",
        _ => "document",
    };
    match params.get(field) {
        Some(Value::Object(upload)) if upload.get("size").and_then(Value::as_u64) > Some(0) => {}
        Some(Value::String(reference))
            if !reference.is_empty() && !reference.starts_with("attach://") => {}
        _ => {
            return Err(bad(format!(
                "Bad Request: there is no {field} in the request"
            )));
        }
    }
    Ok(message(fake, &chat_id, "", params))
}

fn edit_message_text(fake: &Fake, params: &Value) -> Answer {
    let chat_id = string(params, "chat_id").ok_or_else(|| bad("Bad Request: chat_id is empty"))?;
    let text = string(params, "text").ok_or_else(|| bad("Bad Request: text is empty"))?;
    validate::text(&text, string(params, "parse_mode").as_deref()).map_err(bad)?;
    Ok(message(fake, &chat_id, &text, params))
}

fn get_file(fake: &Fake, params: &Value) -> Answer {
    let id = string(params, "file_id").unwrap_or_default();
    let shared = lock(fake);
    let (path, bytes) = shared
        .files
        .get(&id)
        .ok_or_else(|| bad("Bad Request: invalid file_id"))?;
    Ok(
        json!({"file_id": id, "file_unique_id": format!("u{id}"), "file_size": bytes.len(), "file_path": path}),
    )
}

async fn download(State(fake): State<Fake>, Path((bot, path)): Path<(String, String)>) -> Response {
    let mut shared = lock(&fake);
    if bot.strip_prefix("bot") != Some(shared.token.as_str()) {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    let found = shared
        .files
        .values()
        .find(|(p, _)| *p == path)
        .map(|(_, b)| b.clone());
    match found {
        Some(bytes) => {
            shared.downloads += 1;
            (StatusCode::OK, bytes).into_response()
        }
        None => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_decode() {
        assert_eq!(decode("a%20b+c"), "a b c");
        assert_eq!(field("[\"message\"]"), json!(["message"]));
        assert_eq!(field("x"), json!("x"));
        let _ = Failure::Blocked;
    }
}
