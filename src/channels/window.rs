//! Reply windows ([`Capabilities::reply_window`](omnibridge_sdk::Capabilities::reply_window)),
//! for every channel that declares one (WhatsApp: 24 h after the customer's last message).
//!
//! Outside the window a free-form message is never sent blind: if the channel has a
//! provider-side template standing in for the message ([`Channel::window_template`]), the
//! message goes out as that template (with [`OutboundMessage::window_closed`] set); otherwise
//! it fails at once with [`REPLY_WINDOW_CLOSED`]. The API checks when a message is queued (and
//! answers 422 or `"via": "template"`), the outbox worker again when it is dispatched.

use omnibridge_sdk::{Channel, OutboundMessage, REPLY_WINDOW_CLOSED, Timestamp};

/// How a message may go out on its conversation right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Window {
    /// No window, or inside it: free-form.
    Open,
    /// Closed, and the channel sends this provider template instead.
    Template(String),
    /// Closed, and nothing can stand in: fail with [`REPLY_WINDOW_CLOSED`] and this reason.
    Closed(String),
}

impl Window {
    /// The error code of a closed window.
    pub const CODE: &'static str = REPLY_WINDOW_CLOSED;
}

/// Where `message` stands on `channel`, given when the customer last wrote.
pub fn check(
    channel: &dyn Channel,
    last_inbound_at: Option<Timestamp>,
    message: &OutboundMessage,
    now: Timestamp,
) -> Window {
    let Some(window) = channel.capabilities().reply_window else {
        return Window::Open;
    };
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    if last_inbound_at.is_some_and(|at| now.signed_duration_since(at) < window) {
        return Window::Open;
    }
    if let Some(template) = channel.window_template(message) {
        return Window::Template(template);
    }
    let since = match last_inbound_at {
        Some(at) => format!("the customer last wrote at {}", at.to_rfc3339()),
        None => "the customer has not written yet".to_owned(),
    };
    let template = match &message.template {
        Some(name) => format!("template {name:?} has no approved template mapping"),
        None => "free-form text has no approved template".to_owned(),
    };
    Window::Closed(format!(
        "the reply window is closed ({} h after the customer's last message; {since}) and \
         {template}",
        window.num_hours()
    ))
}
