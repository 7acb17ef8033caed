//! How a channel presents a message to the customer, for template previews and lint
//! ([`crate::templates::preview`], [`crate::templates::lint`]): its [`Capabilities`] (what
//! [`super::shape::fit`] fits a message to), and, where the adapter reshapes a fitted message
//! further, the adapter's own planning code behind a closure (WhatsApp: reply buttons or a
//! list; Telegram: text escaped for its parse mode), plus the provider template standing in
//! outside a reply window.
//!
//! Profiles of the built-in kinds come from the adapters themselves
//! ([`ChannelProfile::builtin`], or [`ChannelProfile::of`] for a configured channel, with
//! its config: WhatsApp template mappings, Telegram parse mode); the bridge names adapter
//! crates only in its built-in list, so those functions live there. Any other kind gets
//! [`ChannelProfile::new`] from its capabilities.

use std::fmt;
use std::sync::Arc;

use omnibridge_sdk::{Capabilities, OutboundMessage};
use serde::Serialize;

use super::ChannelHandle;

/// How a message's buttons reach the customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonsAs {
    /// Buttons under the message.
    Buttons,
    /// A list the customer opens (WhatsApp, more than 3 reply buttons).
    List,
    /// Numbered lines (and `label: url` lines) appended to the text: the channel has no
    /// buttons, too few, or no URL buttons.
    NumberedText,
}

/// One message as the customer sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Shown {
    /// The text the customer reads.
    pub text: String,
    /// The text as sent to the provider, when it differs (Telegram: escaped for its parse
    /// mode; the customer still reads `text`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_text: Option<String>,
    /// The button (or list row) labels, as shown (cut to the channel's length).
    pub buttons: Vec<String>,
    /// How the options are shown, when the message has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buttons_as: Option<ButtonsAs>,
    /// The label of the button that opens a list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_label: Option<String>,
}

impl Shown {
    /// A message of text only.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            sent_text: None,
            buttons: Vec::new(),
            buttons_as: None,
            list_label: None,
        }
    }

    /// Adds options shown `how`.
    pub fn with_buttons(mut self, labels: Vec<String>, how: ButtonsAs) -> Self {
        self.buttons = labels;
        self.buttons_as = Some(how);
        self
    }

    /// Sets the list's open-button label.
    pub fn with_list_label(mut self, label: impl Into<String>) -> Self {
        self.list_label = Some(label.into());
        self
    }

    /// Sets the text as sent to the provider.
    pub fn with_sent_text(mut self, text: impl Into<String>) -> Self {
        self.sent_text = Some(text.into());
        self
    }
}

/// An adapter's refusal of a message: its error code and reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The adapter's code, e.g. `button_payload_too_long`.
    pub code: String,
    /// Why.
    pub message: String,
}

/// A provider template standing in for ours outside the reply window, filled as the adapter
/// would send it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WindowTemplate {
    /// The approved template's name at the provider.
    pub template_name: String,
    /// Its language code.
    pub language: String,
    /// The parameters that could be filled, in order.
    pub parameters: Vec<TemplateParameter>,
}

/// One filled parameter of a [`WindowTemplate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateParameter {
    /// The template component it fills: `body`, or `button` for a button's parameter.
    pub component: String,
    /// Its value.
    pub value: String,
}

/// Turns one fitted message into what the customer sees (the adapter's planning).
pub type Presenter = Arc<dyn Fn(&OutboundMessage) -> Result<Vec<Shown>, Refusal> + Send + Sync>;

/// The provider template standing in for a message (with `template` and `template_data`
/// set) outside the reply window; `None` without a mapping.
pub type WindowTemplater = Arc<dyn Fn(&OutboundMessage) -> Option<WindowTemplate> + Send + Sync>;

/// How one channel kind (or one configured channel) presents messages.
#[derive(Clone)]
pub struct ChannelProfile {
    /// The channel kind, e.g. `whatsapp`: the directory of its own templates.
    pub kind: String,
    /// What it renders.
    pub capabilities: Capabilities,
    /// The longest button payload carried inline, in bytes; a longer one still works, the
    /// adapter stores it and sends a token (Telegram's `callback_data`: 64 bytes).
    pub inline_payload_bytes: Option<usize>,
    present: Option<Presenter>,
    window_template: Option<WindowTemplater>,
}

impl fmt::Debug for ChannelProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelProfile")
            .field("kind", &self.kind)
            .field("capabilities", &self.capabilities)
            .field("inline_payload_bytes", &self.inline_payload_bytes)
            .field("presenter", &self.present.is_some())
            .field("window_template", &self.window_template.is_some())
            .finish()
    }
}

impl ChannelProfile {
    /// A channel that shows each fitted message as it is: text, and its buttons as buttons.
    pub fn new(kind: impl Into<String>, capabilities: Capabilities) -> Self {
        Self {
            kind: kind.into(),
            capabilities,
            inline_payload_bytes: None,
            present: None,
            window_template: None,
        }
    }

    /// The built-in kinds with their default settings: webchat, whatsapp (no template
    /// mappings), telegram (HTML parse mode) and email.
    pub fn builtin() -> Vec<ChannelProfile> {
        super::builtin::profiles()
    }

    /// The profile of a configured channel: a built-in kind with its config (WhatsApp's
    /// template mappings, Telegram's parse mode, the web chat's text limit), any other kind
    /// from its capabilities.
    pub fn of(handle: &ChannelHandle) -> ChannelProfile {
        super::builtin::profile_of(handle.kind.as_str(), handle.channel.as_ref())
    }

    /// Sets the adapter's planning of a fitted message.
    pub fn with_presenter(mut self, present: Presenter) -> Self {
        self.present = Some(present);
        self
    }

    /// Sets how the channel finds its stand-in template outside the reply window.
    pub fn with_window_template(mut self, templater: WindowTemplater) -> Self {
        self.window_template = Some(templater);
        self
    }

    /// Sets the longest inline button payload.
    pub fn with_inline_payload_bytes(mut self, bytes: usize) -> Self {
        self.inline_payload_bytes = Some(bytes);
        self
    }

    /// What the customer sees of one fitted message (see [`super::shape::fit`]).
    pub fn present(&self, fitted: &OutboundMessage) -> Result<Vec<Shown>, Refusal> {
        match &self.present {
            Some(present) => present(fitted),
            None => {
                let shown = Shown::text(fitted.text.clone());
                Ok(vec![if fitted.buttons.is_empty() {
                    shown
                } else {
                    let labels = fitted.buttons.iter().map(|b| b.label.clone()).collect();
                    shown.with_buttons(labels, ButtonsAs::Buttons)
                }])
            }
        }
    }

    /// Whether the channel has a reply window (free-form messages only for a while after the
    /// customer's last message).
    pub fn has_reply_window(&self) -> bool {
        self.capabilities.reply_window.is_some()
    }

    /// The stand-in template for `message` outside the reply window, when the channel has a
    /// mapping for its template.
    pub fn window_template(&self, message: &OutboundMessage) -> Option<WindowTemplate> {
        self.window_template.as_ref()?(message)
    }
}
