//! The outbound body: a handlebars template (strict, no HTML escaping) rendered with the
//! message's variables, whose output must be JSON. `{{json x}}` writes `x` as a JSON literal
//! (strings quoted and escaped), so texts with quotes, backslashes, newlines or emoji stay
//! valid JSON.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};
use omnibridge_sdk::{ButtonAction, ChannelError, OutboundMessage};
use serde_json::{Value, json};

const NAME: &str = "body";

/// The compiled `outbound.body`.
#[derive(Debug)]
pub(crate) struct BodyTemplate {
    registry: Handlebars<'static>,
}

impl BodyTemplate {
    /// Compiles `source` and renders it with sample messages (with and without buttons,
    /// reply and attachment), so unknown variables and output that is not JSON are reported
    /// at build time as `outbound.body`.
    pub(crate) fn compile(source: &str) -> Result<Self, ChannelError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        registry.register_helper("json", Box::new(json_helper));
        registry
            .register_template_string(NAME, source)
            .map_err(|error| ChannelError::config("outbound.body", error.to_string()))?;
        let template = Self { registry };
        for (which, sample) in samples() {
            template.render(&sample).map_err(|error| {
                let reason = match error {
                    ChannelError::Rejected { reason, .. } => reason,
                    other => other.to_string(),
                };
                ChannelError::config("outbound.body", format!("with a sample {which}: {reason}"))
            })?;
        }
        Ok(template)
    }

    /// Renders the body for `variables`; `Rejected { code: "invalid_body" }` when the
    /// template fails or its output is not JSON.
    pub(crate) fn render(&self, variables: &Value) -> Result<String, ChannelError> {
        let body = self.registry.render(NAME, variables).map_err(|error| {
            ChannelError::rejected(
                "invalid_body",
                format!("outbound.body could not be rendered: {}", error.reason()),
            )
        })?;
        serde_json::from_str::<serde::de::IgnoredAny>(&body).map_err(|error| {
            ChannelError::rejected(
                "invalid_body",
                format!("outbound.body did not render JSON: {error}"),
            )
        })?;
        Ok(body)
    }
}

/// The template's variables for one message.
pub(crate) fn variables(msg: &OutboundMessage) -> Value {
    let buttons: Vec<Value> = msg
        .buttons
        .iter()
        .map(|button| {
            let (payload, url) = match &button.action {
                ButtonAction::Payload(payload) => (Some(payload.as_str()), None),
                ButtonAction::Url(url) => (None, Some(url.as_str())),
                _ => (None, None),
            };
            json!({"label": button.label, "payload": payload, "url": url})
        })
        .collect();
    let attachments: Vec<Value> = msg
        .attachments
        .iter()
        .map(|attachment| {
            json!({
                "media_id": attachment.media_id,
                "filename": attachment.filename,
                "mime_type": attachment.mime_type,
                "base64": attachment.bytes.as_ref().map(|bytes| BASE64.encode(bytes)),
            })
        })
        .collect();
    json!({
        "to": msg.conversation.thread,
        "thread": msg.conversation.thread,
        "account": msg.conversation.account,
        "text": msg.text,
        "buttons": buttons,
        "reply_to": msg.reply_to.as_ref().map(|id| id.as_str()),
        "outbound_id": msg.id.as_str(),
        "attachments": attachments,
    })
}

fn samples() -> [(&'static str, Value); 2] {
    let plain = json!({
        "to": "+15550100", "thread": "+15550100", "account": "sample",
        "text": "Sample \"text\"\nwith a \\ and 👋", "buttons": [], "reply_to": null,
        "outbound_id": "ob_sample", "attachments": [],
    });
    let mut rich = plain.clone();
    rich["buttons"] = json!([
        {"label": "Yes", "payload": "yes", "url": null},
        {"label": "No", "payload": "no", "url": null},
    ]);
    rich["reply_to"] = json!("m_sample");
    rich["attachments"] = json!([
        {"media_id": "md_sample", "filename": "a.txt", "mime_type": "text/plain", "base64": "aGk="}
    ]);
    [
        ("message without buttons", plain),
        ("message with 2 buttons, a reply and an attachment", rich),
    ]
}

/// `{{json value}}`: `value` as a JSON literal.
fn json_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let param = h
        .param(0)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("json", 0))?;
    if param.is_value_missing() {
        let name = param.relative_path().map_or("?", String::as_str);
        return Err(RenderErrorReason::Other(format!("json: no variable {name:?}")).into());
    }
    let text = serde_json::to_string(param.value())
        .map_err(|error| RenderErrorReason::Other(format!("json: {error}")))?;
    out.write(&text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use omnibridge_sdk::{Button, ConversationRef, OutboundId};

    use super::*;

    fn message(text: &str) -> OutboundMessage {
        OutboundMessage::text(
            OutboundId::new("ob_1"),
            ConversationRef::new("acct", "+15550123"),
            text,
        )
    }

    fn config_error(source: &str) -> String {
        match BodyTemplate::compile(source).unwrap_err() {
            ChannelError::Config { key, message } => {
                assert_eq!(key, "outbound.body");
                message
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_helper_keeps_any_text_valid_json() {
        let template = BodyTemplate::compile(
            r#"{"to": {{json to}}, "text": {{json text}}, "r": {{json reply_to}}}"#,
        )
        .unwrap();
        let text = "say \"hi\" \\ <b>&amp;</b>\nline 2\t\u{0001} 👋🏽 \u{2028}";
        let body = template.render(&variables(&message(text))).unwrap();
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["text"], text);
        assert_eq!(parsed["to"], "+15550123");
        assert_eq!(parsed["r"], Value::Null);
    }

    #[test]
    fn buttons_and_attachments_are_variables() {
        let template = BodyTemplate::compile(
            r#"{"b": [{{#each buttons}}{{json payload}}{{#unless @last}},{{/unless}}{{/each}}], "all": {{json buttons}}, "id": {{json outbound_id}}}"#,
        )
        .unwrap();
        let msg = message("pick").with_buttons(vec![
            Button::payload("Yes", "y"),
            Button::url("Site", "https://example.com"),
        ]);
        let parsed: Value =
            serde_json::from_str(&template.render(&variables(&msg)).unwrap()).unwrap();
        assert_eq!(parsed["b"], json!(["y", null]));
        assert_eq!(parsed["all"][1]["url"], "https://example.com");
        assert_eq!(parsed["all"][0]["label"], "Yes");
        assert_eq!(parsed["id"], "ob_1");
    }

    #[test]
    fn bad_templates_are_config_errors_of_outbound_body() {
        assert!(!config_error(r#"{"to": {{json to}"#).is_empty());
        let unknown = config_error(r#"{"to": {{json recipient}}}"#);
        assert!(unknown.contains("recipient"), "{unknown}");
        let strict = config_error(r#"{"to": "{{recipient}}"}"#);
        assert!(strict.contains("recipient"), "{strict}");
        // Quotes around `{{text}}` break on the sample's quotes: not JSON.
        let unquoted = config_error(r#"{"text": "{{text}}"}"#);
        assert!(unquoted.contains("JSON"), "{unquoted}");
        // Buttons without separators break with two buttons.
        let commas = config_error(r#"[{{#each buttons}}{{json payload}}{{/each}}]"#);
        assert!(commas.contains("2 buttons"), "{commas}");
    }

    #[test]
    fn a_body_that_renders_no_json_is_rejected_at_send() {
        let template =
            BodyTemplate::compile(r#"{{#if (eq text "boom")}}nope{{else}}{}{{/if}}"#).unwrap();
        match template.render(&variables(&message("boom"))) {
            Err(ChannelError::Rejected { code, reason }) => {
                assert_eq!(code, "invalid_body");
                assert!(reason.contains("did not render JSON"), "{reason}");
                assert!(!reason.contains("nope"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
