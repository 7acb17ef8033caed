//! Numbered options: when a channel cannot show a message's buttons, [`super::shape`] sends
//! them as numbered text ("1. Pay now"). The outbox records which payload each number
//! stands for, per conversation ([`remember`]); when the customer answers with just a number,
//! ingest turns that message into the `action.invoked` of that button ([`resolve`]), as if
//! the customer had pressed it. Works for every channel without buttons, with no code in
//! the adapter.

use chrono::{DateTime, Utc};
use omnibridge_sdk::{Action, Button, ButtonAction, EventBody, InboundEvent};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

/// How long a customer may take to answer with a number.
const VALID_FOR: chrono::Duration = chrono::Duration::hours(24);

/// The bridge's key for a conversation's options in the channel's state (a prefix no
/// adapter uses for its own keys).
fn key(thread: &str) -> String {
    format!("bridge:numbered-options:{thread}")
}

/// What one conversation's numbers stand for.
#[derive(Debug, Serialize, Deserialize)]
struct Options {
    /// When they were sent.
    at: DateTime<Utc>,
    /// `(label, payload)` of option 1, 2, ...
    options: Vec<(String, String)>,
}

/// The payload buttons of `buttons` in the order [`super::shape`] numbers them.
fn numbered(buttons: &[Button]) -> Vec<(String, String)> {
    buttons
        .iter()
        .filter_map(|button| match &button.action {
            ButtonAction::Payload(payload) => Some((button.label.clone(), payload.clone())),
            _ => None,
        })
        .collect()
}

/// Records that `buttons` went to the conversation `thread` of `channel_id` as numbered
/// text. Does nothing when none of them carries a payload.
pub async fn remember(
    store: &dyn Store,
    channel_id: &str,
    thread: &str,
    buttons: &[Button],
) -> Result<(), StoreError> {
    let options = numbered(buttons);
    if options.is_empty() {
        return Ok(());
    }
    let value = Options {
        at: Utc::now(),
        options,
    };
    let bytes = serde_json::to_vec(&value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store
        .set_channel_state(channel_id, &key(thread), Some(&bytes))
        .await
}

/// The option number a customer's text is, if it is nothing else ("2", " 2. ", "2)").
fn option_number(text: &str) -> Option<usize> {
    let digits = text.trim().trim_end_matches(['.', ')']).trim_end();
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Turns each `message.received` of the batch that is just the number of an option recently
/// offered in its conversation into that option's `action.invoked`; other events pass
/// unchanged, in order.
pub async fn resolve(
    store: &dyn Store,
    channel_id: &str,
    mut events: Vec<InboundEvent>,
) -> Result<Vec<InboundEvent>, StoreError> {
    for event in &mut events {
        let EventBody::MessageReceived(message) = &event.body else {
            continue;
        };
        let Some(number) = message.content.text_body().and_then(option_number) else {
            continue;
        };
        let Some(bytes) = store
            .channel_state(channel_id, &key(&event.conversation.thread))
            .await?
        else {
            continue;
        };
        let Ok(offered) = serde_json::from_slice::<Options>(&bytes) else {
            tracing::warn!(channel_id, "Unreadable numbered options ignored.");
            continue;
        };
        if Utc::now() - offered.at > VALID_FOR {
            continue;
        }
        let Some((label, payload)) = number.checked_sub(1).and_then(|i| offered.options.get(i))
        else {
            continue;
        };
        let mut action = Action::new(payload.clone());
        action.label = Some(label.clone());
        event.body = EventBody::ActionInvoked(action);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bare_small_number_is_an_option() {
        assert_eq!(option_number("2"), Some(2));
        assert_eq!(option_number(" 2. "), Some(2));
        assert_eq!(option_number("12)"), Some(12));
        assert_eq!(option_number("2 please"), None);
        assert_eq!(option_number("123"), None);
        assert_eq!(option_number("."), None);
        assert_eq!(option_number("²"), None);
    }

    #[test]
    fn url_buttons_are_not_numbered() {
        let buttons = vec![
            Button::url("Site", "https://acme.test"),
            Button::payload("Yes", "yes"),
            Button::payload("No", "no"),
        ];
        assert_eq!(
            numbered(&buttons),
            [
                ("Yes".to_owned(), "yes".to_owned()),
                ("No".to_owned(), "no".to_owned())
            ]
        );
    }
}
