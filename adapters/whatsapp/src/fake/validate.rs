//! What the fake Graph API checks in a `/messages` body, with the limits Meta documents.
//! Each refusal is `(code, details)`, answered as Meta's `(#100)`-style error JSON.

use std::collections::HashSet;

use serde_json::Value;

/// A refusal: Graph error code and details.
pub(crate) type Refusal = (i64, String);

fn fail<T>(code: i64, details: impl Into<String>) -> Result<T, Refusal> {
    Err((code, details.into()))
}

fn text<'a>(value: &'a Value, what: &str, max: usize) -> Result<&'a str, Refusal> {
    match value.as_str() {
        Some(s) if !s.is_empty() && s.chars().count() <= max => Ok(s),
        Some(s) if !s.is_empty() => fail(100, format!("{what} is longer than {max} characters")),
        _ => fail(131008, format!("Required parameter is missing: {what}")),
    }
}

/// Checks a send (or mark-as-read) body; `Ok(true)` for a mark-as-read.
pub(crate) fn message(body: &Value) -> Result<bool, Refusal> {
    if body["messaging_product"] != "whatsapp" {
        return fail(100, "messaging_product must be \"whatsapp\"");
    }
    if body.get("status").is_some() {
        if body["status"] != "read" {
            return fail(100, "status must be \"read\"");
        }
        text(&body["message_id"], "message_id", 512)?;
        return Ok(true);
    }
    let to = body.get("to").or_else(|| body.get("recipient"));
    text(to.unwrap_or(&Value::Null), "to", 128)?;
    if let Some(context) = body.get("context") {
        text(&context["message_id"], "context.message_id", 512)?;
    }
    let kind = text(&body["type"], "type", 32)?;
    match kind {
        "text" => {
            text(&body["text"]["body"], "text.body", 4096)?;
        }
        "interactive" => interactive(&body["interactive"])?,
        "template" => template(&body["template"])?,
        "image" | "video" | "audio" | "document" | "sticker" => {
            let media = &body[kind];
            if media.get("id").is_none() && media.get("link").is_none() {
                return fail(
                    131008,
                    format!("Required parameter is missing: {kind}.id or link"),
                );
            }
        }
        other => return fail(100, format!("unsupported message type {other:?}")),
    }
    Ok(false)
}

fn interactive(value: &Value) -> Result<(), Refusal> {
    text(&value["body"]["text"], "interactive.body.text", 1024)?;
    let action = &value["action"];
    match value["type"].as_str() {
        Some("button") => {
            let buttons = action["buttons"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if buttons.is_empty() || buttons.len() > 3 {
                return fail(131009, "action.buttons must hold 1 to 3 buttons");
            }
            let (mut ids, mut titles) = (HashSet::new(), HashSet::new());
            for button in buttons {
                if button["type"] != "reply" {
                    return fail(100, "button type must be \"reply\"");
                }
                let id = text(&button["reply"]["id"], "reply.id", 256)?;
                let title = text(&button["reply"]["title"], "reply.title", 20)?;
                if !ids.insert(id) || !titles.insert(title) {
                    return fail(131009, "button ids and titles must be unique");
                }
            }
            Ok(())
        }
        Some("list") => {
            text(&action["button"], "action.button", 20)?;
            let sections = action["sections"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if sections.is_empty() || sections.len() > 10 {
                return fail(131009, "action.sections must hold 1 to 10 sections");
            }
            let mut ids = HashSet::new();
            for section in sections {
                if sections.len() > 1 {
                    text(&section["title"], "section.title", 24)?;
                }
                for row in section["rows"].as_array().into_iter().flatten() {
                    text(&row["title"], "row.title", 24)?;
                    if !ids.insert(text(&row["id"], "row.id", 200)?) {
                        return fail(131009, "row ids must be unique");
                    }
                }
            }
            if ids.is_empty() || ids.len() > 10 {
                return fail(131009, "a list holds 1 to 10 rows in all");
            }
            Ok(())
        }
        _ => fail(100, "interactive.type must be \"button\" or \"list\" here"),
    }
}

fn template(value: &Value) -> Result<(), Refusal> {
    text(&value["name"], "template.name", 512)?;
    text(&value["language"]["code"], "template.language.code", 16)?;
    for component in value["components"].as_array().into_iter().flatten() {
        match component["type"].as_str() {
            Some("header" | "body") => {}
            Some("button") => {
                let sub = component["sub_type"].as_str().unwrap_or_default();
                if !matches!(sub, "quick_reply" | "url" | "copy_code") {
                    return fail(
                        100,
                        "button component needs sub_type quick_reply, url or copy_code",
                    );
                }
                if component["index"]
                    .as_str()
                    .and_then(|i| i.parse::<u8>().ok())
                    .is_none()
                {
                    return fail(100, "button component needs a numeric string index");
                }
            }
            _ => return fail(100, "component type must be header, body or button"),
        }
        for parameter in component["parameters"].as_array().into_iter().flatten() {
            match parameter["type"].as_str() {
                Some("text") => drop(text(&parameter["text"], "parameter.text", 32_768)?),
                Some("payload") => drop(text(&parameter["payload"], "parameter.payload", 256)?),
                Some("currency" | "date_time" | "image" | "document" | "video") => {}
                _ => return fail(100, "parameter type must be text, payload or media"),
            }
        }
    }
    Ok(())
}

/// The number of text parameters in the template's body component.
pub(crate) fn body_param_count(template: &Value) -> usize {
    template["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "body")
        .map(|c| c["parameters"].as_array().map_or(0, Vec::len))
        .sum()
}
