//! Shapes one fitted [`OutboundMessage`] into Graph API requests.
//!
//! The contract with the bridge: capabilities declare up to **10** buttons with labels of at
//! most **20** characters and URL buttons allowed, so the bridge hands over every button and
//! this module chooses the WhatsApp shape:
//!
//! - no payload buttons: one `text` message; URL buttons become `label: url` lines;
//! - 1–3 payload buttons: `interactive` `button` (reply buttons, id = our payload);
//! - 4–10 payload buttons: `interactive` `list` (one section, rows id = our payload, titles
//!   at most 24 characters), opened by a button labelled [`LIST_BUTTON_LABEL`].
//!
//! Interactive bodies hold at most 1024 characters: a longer text goes first as a plain text
//! message and the buttons follow with the body [`CHOOSE_PROMPT`]. A reply (`context`) is
//! attached to the first request.

use omnibridge_sdk::{ButtonAction, ChannelError, OutboundMessage};

use crate::wire::graph::{
    BodyText, ContextRef, Interactive, InteractiveAction, ReplyButton, Row, Section, SendBody,
    SendRequest, TextBody,
};

/// Most reply buttons in one interactive message.
pub const MAX_REPLY_BUTTONS: usize = 3;
/// Longest reply-button title.
pub const MAX_BUTTON_TITLE: usize = 20;
/// Most rows in one list message.
pub const MAX_LIST_ROWS: usize = 10;
/// Longest list-row title.
pub const MAX_ROW_TITLE: usize = 24;
/// Longest text message body.
pub const MAX_TEXT: usize = 4096;
/// Longest interactive body.
pub const MAX_INTERACTIVE_BODY: usize = 1024;
/// Longest reply-button id.
pub const MAX_BUTTON_ID: usize = 256;
/// Longest list-row id.
pub const MAX_ROW_ID: usize = 200;
/// The label of the button that opens a list.
pub const LIST_BUTTON_LABEL: &str = "Options";
/// Interactive body used when the text had to go in a message of its own.
pub const CHOOSE_PROMPT: &str = "Please choose:";

/// The requests for `msg`, in sending order.
pub fn plan(msg: &OutboundMessage) -> Result<Vec<SendRequest>, ChannelError> {
    let thread = msg.conversation.thread.as_str();
    let mut text = msg.text.trim_end().to_owned();
    let mut payloads = Vec::new();
    for button in &msg.buttons {
        match &button.action {
            ButtonAction::Url(url) => {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&format!("{}: {url}", button.label));
            }
            ButtonAction::Payload(payload) => payloads.push((button.label.as_str(), payload)),
            _ => {}
        }
    }
    let mut bodies = Vec::new();
    if payloads.is_empty() {
        bodies.push(text_body(text));
    } else {
        let body = if text.is_empty() || text.chars().count() > MAX_INTERACTIVE_BODY {
            if !text.is_empty() {
                bodies.push(text_body(text));
            }
            CHOOSE_PROMPT.to_owned()
        } else {
            text
        };
        bodies.push(interactive(body, &payloads)?);
    }
    let mut requests: Vec<SendRequest> = bodies
        .into_iter()
        .map(|body| SendRequest::new(thread, body))
        .collect();
    if let (Some(first), Some(reply_to)) = (requests.first_mut(), &msg.reply_to) {
        first.context = Some(ContextRef {
            message_id: reply_to.to_string(),
        });
    }
    Ok(requests)
}

fn text_body(body: String) -> SendBody {
    let preview_url = body.contains("https://") || body.contains("http://");
    SendBody::Text {
        text: TextBody { body, preview_url },
    }
}

fn interactive(body: String, payloads: &[(&str, &String)]) -> Result<SendBody, ChannelError> {
    let list = payloads.len() > MAX_REPLY_BUTTONS;
    let (id_cap, title_cap) = if list {
        (MAX_ROW_ID, MAX_ROW_TITLE)
    } else {
        (MAX_BUTTON_ID, MAX_BUTTON_TITLE)
    };
    let mut rows = Vec::new();
    for (label, payload) in payloads.iter().take(MAX_LIST_ROWS) {
        if payload.is_empty() || payload.chars().count() > id_cap {
            return Err(ChannelError::rejected(
                "button_payload_too_long",
                format!("WhatsApp button payloads must be 1 to {id_cap} characters"),
            ));
        }
        rows.push(Row {
            id: (*payload).clone(),
            title: truncate(label, title_cap),
        });
    }
    let action = if list {
        InteractiveAction {
            button: Some(LIST_BUTTON_LABEL.to_owned()),
            sections: Some(vec![Section { title: None, rows }]),
            ..InteractiveAction::default()
        }
    } else {
        InteractiveAction {
            buttons: Some(
                rows.into_iter()
                    .map(|reply| ReplyButton {
                        kind: "reply",
                        reply,
                    })
                    .collect(),
            ),
            ..InteractiveAction::default()
        }
    };
    Ok(SendBody::Interactive {
        interactive: Interactive {
            kind: if list { "list" } else { "button" },
            body: BodyText { text: body },
            action,
        },
    })
}

/// Cuts `text` to `max` characters, ending in `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
