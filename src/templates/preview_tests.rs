//! Tests of declared variables, lint and previews, on the shipped templates and on drafts.

use std::path::Path;
use std::sync::Arc;

use omnibridge_sdk::Button;
use serde_json::{Value, json};

use super::lint::{Draft, Problem, Severity, lint, lint_source};
use super::preview::{ChannelPreview, Preview, PreviewRequest, preview};
use super::*;
use crate::channels::ChannelProfile;
use crate::channels::profile::{ButtonsAs, TemplateParameter, WindowTemplate};

/// The shipped templates, as the bridge runs without `templates.dir`.
fn shipped() -> TemplateEngine {
    TemplateEngine::load_with_defaults(Path::new("/nonexistent/templates")).unwrap()
}

fn channel<'a>(preview: &'a Preview, kind: &str) -> &'a ChannelPreview {
    preview
        .channels
        .iter()
        .find(|c| c.channel == kind)
        .unwrap_or_else(|| panic!("no {kind} in {preview:#?}"))
}

fn codes(problems: &[Problem]) -> Vec<&'static str> {
    problems.iter().map(|p| p.code).collect()
}

fn find<'a>(problems: &'a [Problem], code: &str) -> &'a Problem {
    problems
        .iter()
        .find(|p| p.code == code)
        .unwrap_or_else(|| panic!("no {code} in {problems:#?}"))
}

const SCHEMA: &str = r#"{
  "variables": {
    "amount": { "type": "integer", "required": true, "example": 1250 },
    "currency": { "type": "string", "required": true, "example": "EUR" },
    "reference": { "type": "string", "required": true, "example": "r-1" },
    "items": { "type": "array", "example": [{"name": "Tea"}] },
    "title": { "type": "string", "example": "Order" }
  }
}"#;

#[test]
fn a_5000_character_text_previews_as_two_whatsapp_parts() {
    let engine = shipped();
    let draft = Draft::new("default", "en", "long").with_part("", "{{text}}");
    let mut request = PreviewRequest::new(draft);
    request.data = Some(json!({ "text": "word ".repeat(1000).trim_end() }));
    let preview = preview(&engine, &ChannelProfile::builtin(), &request);
    let whatsapp = channel(&preview, "whatsapp");
    assert!(whatsapp.uses_template);
    assert_eq!(whatsapp.messages.len(), 2, "{whatsapp:#?}");
    assert!(
        whatsapp
            .messages
            .iter()
            .all(|m| m.text.chars().count() <= 4096)
    );
    assert_eq!(
        channel(&preview, "email").messages.len(),
        1,
        "no limit to speak of"
    );
    let too_long: Vec<&Problem> = preview
        .problems
        .iter()
        .filter(|p| p.code == "text_too_long")
        .collect();
    let on_whatsapp = too_long
        .iter()
        .find(|p| p.channel.as_deref() == Some("whatsapp"))
        .unwrap();
    assert_eq!(on_whatsapp.severity, Severity::Warning);
    assert!(
        on_whatsapp.message.contains("4999 characters")
            && on_whatsapp.message.contains("2 messages"),
        "{}",
        on_whatsapp.message
    );
    assert!(
        !too_long
            .iter()
            .any(|p| p.channel.as_deref() == Some("email"))
    );
}

#[test]
fn four_buttons_are_a_list_on_whatsapp_buttons_in_web_chat_and_text_in_email() {
    let engine = shipped();
    let mut request = PreviewRequest::new(Draft::new("default", "en", "welcome"));
    request.buttons = Some(
        (1..=4)
            .map(|i| Button::payload(format!("Option {i}"), format!("opt:{i}")))
            .collect(),
    );
    let preview = preview(&engine, &ChannelProfile::builtin(), &request);

    let whatsapp = channel(&preview, "whatsapp");
    let last = whatsapp.messages.last().unwrap();
    assert_eq!(last.buttons_as, Some(ButtonsAs::List));
    assert_eq!(last.buttons.len(), 4);
    assert_eq!(last.list_label.as_deref(), Some("Options"));

    let webchat = channel(&preview, "webchat");
    assert_eq!(webchat.messages.len(), 1);
    assert_eq!(webchat.messages[0].buttons_as, Some(ButtonsAs::Buttons));
    assert_eq!(webchat.messages[0].buttons[3], "Option 4");

    let email = channel(&preview, "email");
    assert_eq!(email.messages[0].buttons_as, Some(ButtonsAs::NumberedText));
    assert!(email.messages[0].buttons.is_empty());
    assert!(
        email.messages[0].text.ends_with("\n4. Option 4"),
        "{}",
        email.messages[0].text
    );

    let too_many: Vec<Option<&str>> = preview
        .problems
        .iter()
        .filter(|p| p.code == "too_many_buttons")
        .map(|p| p.channel.as_deref())
        .collect();
    assert!(too_many.contains(&Some("whatsapp")), "{too_many:?}");
    assert!(too_many.contains(&Some("email")), "{too_many:?}");
    assert!(!too_many.contains(&Some("webchat")), "{too_many:?}");
    assert!(
        preview
            .problems
            .iter()
            .all(|p| p.severity == Severity::Warning),
        "{:#?}",
        preview.problems
    );
}

#[test]
fn three_buttons_are_reply_buttons_on_whatsapp() {
    let engine = shipped();
    let mut request = PreviewRequest::new(Draft::new("default", "en", "welcome"));
    request.channels = Some(vec!["whatsapp".into()]);
    request.buttons = Some(
        (1..=3)
            .map(|i| Button::payload(format!("B{i}"), "p"))
            .collect(),
    );
    let preview = preview(&engine, &ChannelProfile::builtin(), &request);
    assert_eq!(preview.channels.len(), 1, "filtered to whatsapp");
    let last = preview.channels[0].messages.last().unwrap();
    assert_eq!(last.buttons_as, Some(ButtonsAs::Buttons));
    assert_eq!(last.list_label, None);
    assert!(
        codes(&preview.problems).is_empty(),
        "{:#?}",
        preview.problems
    );
}

#[test]
fn the_email_preview_of_payment_request_has_the_subject_and_both_bodies() {
    let engine = shipped();
    let request = PreviewRequest::new(Draft::new("email", "en", "payment_request"));
    let preview = preview(&engine, &ChannelProfile::builtin(), &request);
    let email = channel(&preview, "email");
    assert!(email.uses_template);
    assert_eq!(email.error, None);
    let parts = email.email.as_ref().unwrap();
    assert_eq!(
        parts.subject.as_deref(),
        Some("Payment request: Order #1042: 2 concert tickets")
    );
    assert!(
        parts
            .text
            .contains("Pay €49.90: https://bridge.example.com/confirm/")
    );
    assert!(
        parts.text.ends_with("1. Pay €49.90\n2. Cancel"),
        "buttons as numbered text: {}",
        parts.text
    );
    let html = parts.html.as_deref().unwrap();
    assert!(html.contains("<strong>€49.90</strong>"), "{html}");
    assert_eq!(email.files["txt"], "email/en/payment_request.txt");
    assert_eq!(email.files["subject"], "email/en/payment_request.subject");
    assert_eq!(email.files["html"], "email/en/payment_request.html");
    assert_eq!(email.files[""], "default/en/payment_request");
    // The chat channels use default/en, not this directory.
    assert!(!channel(&preview, "webchat").uses_template);
    let webchat = channel(&preview, "webchat");
    assert_eq!(webchat.messages[0].buttons, ["Pay €49.90", "Cancel"]);
    assert!(
        !preview
            .problems
            .iter()
            .any(|p| p.severity == Severity::Error),
        "{:#?}",
        preview.problems
    );
}

#[test]
fn every_shipped_payment_template_previews_without_errors_in_both_locales() {
    let engine = shipped();
    let profiles = ChannelProfile::builtin();
    let mut previewed = 0;
    for key in engine.keys() {
        let mut segments = key.splitn(3, '/');
        let (dir, locale, name) = (
            segments.next().unwrap(),
            segments.next().unwrap(),
            segments.next().unwrap(),
        );
        let base = name.split('.').next().unwrap();
        if !base.starts_with("payment_") {
            continue;
        }
        assert!(
            engine.schema(dir, locale, base).is_some(),
            "{key} has declared variables"
        );
        let preview = preview(
            &engine,
            &profiles,
            &PreviewRequest::new(Draft::new(dir, locale, base)),
        );
        for c in &preview.channels {
            assert_eq!(c.error, None, "{key} on {}", c.channel);
        }
        let errors: Vec<&Problem> = preview
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{key}: {errors:#?}");
        assert!(
            !codes(&preview.problems).contains(&"unused_required_variable"),
            "{key}: {:#?}",
            preview.problems
        );
        previewed += 1;
    }
    assert!(previewed >= 30, "only {previewed}");
}

#[test]
fn sample_data_follows_the_chain_and_is_in_the_locale() {
    let engine = shipped();
    let (key, _) = engine
        .schema("telegram", "es-MX", "payment_request")
        .unwrap();
    assert_eq!(key, "default/es/payment_request");
    let data = engine.sample_data("telegram", "es-MX", "payment_request");
    assert_eq!(data["amount"], 4990);
    assert!(data["description"].as_str().unwrap().starts_with("Pedido"));
    // email/es has no payment_failed: the chain goes to default/es, not to email/en.
    let email = engine.schema("email", "es", "payment_failed").unwrap().0;
    assert_eq!(email, "default/es/payment_failed");
    assert_eq!(
        engine.sample_data("webchat", "en", "welcome"),
        json!({}),
        "no sidecar: empty"
    );
}

#[test]
fn telegram_shows_the_text_escaped_for_its_parse_mode() {
    let engine = shipped();
    let draft = Draft::new("default", "en", "t").with_part("", "a <b> & c");
    let mut request = PreviewRequest::new(draft);
    request.channels = Some(vec!["telegram".into()]);
    let preview = preview(&engine, &ChannelProfile::builtin(), &request);
    let message = &preview.channels[0].messages[0];
    assert_eq!(message.text, "a <b> & c");
    assert_eq!(message.sent_text.as_deref(), Some("a &lt;b&gt; &amp; c"));
    let plain = Draft::new("default", "en", "t").with_part("", "nothing to escape");
    let mut request = PreviewRequest::new(plain);
    request.channels = Some(vec!["telegram".into()]);
    let preview = super::preview::preview(&engine, &ChannelProfile::builtin(), &request);
    assert_eq!(preview.channels[0].messages[0].sent_text, None);
}

#[test]
fn syntax_errors_point_at_line_and_column() {
    let draft = Draft::new("default", "en", "x").with_part("", "Hello\n  {{#if ok}}yes");
    let problems = lint_source(&draft, None);
    let syntax = find(&problems, "syntax");
    assert_eq!(syntax.severity, Severity::Error);
    assert_eq!(syntax.part, "");
    assert!(syntax.line >= 2, "{syntax:?}");
    let unknown = Draft::new("default", "en", "x").with_part("zz", "hi");
    assert_eq!(codes(&lint_source(&unknown, None)), ["unknown_part"]);
}

#[test]
fn unknown_helpers_and_undeclared_variables_point_at_the_token() {
    let text = "Hi {{title}},\n  {{shout amount}} {{money amount currency}}\n{{#if title}}\n    {{amont}}\n{{/if}}";
    let draft = Draft::new("default", "en", "x")
        .with_part("", text)
        .with_schema(SCHEMA);
    let problems = lint_source(&draft, None);
    let helper = find(&problems, "unknown_helper");
    assert_eq!((helper.line, helper.column), (2, 5), "{helper:?}");
    assert!(helper.message.contains("shout"));
    let undeclared: Vec<&Problem> = problems
        .iter()
        .filter(|p| p.code == "undeclared_variable")
        .collect();
    assert_eq!(undeclared.len(), 1, "{problems:#?}");
    assert_eq!((undeclared[0].line, undeclared[0].column), (4, 7));
    assert!(undeclared[0].message.contains("\"amont\""));
    // `reference` is required and unused: a warning at its key in the sidecar.
    let unused = find(&problems, "unused_required_variable");
    assert_eq!(unused.severity, Severity::Warning);
    assert_eq!(unused.part, "schema");
    assert_eq!((unused.line, unused.column), (5, 5));
}

#[test]
fn block_scopes_are_not_top_level_variables() {
    let text = "{{#each items as |item|}}{{name}} {{item.name}} {{../title}} {{@index}} {{@root.reference}}{{/each}}{{#with title}}{{this}}{{/with}} {{money amount currency}} {{locale}}";
    let draft = Draft::new("default", "en", "x")
        .with_part("", text)
        .with_schema(SCHEMA);
    let problems = lint_source(&draft, None);
    assert!(problems.is_empty(), "{problems:#?}");
    let undeclared = Draft::new("default", "en", "x")
        .with_part("", "{{#each items}}{{../nope}}{{/each}}")
        .with_schema(SCHEMA);
    assert!(codes(&lint_source(&undeclared, None)).contains(&"undeclared_variable"));
    // The token is found as a whole word: `a` is not the `a` of `each`.
    let word = Draft::new("default", "en", "x")
        .with_part("", "{{#each a}}{{/each}}")
        .with_schema(SCHEMA);
    let problems = lint_source(&word, None);
    assert_eq!(
        (problems[0].code, problems[0].column),
        ("undeclared_variable", 9)
    );
    let no_schema = Draft::new("default", "en", "x").with_part("", "{{anything}}");
    assert!(
        lint_source(&no_schema, None).is_empty(),
        "no sidecar: no check"
    );
}

#[test]
fn unescaped_html_is_flagged_in_the_html_part_only() {
    let draft = Draft::new("email", "en", "x")
        .with_part("html", "<p>{{{title}}}</p>\n<p>{{& title}}</p>")
        .with_part("txt", "{{{title}}}");
    let problems = lint_source(&draft, None);
    let flagged: Vec<(&str, u32, u32)> = problems
        .iter()
        .filter(|p| p.code == "unescaped_html")
        .map(|p| (p.part.as_str(), p.line, p.column))
        .collect();
    assert_eq!(flagged, [("html", 1, 7), ("html", 2, 8)]);
}

#[test]
fn a_payment_request_needs_a_pay_link_or_a_pay_button() {
    let no_link = "{{description}}: {{money amount currency}}";
    // payment_request gets a Pay button from the bridge: the chat text may go without link.
    let draft = Draft::new("default", "en", "payment_request").with_part("", no_link);
    assert!(lint_source(&draft, None).is_empty());
    // … but not when the buttons given lack it, nor in HTML, which shows no buttons.
    let cancel_only = [Button::payload("Cancel", "cancel:1")];
    let problems = lint_source(&draft, Some(&cancel_only));
    assert_eq!(
        find(&problems, "missing_pay_action").severity,
        Severity::Error
    );
    let html = Draft::new("email", "en", "payment_request").with_part("html", no_link);
    assert_eq!(codes(&lint_source(&html, None)), ["missing_pay_action"]);
    // A variant the bridge adds no buttons to needs the link.
    let variant = Draft::new("default", "en", "payment_request_short").with_part("", no_link);
    assert_eq!(codes(&lint_source(&variant, None)), ["missing_pay_action"]);
    let linked = Draft::new("default", "en", "payment_request_short").with_part(
        "",
        "{{#if confirm_url}}{{confirm_url}}{{else}}{{pay_url}}{{/if}}",
    );
    assert!(lint_source(&linked, None).is_empty());
    let subject = Draft::new("email", "en", "payment_request").with_part("subject", no_link);
    assert!(
        lint_source(&subject, None).is_empty(),
        "subjects need no link"
    );
}

#[test]
fn button_labels_and_payloads_over_the_channel_limits() {
    let engine = shipped();
    let buttons = [
        Button::payload("Confirm and pay now, please", "ok"),
        Button::payload("Other", "x".repeat(70)),
    ];
    let problems = lint(
        &engine,
        &ChannelProfile::builtin(),
        &Draft::new("default", "en", "welcome"),
        None,
        Some(&buttons),
    );
    let label = find(&problems, "button_label_too_long");
    assert_eq!(
        label.channel.as_deref(),
        Some("whatsapp"),
        "webchat shows 40"
    );
    assert_eq!((label.part.as_str(), label.line), ("buttons", 1));
    assert!(
        label.message.contains("\"Confirm and pay now…\""),
        "{}",
        label.message
    );
    let payload = find(&problems, "payload_too_long");
    assert_eq!(payload.channel.as_deref(), Some("telegram"));
    assert_eq!((payload.severity, payload.line), (Severity::Warning, 2));
}

#[test]
fn a_payload_whatsapp_refuses_is_an_error() {
    let engine = shipped();
    let buttons = [Button::payload("Go", "x".repeat(300))];
    let problems = lint(
        &engine,
        &ChannelProfile::builtin(),
        &Draft::new("default", "en", "welcome"),
        None,
        Some(&buttons),
    );
    let refused = problems
        .iter()
        .find(|p| p.code == "payload_too_long" && p.severity == Severity::Error)
        .unwrap_or_else(|| panic!("{problems:#?}"));
    assert_eq!(refused.channel.as_deref(), Some("whatsapp"));
}

#[test]
fn a_bad_sidecar_and_an_unrenderable_part_are_errors() {
    let engine = shipped();
    let bad = Draft::new("default", "en", "x")
        .with_part("", "Hi")
        .with_schema("{\n  \"variables\": {\"a\": {\"type\": \"text\"}}\n}");
    let problems = lint_source(&bad, None);
    let schema = find(&problems, "schema");
    assert_eq!((schema.part.as_str(), schema.line), ("schema", 2));

    // Declared, but no example: the sample data lacks it, the preview cannot render it
    // (with real data it may well work: a warning that says how to get a real preview).
    let missing = Draft::new("default", "en", "x")
        .with_part("", "Hello\nDear {{name}}!")
        .with_schema(r#"{"variables": {"name": {"type": "string", "required": true}}}"#);
    let problems = lint(&engine, &ChannelProfile::builtin(), &missing, None, None);
    let render = find(&problems, "missing_sample_value");
    assert_eq!(render.severity, Severity::Warning);
    assert_eq!((render.line, render.column), (2, 8), "{render:?}");
    assert_eq!(
        render.channel, None,
        "the same on every channel: reported once"
    );
}

#[test]
fn unsaved_text_overrides_the_saved_part_and_reaches_every_channel_without_its_own() {
    let engine = shipped();
    let draft = Draft::new("default", "en", "payment_request")
        .with_part("", "NEW {{description}} {{pay_url}}");
    let shown = preview(
        &engine,
        &ChannelProfile::builtin(),
        &PreviewRequest::new(draft),
    );
    for kind in ["webchat", "whatsapp", "telegram"] {
        let c = channel(&shown, kind);
        assert!(c.uses_template, "{kind}");
        assert!(c.messages[0].text.starts_with("NEW Order #1042"), "{kind}");
    }
    // Email has its own txt part: it uses the draft's "" part only as the fallback text.
    let email = channel(&shown, "email");
    assert!(email.uses_template);
    assert!(!email.messages[0].text.starts_with("NEW"));
    // The saved sidecar applies to the draft: `{{amount}}` is declared, `{{oops}}` is not.
    let draft =
        Draft::new("default", "en", "payment_request").with_part("", "{{oops}} {{pay_url}}");
    let shown = preview(
        &engine,
        &ChannelProfile::builtin(),
        &PreviewRequest::new(draft),
    );
    assert!(codes(&shown.problems).contains(&"undeclared_variable"));
}

#[test]
fn a_mapped_window_template_is_filled_and_checked() {
    let engine = shipped();
    let templater = Arc::new(|message: &omnibridge_sdk::OutboundMessage| {
        Some(WindowTemplate {
            template_name: "Payment-Request".into(),
            language: "en_US".into(),
            parameters: vec![
                TemplateParameter {
                    component: "body".into(),
                    value: message.text.clone(),
                },
                TemplateParameter {
                    component: "body".into(),
                    value: "x".repeat(1100),
                },
            ],
        })
    });
    let mut caps = omnibridge_sdk::Capabilities::text_only(4096);
    caps.reply_window = Some(std::time::Duration::from_secs(24 * 3600));
    let profile = ChannelProfile::new("windowed", caps).with_window_template(templater);
    let request = PreviewRequest::new(Draft::new("default", "en", "payment_request"));
    let preview = preview(&engine, &[profile], &request);
    let outside = preview.channels[0].outside_window.as_ref().unwrap();
    assert_eq!(
        outside.template.as_ref().unwrap().template_name,
        "Payment-Request"
    );
    let found = codes(&preview.problems);
    for code in [
        "whatsapp_template_name",
        "whatsapp_parameter_too_long",
        "whatsapp_parameter_format",
    ] {
        assert!(found.contains(&code), "{code}: {found:?}");
    }
    // The built-in WhatsApp profile has no mappings: a note says why it cannot go out.
    let builtin = super::preview::preview(&engine, &ChannelProfile::builtin(), &request);
    let note = channel(&builtin, "whatsapp")
        .outside_window
        .as_ref()
        .unwrap()
        .note
        .as_deref()
        .unwrap();
    assert!(
        note.contains("24-hour") && note.contains("payment_request"),
        "{note}"
    );
    assert!(channel(&builtin, "webchat").outside_window.is_none());
}

#[test]
fn the_preview_serializes_for_a_json_api() {
    let engine = shipped();
    let request: PreviewRequest = serde_json::from_value(json!({
        "draft": { "locale": "EN", "name": "payment_request" },
        "channels": ["whatsapp"],
        "buttons": [{ "label": "Pay", "payload": "pay:1" }]
    }))
    .unwrap();
    let value: Value =
        serde_json::to_value(preview(&engine, &ChannelProfile::builtin(), &request)).unwrap();
    assert_eq!(
        value["channel"], "default",
        "the directory defaults to default"
    );
    assert_eq!(value["locale"], "en", "normalised");
    let whatsapp = &value["channels"][0];
    assert_eq!(whatsapp["channel"], "whatsapp");
    assert_eq!(whatsapp["uses_template"], true);
    assert_eq!(whatsapp["messages"][0]["buttons_as"], "buttons");
    assert_eq!(whatsapp["messages"][0]["buttons"][0], "Pay");
    assert!(whatsapp["outside_window"]["note"].is_string());
    assert!(value["problems"].is_array());
    assert!(
        serde_json::from_value::<PreviewRequest>(
            json!({"draft": {"locale": "en", "name": "x", "typo": 1}})
        )
        .is_err()
    );
}

#[test]
fn check_reports_bad_and_orphan_sidecars() {
    let dir = tempfile::tempdir().unwrap();
    let write = |relative: &str, body: &str| {
        let path = dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    };
    write("default/en/hello.hbs", "Hi {{name}}");
    write(
        "default/en/hello.schema.json",
        "{\"variables\": {\"name\": {\"type\": \"string\", \"requird\": true}}}",
    );
    write("default/en/gone.schema.json", "{\"variables\": {}}");
    write("default/en/notes.txt", "not a template");
    let problems = check::check_dir(dir.path());
    assert_eq!(problems.len(), 2, "{problems:#?}");
    let bad = problems
        .iter()
        .find(|p| p.file.ends_with("hello.schema.json"))
        .unwrap();
    assert!(
        bad.message.contains("requird") && bad.line == Some(1),
        "{bad}"
    );
    let orphan = problems
        .iter()
        .find(|p| p.file.ends_with("gone.schema.json"))
        .unwrap();
    assert!(
        orphan.message.contains("no template default/en/gone"),
        "{orphan}"
    );
    let err = TemplateEngine::load(dir.path()).unwrap_err();
    assert!(
        matches!(err, TemplateError::Schema { line: 1, .. }),
        "{err}"
    );
}
