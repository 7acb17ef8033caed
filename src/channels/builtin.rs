//! The channel kinds the stock bridge ships with. Each adapter crate exports its factory;
//! this list is the only place the bridge names them (a business's own kinds are added with
//! [`crate::Bridge::with_channel_factory`], touching no bridge file). The same goes for how
//! each built-in kind presents a message ([`ChannelProfile`], for template previews).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use omnibridge_sdk::{Channel, OutboundMessage};
use omnibridge_telegram::outbound::render::{self as telegram_render, ParseMode};
use omnibridge_whatsapp::TemplateMapping;
use omnibridge_whatsapp::wire::graph::{Parameter, SendBody};

use super::factories::ChannelFactories;
use super::profile::{
    ButtonsAs, ChannelProfile, Refusal, Shown, TemplateParameter, WindowTemplate,
};

/// Registers every built-in kind.
pub(super) fn register_all(factories: ChannelFactories) -> ChannelFactories {
    factories
        .with(omnibridge_whatsapp::WhatsAppFactory)
        .with(omnibridge_email::EmailFactory)
        .with(omnibridge_telegram::TelegramFactory)
        .with(omnibridge_http_channel::HttpChannelFactory)
        .with(omnibridge_webchat::WebChatFactory)
}

/// The built-in kinds whose presentation does not depend on per-channel config, with their
/// defaults: web chat, WhatsApp (no template mappings), Telegram (HTML) and email. (The
/// generic HTTP channel has no defaults: its capabilities are all configured.)
pub(super) fn profiles() -> Vec<ChannelProfile> {
    vec![
        ChannelProfile::new(
            omnibridge_webchat::KIND,
            omnibridge_webchat::capabilities(omnibridge_webchat::frames::MAX_TEXT_CHARS),
        ),
        whatsapp(omnibridge_whatsapp::capabilities(), BTreeMap::new()),
        telegram(ParseMode::default()),
        ChannelProfile::new(omnibridge_email::KIND, omnibridge_email::capabilities()),
    ]
}

/// The profile of one configured channel.
pub(super) fn profile_of(kind: &str, channel: &dyn Channel) -> ChannelProfile {
    let any: &dyn Any = channel;
    if let Some(whatsapp_channel) = any.downcast_ref::<omnibridge_whatsapp::WhatsAppChannel>() {
        return whatsapp(
            channel.capabilities().clone(),
            whatsapp_channel.config().template_mappings.clone(),
        );
    }
    if let Some(telegram_channel) = any.downcast_ref::<omnibridge_telegram::TelegramChannel>() {
        let mut profile = telegram(telegram_channel.config().parse_mode);
        profile.capabilities = channel.capabilities().clone();
        return profile;
    }
    ChannelProfile::new(kind, channel.capabilities().clone())
}

/// WhatsApp: the adapter's own plan (reply buttons, a list past 3, text before buttons past
/// the 1024-character interactive body, URL buttons as text lines) and its template
/// mappings outside the 24-hour window.
fn whatsapp(
    capabilities: omnibridge_sdk::Capabilities,
    mappings: BTreeMap<String, TemplateMapping>,
) -> ChannelProfile {
    ChannelProfile::new(omnibridge_whatsapp::KIND, capabilities)
        .with_presenter(Arc::new(whatsapp_present))
        .with_window_template(Arc::new(move |message: &OutboundMessage| {
            let mapping = mappings.get(message.template.as_deref()?)?;
            let body = omnibridge_whatsapp::outbound::template::template_body(
                mapping,
                message,
                message.template_data.as_ref(),
            );
            let SendBody::Template { template } = body else {
                return None;
            };
            let parameters = template
                .components
                .iter()
                .flat_map(|component| {
                    component.parameters.iter().filter_map(|parameter| {
                        let value = match parameter {
                            Parameter::Text { text } => text.clone(),
                            Parameter::Payload { payload } => payload.clone(),
                            _ => return None,
                        };
                        Some(TemplateParameter {
                            component: component.kind.to_owned(),
                            value,
                        })
                    })
                })
                .collect();
            Some(WindowTemplate {
                template_name: template.name,
                language: template.language.code,
                parameters,
            })
        }))
}

fn whatsapp_present(message: &OutboundMessage) -> Result<Vec<Shown>, Refusal> {
    let requests = omnibridge_whatsapp::outbound::plan::plan(message).map_err(|error| Refusal {
        code: error.code().to_owned(),
        message: error.to_string(),
    })?;
    Ok(requests
        .into_iter()
        .map(|request| match request.body {
            SendBody::Text { text } => Shown::text(text.body),
            SendBody::Interactive { interactive } => {
                let action = interactive.action;
                let shown = Shown::text(interactive.body.text);
                match (action.buttons, action.sections) {
                    (Some(buttons), _) => shown.with_buttons(
                        buttons.into_iter().map(|b| b.reply.title).collect(),
                        ButtonsAs::Buttons,
                    ),
                    (None, Some(sections)) => {
                        let rows = sections
                            .into_iter()
                            .flat_map(|section| section.rows)
                            .map(|row| row.title)
                            .collect();
                        let shown = shown.with_buttons(rows, ButtonsAs::List);
                        match action.button {
                            Some(label) => shown.with_list_label(label),
                            None => shown,
                        }
                    }
                    (None, None) => shown,
                }
            }
            // Free-form plans hold text and interactive messages only.
            _ => Shown::text(String::new()),
        })
        .collect())
}

/// Telegram: the adapter's plan in `mode` (text escaped for the parse mode, buttons as an
/// inline keyboard on the last part); payloads over 64 bytes are stored and sent as a token.
fn telegram(mode: ParseMode) -> ChannelProfile {
    ChannelProfile::new(
        omnibridge_telegram::KIND,
        omnibridge_telegram::capabilities(),
    )
    .with_inline_payload_bytes(omnibridge_telegram::inbound::callback::MAX_CALLBACK_DATA)
    .with_presenter(Arc::new(move |message: &OutboundMessage| {
        let plan = omnibridge_telegram::outbound::plan(message, mode).map_err(|error| Refusal {
            code: error.code().to_owned(),
            message: error.to_string(),
        })?;
        let plain = telegram_render::split(&message.text, telegram_render::MAX_TEXT);
        Ok(plan
            .parts
            .into_iter()
            .enumerate()
            .map(|(index, part)| {
                let text = plain.get(index).cloned().unwrap_or_default();
                let shown = if part.text == text {
                    Shown::text(text)
                } else {
                    Shown::text(text).with_sent_text(part.text)
                };
                match part.keyboard {
                    Some(keyboard) => shown.with_buttons(
                        keyboard
                            .inline_keyboard
                            .into_iter()
                            .flatten()
                            .map(|button| button.text)
                            .collect(),
                        ButtonsAs::Buttons,
                    ),
                    None => shown,
                }
            })
            .collect())
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use omnibridge_whatsapp::ButtonParam;

    use super::*;
    use crate::templates::TemplateEngine;
    use crate::templates::lint::Draft;
    use crate::templates::preview::{PreviewRequest, preview};

    #[test]
    fn whatsapp_profile_fills_mapped_templates_as_the_adapter_does() {
        let mapping = TemplateMapping::new("payment_request_v2", "en_US")
            .with_body_params(&["data.description", "text"])
            .with_button_param(ButtonParam::quick_reply("button.0"));
        let profile = whatsapp(
            omnibridge_whatsapp::capabilities(),
            BTreeMap::from([("payment_request".to_owned(), mapping)]),
        );
        let engine =
            TemplateEngine::load_with_defaults(std::path::Path::new("/nonexistent")).unwrap();
        let request = PreviewRequest::new(Draft::new("default", "en", "payment_request"));
        let preview = preview(&engine, &[profile], &request);
        let channel = &preview.channels[0];
        let template = channel
            .outside_window
            .as_ref()
            .and_then(|o| o.template.as_ref())
            .unwrap();
        assert_eq!(template.template_name, "payment_request_v2");
        assert_eq!(template.language, "en_US");
        let values: Vec<(&str, &str)> = template
            .parameters
            .iter()
            .map(|p| (p.component.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(values[0], ("body", "Order #1042: 2 concert tickets"));
        assert!(values[1].1.contains("\nPay securely here: https://"));
        assert_eq!(
            values[2],
            ("button", "pay:payint_01JH7ZK3Q8V4M2N6P9R5T1W3XY")
        );
        let codes: Vec<&str> = preview.problems.iter().map(|p| p.code).collect();
        assert!(codes.contains(&"whatsapp_parameter_format"), "{codes:?}");
        assert!(!codes.contains(&"whatsapp_template_name"), "{codes:?}");
        // In the window: two reply buttons under the text.
        let last = channel.messages.last().unwrap();
        assert_eq!(last.buttons, ["Pay €49.90", "Cancel"]);
        assert_eq!(last.buttons_as, Some(ButtonsAs::Buttons));
    }
}
