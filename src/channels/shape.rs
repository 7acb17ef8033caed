//! Fits an outbound message to a channel's [`Capabilities`]: text split at the channel's
//! limit (on a word boundary where possible), buttons kept when the channel has enough of
//! them, otherwise turned into numbered text and links. Adapters receive only what they can
//! render.

use omnibridge_sdk::{
    Button, ButtonAction, Capabilities, ConversationRef, OutboundId, OutboundMessage,
};

/// Splits and shapes `text` + `buttons` into the messages to send, in order. Part `n > 1`
/// gets the id `<id>.<n>` so providers can de-duplicate each part.
pub fn fit(
    id: &OutboundId,
    conversation: &ConversationRef,
    text: &str,
    buttons: &[Button],
    caps: &Capabilities,
) -> Vec<OutboundMessage> {
    let (text, buttons) = fit_buttons(text, buttons, caps);
    let chunks = match caps.max_text_chars {
        Some(limit) => split_text(&text, limit),
        None => vec![text],
    };
    let last = chunks.len().saturating_sub(1);
    chunks
        .into_iter()
        .enumerate()
        .map(|(index, chunk)| {
            let part_id = if index == 0 {
                id.clone()
            } else {
                OutboundId::new(format!("{id}.{}", index + 1))
            };
            let message = OutboundMessage::text(part_id, conversation.clone(), chunk);
            if index == last {
                message.with_buttons(buttons.clone())
            } else {
                message
            }
        })
        .collect()
}

/// Whether [`fit`] turns these buttons into numbered text on a channel with `caps` (it has
/// no buttons, too few, or none that open URLs).
pub fn numbers_buttons(buttons: &[Button], caps: &Capabilities) -> bool {
    if buttons.is_empty() {
        return false;
    }
    let Some(limits) = caps.buttons else {
        return true;
    };
    let has_unsupported_url = !limits.url_buttons
        && buttons
            .iter()
            .any(|b| matches!(b.action, ButtonAction::Url(_)));
    buttons.len() > limits.max_count || has_unsupported_url
}

fn fit_buttons(text: &str, buttons: &[Button], caps: &Capabilities) -> (String, Vec<Button>) {
    if buttons.is_empty() {
        return (text.to_owned(), Vec::new());
    }
    if numbers_buttons(buttons, caps) {
        return (with_numbered_options(text, buttons), Vec::new());
    }
    let Some(limits) = caps.buttons else {
        return (with_numbered_options(text, buttons), Vec::new());
    };
    let fitted = buttons
        .iter()
        .map(|button| {
            let mut fitted = button.clone();
            fitted.label = truncate_label(&button.label, limits.max_label_chars);
            fitted
        })
        .collect();
    (text.to_owned(), fitted)
}

/// Appends options as text: payload buttons as a numbered list the customer can answer,
/// URL buttons as `label: url` lines.
fn with_numbered_options(text: &str, buttons: &[Button]) -> String {
    let mut out = text.trim_end().to_owned();
    let mut number = 0;
    for button in buttons {
        out.push('\n');
        match &button.action {
            ButtonAction::Url(url) => out.push_str(&format!("{}: {url}", button.label)),
            _ => {
                number += 1;
                out.push_str(&format!("{number}. {}", button.label));
            }
        }
    }
    out
}

fn truncate_label(label: &str, max_chars: usize) -> String {
    if label.chars().count() <= max_chars {
        return label.to_owned();
    }
    let mut cut: String = label.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Splits text into chunks of at most `limit` characters, preferring to break after a
/// newline or space in the last fifth of a chunk.
pub fn split_text(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= limit {
        return vec![text.to_owned()];
    }
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let hard_end = (start + limit).min(chars.len());
        let mut end = hard_end;
        if hard_end < chars.len() {
            let window_start = start + limit * 4 / 5;
            if let Some(pos) = (window_start..hard_end)
                .rev()
                .find(|&i| chars[i] == '\n' || chars[i] == ' ')
            {
                end = pos + 1;
            }
        }
        let chunk: String = chars[start..end].iter().collect();
        let trimmed = chunk.trim_end().to_owned();
        chunks.push(if trimmed.is_empty() { chunk } else { trimmed });
        start = end;
    }
    chunks
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use omnibridge_sdk::ButtonLimits;

    use super::*;

    fn conv() -> ConversationRef {
        ConversationRef::new("a", "t")
    }

    #[test]
    fn long_text_is_split_within_the_limit_without_losing_words() {
        let text = "word ".repeat(1000);
        let parts = split_text(text.trim_end(), 4096);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.chars().count() <= 4096));
        assert_eq!(parts.join(" ").split_whitespace().count(), 1000);
    }

    #[test]
    fn buttons_become_numbered_text_without_button_support() {
        let caps = Capabilities::text_only(100);
        let buttons = [
            Button::payload("Yes", "y"),
            Button::url("Docs", "https://d"),
        ];
        let parts = fit(&OutboundId::new("ob_1"), &conv(), "Ok?", &buttons, &caps);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].text, "Ok?\n1. Yes\nDocs: https://d");
        assert!(parts[0].buttons.is_empty());
    }

    #[test]
    fn too_many_buttons_become_text_and_long_labels_are_cut() {
        let caps = Capabilities::text_only(100).with_buttons(ButtonLimits::new(2, 5, true));
        let three: Vec<Button> = (1..=3)
            .map(|i| Button::payload(format!("B{i}"), "p"))
            .collect();
        assert!(
            fit(&OutboundId::new("x"), &conv(), "t", &three, &caps)[0]
                .buttons
                .is_empty()
        );
        let long = [Button::payload("Confirm now", "p")];
        let parts = fit(&OutboundId::new("x"), &conv(), "t", &long, &caps);
        assert_eq!(parts[0].buttons[0].label, "Conf…");
    }

    #[test]
    fn split_parts_get_distinct_ids_and_buttons_go_last() {
        let caps = Capabilities::text_only(10).with_buttons(ButtonLimits::new(3, 20, true));
        let parts = fit(
            &OutboundId::new("ob"),
            &conv(),
            "aaaa bbbb cccc",
            &[Button::payload("Y", "y")],
            &caps,
        );
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].id.as_str(), "ob");
        assert_eq!(parts[1].id.as_str(), "ob.2");
        assert!(parts[0].buttons.is_empty());
        assert_eq!(parts[1].buttons.len(), 1);
    }
}
