//! Telegram's checks on `sendMessage`, as the fake applies them: entities in HTML and
//! MarkdownV2, the 4096-character limit after entity parsing, and `callback_data` of at
//! most 64 bytes. Each failure is the `description` Telegram answers with.

use serde_json::Value;

/// HTML tags Telegram accepts.
const HTML_TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
    "tg-emoji",
];

/// Characters MarkdownV2 reserves: outside an entity they must be escaped with `\`.
const MD2_RESERVED: &str = "_*[]()~`>#+-=|{}.!";

/// Checks text in `parse_mode` (none, `HTML`, `MarkdownV2`); returns the visible length.
pub(crate) fn text(text: &str, parse_mode: Option<&str>) -> Result<usize, String> {
    let visible = match parse_mode {
        None => text.chars().count(),
        Some("HTML") => html(text)?,
        Some("MarkdownV2") => markdown_v2(text)?,
        Some(other) => return Err(format!("Bad Request: unsupported parse_mode \"{other}\"")),
    };
    if visible == 0 {
        return Err("Bad Request: message text is empty".into());
    }
    if visible > 4096 {
        return Err("Bad Request: message is too long".into());
    }
    Ok(visible)
}

fn entity_error(detail: impl std::fmt::Display) -> String {
    format!("Bad Request: can't parse entities: {detail}")
}

fn html(text: &str) -> Result<usize, String> {
    let bytes = text.as_bytes();
    let mut visible = 0;
    let mut stack: Vec<String> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                let end = text[i..].find('>').ok_or_else(|| {
                    entity_error(format!("Unclosed start tag at byte offset {i}"))
                })?;
                let inner = &text[i + 1..i + end];
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim();
                    if stack.pop().as_deref() != Some(name) {
                        return Err(entity_error(format!(
                            "Unmatched end tag at byte offset {i}, expected \"</{name}>\""
                        )));
                    }
                } else {
                    let name = inner.split_whitespace().next().unwrap_or_default();
                    if !HTML_TAGS.contains(&name) {
                        return Err(entity_error(format!(
                            "Unsupported start tag \"{name}\" at byte offset {i}"
                        )));
                    }
                    stack.push(name.to_owned());
                }
                i += end + 1;
            }
            b'&' => {
                let end = text[i..].find(';').filter(|&e| e <= 10).ok_or_else(|| {
                    entity_error(format!("Can't find end of the entity at byte offset {i}"))
                })?;
                let name = &text[i + 1..i + end];
                let known = matches!(name, "lt" | "gt" | "amp" | "quot")
                    || name.strip_prefix('#').is_some_and(|n| {
                        n.parse::<u32>().is_ok()
                            || n.strip_prefix('x')
                                .is_some_and(|h| u32::from_str_radix(h, 16).is_ok())
                    });
                if !known {
                    return Err(entity_error(format!(
                        "Unsupported HTML entity \"&{name};\" at byte offset {i}"
                    )));
                }
                visible += 1;
                i += end + 1;
            }
            b'>' => {
                return Err(entity_error(format!(
                    "Unexpected \">\" at byte offset {i}; use \"&gt;\""
                )));
            }
            _ => {
                let c = text[i..].chars().next().unwrap_or_default();
                visible += 1;
                i += c.len_utf8().max(1);
            }
        }
    }
    match stack.pop() {
        Some(open) => Err(entity_error(format!(
            "Can't find end tag corresponding to start tag \"{open}\""
        ))),
        None => Ok(visible),
    }
}

fn markdown_v2(text: &str) -> Result<usize, String> {
    let mut visible = 0;
    let mut open: Vec<char> = Vec::new();
    let mut chars = text.char_indices();
    while let Some((offset, c)) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some((_, escaped)) if (escaped as u32) < 127 => visible += 1,
                _ => {
                    return Err(entity_error(format!(
                        "Character '\\' at byte offset {offset} must escape an ASCII character"
                    )));
                }
            }
            continue;
        }
        if !MD2_RESERVED.contains(c) {
            visible += 1;
            continue;
        }
        match c {
            '*' | '_' | '~' | '`' => {
                if open.last() == Some(&c) {
                    open.pop();
                } else {
                    open.push(c);
                }
            }
            _ => {
                return Err(entity_error(format!(
                    "Character '{c}' is reserved and must be escaped with the preceding '\\'"
                )));
            }
        }
    }
    match open.pop() {
        Some(c) => Err(entity_error(format!(
            "Can't find end of the entity starting with '{c}'"
        ))),
        None => Ok(visible),
    }
}

/// Checks an inline keyboard's `callback_data` lengths and button URLs.
pub(crate) fn reply_markup(markup: &Value) -> Result<(), String> {
    let Some(rows) = markup.get("inline_keyboard").and_then(Value::as_array) else {
        return Ok(());
    };
    for button in rows.iter().filter_map(Value::as_array).flatten() {
        if button
            .get("text")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err("Bad Request: text buttons are unallowed in the inline keyboard".into());
        }
        if let Some(data) = button.get("callback_data").and_then(Value::as_str)
            && (data.is_empty() || data.len() > 64)
        {
            return Err("Bad Request: BUTTON_DATA_INVALID".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_checked_like_telegram_does() {
        assert_eq!(text("a &amp; <b>b</b>", Some("HTML")), Ok(5));
        assert!(
            text("a < b", Some("HTML"))
                .unwrap_err()
                .contains("can't parse entities")
        );
        assert!(text("<x>y</x>", Some("HTML")).is_err());
        assert!(text("a & b", Some("HTML")).is_err());
        assert_eq!(text("a\\.b *bold*", Some("MarkdownV2")), Ok(8));
        assert!(
            text("a.b", Some("MarkdownV2"))
                .unwrap_err()
                .contains("reserved")
        );
        assert!(text("*open", Some("MarkdownV2")).is_err());
        assert!(
            text(&"x".repeat(4097), None)
                .unwrap_err()
                .contains("too long")
        );
        let data = serde_json::json!({"inline_keyboard": [[{"text": "a", "callback_data": "x".repeat(65)}]]});
        assert_eq!(
            reply_markup(&data).unwrap_err(),
            "Bad Request: BUTTON_DATA_INVALID"
        );
    }
}
