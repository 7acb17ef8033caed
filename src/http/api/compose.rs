//! The text and buttons of a message to send: rendered from a template or given as text,
//! and checked (length, button count, labels, payload or URL).

use axum::http::StatusCode;
use omnibridge_sdk::Button;
use serde_json::json;

use super::messages::{ButtonSpec, SendMessage};
use crate::render::Renderer;
use crate::web::problem::ApiError;

const MAX_TEXT_CHARS: usize = 65_536;
const MAX_BUTTONS: usize = 10;

pub(super) fn message_text(
    renderer: &dyn Renderer,
    channel: &str,
    locale: &str,
    request: &SendMessage,
) -> Result<String, ApiError> {
    let invalid = |detail: &str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            detail.to_owned(),
        )
    };
    let text = match (&request.text, &request.template) {
        (Some(text), None) => text.clone(),
        (None, Some(name)) => {
            let data = request.data.clone().unwrap_or_else(|| json!({}));
            renderer
                .render(channel, locale, name, &data)
                .map_err(|reason| {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "template_error", reason)
                })?
        }
        _ => return Err(invalid("give exactly one of `text` and `template`")),
    };
    if text.trim().is_empty() {
        return Err(invalid("the message text is empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(invalid("the message text is longer than 65,536 characters"));
    }
    Ok(text)
}

pub(super) fn buttons(specs: &[ButtonSpec]) -> Result<Vec<Button>, ApiError> {
    let invalid =
        |detail: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_button", detail);
    if specs.len() > MAX_BUTTONS {
        return Err(invalid(format!("at most {MAX_BUTTONS} buttons")));
    }
    specs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let label_len = spec.label.chars().count();
            if label_len == 0 || label_len > 100 {
                return Err(invalid(format!("buttons[{index}].label must be 1–100 characters")));
            }
            match (&spec.payload, &spec.url) {
                (Some(payload), None) if !payload.is_empty() && payload.len() <= 256 => {
                    Ok(Button::payload(spec.label.clone(), payload.clone()))
                }
                (None, Some(url)) if url.starts_with("https://") || url.starts_with("http://") => {
                    Ok(Button::url(spec.label.clone(), url.clone()))
                }
                _ => Err(invalid(format!(
                    "buttons[{index}] needs exactly one of `payload` (1–256 bytes) and `url` (http or https)"
                ))),
            }
        })
        .collect()
}
