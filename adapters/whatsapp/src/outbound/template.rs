//! Fills an approved template from a [`TemplateMapping`].
//!
//! Parameter sources: `text` (the rendered message text), `button.N` (the payload of the
//! message's N-th payload button, so a quick-reply tap comes back as our action), and
//! `data.a.b` (a field of the template data the bridge passes to
//! [`WhatsAppChannel::send_template`](crate::WhatsAppChannel::send_template); numbers and
//! booleans are written as text). A source that cannot be resolved (no data passed, missing
//! field, unknown source) is **left out**: the template still goes out with the parameters
//! that could be filled, and if Meta insists on the missing ones it answers 132000, which
//! dead-letters the message with that code.

use omnibridge_sdk::{ButtonAction, OutboundMessage};
use serde_json::Value;

use crate::config::TemplateMapping;
use crate::wire::graph::{Component, Language, Parameter, SendBody, Template};

/// The `template` body for `msg` under `mapping`, with `data` when the bridge has it.
pub fn template_body(
    mapping: &TemplateMapping,
    msg: &OutboundMessage,
    data: Option<&Value>,
) -> SendBody {
    let mut components = Vec::new();
    let body: Vec<Parameter> = mapping
        .body_params
        .iter()
        .filter_map(|source| resolve(source, msg, data))
        .map(|text| Parameter::Text { text })
        .collect();
    if !body.is_empty() {
        components.push(Component {
            kind: "body",
            sub_type: None,
            index: None,
            parameters: body,
        });
    }
    for (index, param) in mapping.button_params.iter().enumerate() {
        let Some(value) = resolve(&param.value, msg, data) else {
            continue;
        };
        let parameter = match param.sub_type {
            crate::config::ButtonSubType::QuickReply => Parameter::Payload { payload: value },
            _ => Parameter::Text { text: value },
        };
        components.push(Component {
            kind: "button",
            sub_type: Some(param.sub_type.as_str()),
            index: Some(index.to_string()),
            parameters: vec![parameter],
        });
    }
    SendBody::Template {
        template: Template {
            name: mapping.name.clone(),
            language: Language {
                code: mapping.language.clone(),
            },
            components,
        },
    }
}

/// One parameter's value, if its source can be resolved.
pub fn resolve(source: &str, msg: &OutboundMessage, data: Option<&Value>) -> Option<String> {
    if source == "text" {
        return Some(msg.text.clone()).filter(|t| !t.is_empty());
    }
    if let Some(index) = source.strip_prefix("button.") {
        let index: usize = index.parse().ok()?;
        return msg
            .buttons
            .iter()
            .filter_map(|b| match &b.action {
                ButtonAction::Payload(payload) => Some(payload.clone()),
                _ => None,
            })
            .nth(index);
    }
    let path = source.strip_prefix("data.")?;
    let mut value = data?;
    for key in path.split('.') {
        value = match value {
            Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            other => other.get(key)?,
        };
    }
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}
