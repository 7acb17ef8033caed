//! Outbound: what one [`OutboundMessage`] becomes on the Bot API.

pub mod render;
pub mod throttle;

use omnibridge_sdk::{ButtonAction, ChannelError, OutboundMessage};
use teloxide_core::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use crate::inbound::callback;

/// One `sendMessage`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Part {
    /// The escaped text.
    pub text: String,
    /// The inline keyboard (on the last part only).
    pub keyboard: Option<InlineKeyboardMarkup>,
}

/// The plan for one message: its parts, and the long button payloads to store first.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Plan {
    /// The `sendMessage` calls, in order.
    pub parts: Vec<Part>,
    /// `(state key, payload)` for each payload too long for `callback_data`.
    pub stored: Vec<(String, Vec<u8>)>,
}

/// Plans `msg` in `mode`: split, escaped, buttons one per row on the last part.
pub fn plan(msg: &OutboundMessage, mode: render::ParseMode) -> Result<Plan, ChannelError> {
    let mut stored = Vec::new();
    let mut rows = Vec::new();
    for button in &msg.buttons {
        let key = match &button.action {
            ButtonAction::Payload(payload) => {
                let encoded = callback::encode(payload, || ulid::Ulid::new().to_string());
                if let Some(key) = encoded.store {
                    stored.push((key, payload.as_bytes().to_vec()));
                }
                InlineKeyboardButton::callback(button.label.clone(), encoded.data)
            }
            ButtonAction::Url(url) => {
                let url = reqwest::Url::parse(url).map_err(|_| {
                    ChannelError::rejected("invalid_button_url", "a URL button's URL is invalid")
                })?;
                InlineKeyboardButton::url(button.label.clone(), url)
            }
            _ => {
                return Err(ChannelError::rejected(
                    "unsupported_button",
                    "this button kind cannot be sent on Telegram",
                ));
            }
        };
        rows.push(vec![key]);
    }
    let mut parts: Vec<Part> = render::render(mode, &msg.text)
        .into_iter()
        .map(|text| Part {
            text,
            keyboard: None,
        })
        .collect();
    if !rows.is_empty()
        && let Some(last) = parts.last_mut()
    {
        last.keyboard = Some(InlineKeyboardMarkup::new(rows));
    }
    Ok(Plan { parts, stored })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use omnibridge_sdk::{Button, ConversationRef, OutboundId};
    use teloxide_core::types::InlineKeyboardButtonKind;

    use super::*;

    #[test]
    fn buttons_go_on_the_last_part_and_long_payloads_are_stored() {
        let long = "x".repeat(100);
        let msg = OutboundMessage::text(
            OutboundId::new("o1"),
            ConversationRef::new("bot", "42"),
            "a".repeat(5000),
        )
        .with_buttons(vec![
            Button::payload("Pay", "pay:1"),
            Button::payload("Long", long.clone()),
            Button::url("Site", "https://acme.test/x"),
        ]);
        let plan = plan(&msg, render::ParseMode::Html).unwrap();
        assert_eq!(plan.parts.len(), 2);
        assert!(plan.parts[0].keyboard.is_none());
        let keyboard = plan.parts[1].keyboard.as_ref().unwrap();
        let kinds: Vec<_> = keyboard
            .inline_keyboard
            .iter()
            .flatten()
            .map(|b| &b.kind)
            .collect();
        assert!(matches!(kinds[0], InlineKeyboardButtonKind::CallbackData(d) if d == "p:pay:1"));
        let InlineKeyboardButtonKind::CallbackData(token) = kinds[1] else {
            panic!("not a callback button");
        };
        assert!(token.starts_with("t:") && token.len() <= 64);
        assert_eq!(plan.stored.len(), 1);
        assert_eq!(plan.stored[0].1, long.as_bytes());
        assert!(matches!(kinds[2], InlineKeyboardButtonKind::Url(_)));
    }
}
