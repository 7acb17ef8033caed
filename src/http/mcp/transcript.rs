//! Conversations as an agent reads them: each event as one line of plain text (who, when,
//! what; buttons, media and payments described in words), and whether a reply can go out now.

use std::fmt::Write as _;

use omnibridge_sdk::{Button, ButtonAction, Content, Envelope, EventBody, Message, Role};
use serde::Serialize;

/// One event of a conversation, readable.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub(super) struct TranscriptLine {
    /// The event's bus position (pass as `cursor` to `wait_for_events`).
    pub(super) seq: u64,
    /// When it happened (RFC 3339).
    pub(super) at: String,
    /// `customer`, `business`, `agent` or `bridge`.
    pub(super) from: String,
    /// The event type (`message.received`, `payment.succeeded` ...).
    #[serde(rename = "type")]
    pub(super) event_type: String,
    /// The event in words.
    pub(super) text: String,
}

/// The readable line of `envelope`; `None` for bookkeeping nobody needs to read (delivery
/// receipts short of a failure).
pub(super) fn line(envelope: &Envelope) -> Option<TranscriptLine> {
    let text = describe(envelope)?;
    Some(TranscriptLine {
        seq: envelope.seq.unwrap_or(0),
        at: envelope.occurred_at.to_rfc3339(),
        from: speaker(envelope).to_owned(),
        event_type: envelope.event_type().to_owned(),
        text,
    })
}

/// The transcript as one text: `[time] from: text` per line.
pub(super) fn render(lines: &[TranscriptLine]) -> String {
    let mut out = String::new();
    for line in lines {
        let _ = writeln!(out, "[{}] {}: {}", line.at, line.from, line.text);
    }
    out
}

fn speaker(envelope: &Envelope) -> &'static str {
    match &envelope.body {
        EventBody::MessageReceived(_) | EventBody::ActionInvoked(_) => "customer",
        EventBody::MessageSent(_) => match envelope.sender.as_ref().map(|p| p.role) {
            Some(Role::Agent) => "agent",
            _ => "business",
        },
        _ => "bridge",
    }
}

fn describe(envelope: &Envelope) -> Option<String> {
    Some(match &envelope.body {
        EventBody::MessageReceived(message) | EventBody::MessageSent(message) => {
            message_text(message)
        }
        EventBody::ActionInvoked(action) => match &action.label {
            Some(label) => format!(
                "pressed the button \"{label}\" (payload {})",
                action.payload
            ),
            None => format!("chose the option with payload {}", action.payload),
        },
        EventBody::DeliveryUpdated(delivery) => {
            let status = serde_json::to_value(delivery.status).ok()?;
            let status = status.as_str()?.to_owned();
            if status != "failed" {
                return None;
            }
            let reason = delivery.reason.as_deref().unwrap_or("no reason given");
            format!("a message could not be delivered: {reason}")
        }
        EventBody::MediaStored(_) => "the customer's media was stored".to_owned(),
        EventBody::MediaFailed(_) => "the customer's media could not be stored".to_owned(),
        EventBody::AgentAction(action) => {
            format!(
                "agent key {:?} called {} ({})",
                action.key_name, action.tool, action.outcome
            )
        }
        body => {
            let update = body.payment()?;
            let amount = crate::money::Money::new(update.amount_minor, &update.currency)
                .map(|m| m.format("en"))
                .unwrap_or_else(|_| {
                    format!("{} minor units of {}", update.amount_minor, update.currency)
                });
            let mut text = format!(
                "payment {} of {amount} is {}",
                update.intent_id, update.state
            );
            if let Some(reason) = &update.reason {
                let _ = write!(text, " ({reason})");
            }
            text
        }
    })
}

/// A message in words: its text, then media, location, contact and buttons described.
pub(super) fn message_text(message: &Message) -> String {
    let mut text = match &message.content {
        Content::Text { body, .. } => body.clone(),
        Content::Media(media) => {
            let kind = serde_json::to_value(media.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "file".to_owned());
            let mut text = format!("[{kind}");
            if let Some(name) = &media.filename {
                let _ = write!(text, " {name:?}");
            }
            if let Some(mime) = &media.mime_type {
                let _ = write!(text, ", {mime}");
            }
            if let Some(size) = media.size_bytes {
                let _ = write!(text, ", {size} bytes");
            }
            text.push(']');
            if let Some(caption) = &media.caption {
                let _ = write!(text, " {caption}");
            }
            text
        }
        Content::Location(location) => {
            let place = location
                .name
                .clone()
                .or_else(|| location.address.clone())
                .unwrap_or_default();
            format!(
                "[location {:.5}, {:.5}] {place}",
                location.latitude, location.longitude
            )
            .trim_end()
            .to_owned()
        }
        Content::Contact(contact) => format!("[contact card: {}]", contact.name),
        Content::Reaction { emoji, .. } if emoji.is_empty() => "[removed a reaction]".to_owned(),
        Content::Reaction { emoji, .. } => format!("[reacted {emoji}]"),
        Content::ChatMember { status } => format!("[{status} the bot]"),
        Content::Unsupported { provider_type } => format!("[a {provider_type} message]"),
        _ => "[a message]".to_owned(),
    };
    if let Some(subject) = &message.subject {
        text = format!("(subject: {subject}) {text}");
    }
    if !message.buttons.is_empty() {
        let _ = write!(text, " [buttons: {}]", buttons(&message.buttons));
    }
    if message.automated.is_some() {
        text.push_str(" [automated message]");
    }
    super::redact::confirmation_links(&text).into_owned()
}

fn buttons(buttons: &[Button]) -> String {
    buttons
        .iter()
        .map(|button| match &button.action {
            ButtonAction::Payload(payload) => format!("\"{}\" ({payload})", button.label),
            ButtonAction::Url(url) => format!("\"{}\" (opens {url})", button.label),
            _ => format!("\"{}\"", button.label),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use omnibridge_sdk::{Media, MediaKind, PaymentUpdate};

    use super::*;

    fn envelope(body: EventBody) -> Envelope {
        super::super::test_envelope("webchat", body)
    }

    #[test]
    fn messages_buttons_media_and_payments_read_as_words() {
        let mut message = Message::new(Content::text("Book it?"));
        message.buttons = vec![Button::payload("Yes", "yes")];
        let sent = line(&envelope(EventBody::MessageSent(message))).unwrap();
        assert_eq!(sent.from, "business");
        assert_eq!(sent.text, "Book it? [buttons: \"Yes\" (yes)]");

        let mut media = Media::new(MediaKind::Image);
        media.caption = Some("my receipt".into());
        media.mime_type = Some("image/jpeg".into());
        let received = line(&envelope(EventBody::MessageReceived(Message::new(
            Content::Media(media),
        ))))
        .unwrap();
        assert_eq!(received.from, "customer");
        assert!(
            received.text.starts_with("[image, image/jpeg]"),
            "{}",
            received.text
        );
        assert!(received.text.ends_with("my receipt"));

        let paid = PaymentUpdate::new("payint_1", 1250, "EUR", "succeeded");
        let payment = line(&envelope(EventBody::PaymentSucceeded(paid))).unwrap();
        assert_eq!(payment.from, "bridge");
        assert!(
            payment.text.contains("payint_1") && payment.text.contains("succeeded"),
            "{}",
            payment.text
        );
        assert!(payment.text.contains("12.50"), "{}", payment.text);

        let text = render(&[payment]);
        assert!(text.starts_with('[') && text.ends_with('\n'));
    }
}
