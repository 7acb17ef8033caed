//! Building through the factory: every bad key of the table is named, secrets come from the
//! context, and the README's TOML builds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use http::{HeaderMap, Method};
use omnibridge_http_channel::signature::sign_webhook;
use omnibridge_http_channel::{HttpChannelConfig, HttpChannelFactory, KIND, SignatureEncoding};
use omnibridge_sdk::{
    ButtonLimits, Channel, ChannelError, ChannelFactory, EventBody, MediaKind, Receipts,
    WebhookRequest,
};
use serde_json::{Value, json};
use support::{WEBHOOK_SECRET, all_secrets, base_config, channel, context, parse};

const URL: &str = "http://127.0.0.1:9/send";

/// The key and message of the config error building `config` gives.
fn config_error(config: Value) -> (String, String) {
    match HttpChannelFactory.build(parse(config), &all_secrets()) {
        Err(ChannelError::Config { key, message }) => (key, message),
        Err(other) => panic!("expected a config error, got {other}"),
        Ok(_) => panic!("expected a config error, the channel built"),
    }
}

fn with(path: &[&str], value: Value) -> Value {
    let mut config = base_config(URL);
    let mut at = &mut config;
    for key in &path[..path.len() - 1] {
        at = &mut at[*key];
    }
    at[path[path.len() - 1]] = value;
    config
}

fn without(path: &[&str]) -> Value {
    let mut config = base_config(URL);
    let mut at = &mut config;
    for key in &path[..path.len() - 1] {
        at = &mut at[*key];
    }
    at.as_object_mut().unwrap().remove(path[path.len() - 1]);
    config
}

#[test]
fn the_base_config_builds_through_the_factory() {
    assert_eq!(KIND, "http");
    assert_eq!(<HttpChannelFactory as ChannelFactory>::KIND, "http");
    let channel = HttpChannelFactory
        .build(parse(base_config(URL)), &all_secrets())
        .unwrap();
    assert_eq!(channel.kind().as_str(), "http");
    assert_eq!(channel.webhook_subpaths(), ["status"]);
}

#[test]
fn every_bad_pointer_is_named_by_its_key() {
    let cases: &[(&[&str], &str)] = &[
        (&["inbound", "message_id"], "id"),
        (&["inbound", "sender_id"], "/from~"),
        (&["inbound", "items"], "messages"),
        (&["inbound", "sender_name"], "/a~2"),
        (&["inbound", "thread"], "thread"),
        (&["inbound", "text"], "text"),
        (&["inbound", "action_payload"], "~1x"),
        (&["inbound", "media_url"], "media"),
        (&["inbound", "timestamp"], "/ts~"),
        (&["outbound", "provider_message_id"], "id"),
        (&["status", "items"], "statuses"),
        (&["status", "message_id"], "id"),
        (&["status", "status"], "status"),
        (&["status", "thread"], "to"),
    ];
    for (path, bad) in cases {
        let (key, message) = config_error(with(path, json!(bad)));
        assert_eq!(key, path.join("."), "{bad}");
        assert!(message.contains("JSON Pointer"), "{key}: {message}");
    }
    // The empty pointer (the whole item) is a pointer.
    let built = HttpChannelFactory.build(
        parse(with(&["inbound", "sender_id"], json!(""))),
        &all_secrets(),
    );
    assert!(built.is_ok());
}

#[test]
fn templates_signatures_maps_and_limits_are_checked() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(&["outbound", "body"], json!("{\"to\": {{json to}")),
            "outbound.body",
            "",
        ),
        (
            with(&["outbound", "body"], json!("{\"to\": {{json phone}}}")),
            "outbound.body",
            "phone",
        ),
        (
            with(&["outbound", "body"], json!("{\"to\": {{to}}}")),
            "outbound.body",
            "JSON",
        ),
        (
            with(&["outbound", "body"], json!("{\"to\": {{nope to}}}")),
            "outbound.body",
            "nope",
        ),
        (
            with(&["status", "map", "DELIVRD"], json!("done")),
            "status.map.DELIVRD",
            "\"done\"",
        ),
        (
            with(&["status", "map", "QUEUED"], json!("queued")),
            "status.map.QUEUED",
            "sent",
        ),
        (
            with(&["inbound", "signed_payload"], json!("timestamp.body")),
            "inbound.timestamp_header",
            "required",
        ),
        (
            with(&["inbound", "timestamp_header"], json!("X-Timestamp")),
            "inbound.timestamp_header",
            "timestamp.body",
        ),
        (
            with(&["inbound", "tolerance_secs"], json!(60)),
            "inbound.tolerance_secs",
            "timestamp.body",
        ),
        (
            with(&["inbound", "signature_header"], json!("X Signature")),
            "inbound.signature_header",
            "header name",
        ),
        (
            with(&["inbound", "account"], json!(" ")),
            "inbound.account",
            "empty",
        ),
        (
            with(&["outbound", "url"], json!("ftp://sms.example/send")),
            "outbound.url",
            "http",
        ),
        (
            with(&["outbound", "url"], json!("sms.example/send")),
            "outbound.url",
            "URL",
        ),
        (
            with(&["outbound", "timeout_secs"], json!(0)),
            "outbound.timeout_secs",
            "at least 1",
        ),
        (
            without(&["outbound", "signature_header"]),
            "outbound.signature_header",
            "secret_env",
        ),
        (
            without(&["outbound", "secret_env"]),
            "outbound.secret_env",
            "signature_header",
        ),
        (
            with(&["outbound", "signature_header"], json!("Authorization")),
            "outbound.signature_header",
            "itself",
        ),
        (
            with(&["outbound", "signature_header"], json!("bad header")),
            "outbound.signature_header",
            "header name",
        ),
        (
            with(&["capabilities", "max_text_len"], json!(0)),
            "capabilities.max_text_len",
            "at least 1",
        ),
    ];
    for (config, expected_key, fragment) in cases {
        let (key, message) = config_error(config);
        assert_eq!(key, expected_key, "{message}");
        assert!(
            message.contains(fragment),
            "{key}: {message} (wanted {fragment:?})"
        );
    }
}

#[test]
fn signed_payload_timestamp_body_with_its_header_builds() {
    let mut config = with(&["inbound", "signed_payload"], json!("timestamp.body"));
    config["inbound"]["timestamp_header"] = json!("X-Timestamp");
    config["inbound"]["tolerance_secs"] = json!(60);
    assert!(
        HttpChannelFactory
            .build(parse(config), &all_secrets())
            .is_ok()
    );
}

#[test]
fn secrets_come_from_the_context_and_errors_name_the_variable_only() {
    for missing in ["SMS_WEBHOOK_SECRET", "SMS_API_AUTH", "SMS_OUT_SECRET"] {
        let secrets: Vec<(&str, &str)> = [
            ("SMS_WEBHOOK_SECRET", "a"),
            ("SMS_API_AUTH", "b"),
            ("SMS_OUT_SECRET", "c"),
        ]
        .into_iter()
        .filter(|(var, _)| *var != missing)
        .collect();
        match HttpChannelFactory.build(parse(base_config(URL)), &context(&secrets)) {
            // `cx.secret` names the variable in the message (the bridge's check finds the
            // `*_env` key naming it).
            Err(error @ ChannelError::Config { .. }) => {
                assert_eq!(error.to_string(), format!("env var {missing} is not set"));
            }
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("built without {missing}"),
        }
    }
    let bad_auth = context(&[
        ("SMS_WEBHOOK_SECRET", "a"),
        ("SMS_API_AUTH", "Bearer x\nInjected: yes"),
        ("SMS_OUT_SECRET", "c"),
    ]);
    match HttpChannelFactory.build(parse(base_config(URL)), &bad_auth) {
        Err(ChannelError::Config { key, message }) => {
            assert_eq!(key, "outbound.auth_header_env");
            assert!(
                message.contains("SMS_API_AUTH") && !message.contains("Bearer"),
                "{message}"
            );
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("built with a header value holding a newline"),
    }
    // Without [channels.status] and outbound signing, fewer secrets are needed.
    let mut lean = without(&["status"]);
    for key in ["secret_env", "signature_header", "auth_header_env"] {
        lean["outbound"].as_object_mut().unwrap().remove(key);
    }
    let channel = HttpChannelFactory
        .build(parse(lean), &context(&[("SMS_WEBHOOK_SECRET", "a")]))
        .unwrap();
    assert!(channel.webhook_subpaths().is_empty());
}

#[test]
fn capabilities_follow_the_table() {
    let channel = channel(base_config(URL));
    let caps = channel.capabilities();
    assert_eq!(caps.max_text_chars, Some(160));
    assert_eq!(caps.buttons, Some(ButtonLimits::new(3, 20, false)));
    assert_eq!(caps.attachments, None);
    // DELIVRD → delivered, nothing maps to read.
    assert_eq!(caps.receipts, Receipts::Delivered);

    let mut config = without(&["capabilities"]);
    config["capabilities"] = json!({"media": true});
    config.as_object_mut().unwrap().remove("status");
    let channel = support::channel(config);
    let caps = channel.capabilities();
    assert_eq!(caps.max_text_chars, None);
    assert_eq!(caps.buttons, None);
    let attachments = caps.attachments.as_ref().unwrap();
    assert!(attachments.kinds.contains(&MediaKind::Image));
    assert!(attachments.kinds.contains(&MediaKind::Document));
    assert_eq!(caps.receipts, Receipts::None);
}

fn request<'a>(headers: &'a HeaderMap, body: &'a Bytes, subpath: &'a str) -> WebhookRequest<'a> {
    WebhookRequest::new(&Method::POST, headers, None, body).with_subpath(subpath)
}

#[test]
fn status_callbacks_are_verified_like_messages_and_normalised_by_subpath() {
    let channel = channel(base_config(URL));
    let body = Bytes::from(
        json!({"statuses": [{"id": "prov-1", "status": "DELIVRD"}, {"id": "ob_2", "status": "read"}]})
            .to_string(),
    );
    let mut headers = HeaderMap::new();
    let signature = sign_webhook(
        WEBHOOK_SECRET.as_bytes(),
        SignatureEncoding::HmacSha256Hex,
        None,
        None,
        &body,
    );
    headers.insert("x-signature", signature.parse().unwrap());
    channel.verify(&request(&headers, &body, "status")).unwrap();
    let events = channel
        .normalize(&request(&headers, &body, "status"))
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| matches!(e.body, EventBody::DeliveryUpdated(_)))
    );
    assert_eq!(
        events[1].provider_message_id.as_ref().unwrap().as_str(),
        "ob_2"
    );
    // The same body at the message webhook is a message body: no `messages` array.
    assert!(matches!(
        channel.normalize(&request(&headers, &body, "")),
        Err(ChannelError::Malformed(_))
    ));
    assert!(matches!(
        channel.normalize(&request(&headers, &body, "other")),
        Err(ChannelError::Malformed(_))
    ));
    headers.remove("x-signature");
    assert!(matches!(
        channel.verify(&request(&headers, &body, "status")),
        Err(ChannelError::Unauthorized {
            reason: "missing_signature"
        })
    ));
}

/// The `[[channels]]` entry of the README's TOML, without the bridge's own keys.
fn readme_table() -> toml::Table {
    let readme = include_str!("../README.md");
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("its end");
    let document: toml::Table =
        toml::from_str(&readme[start..end]).expect("the README's TOML parses");
    let channels = document["channels"].as_array().expect("[[channels]]");
    let mut table = channels[0].as_table().expect("a table").clone();
    assert_eq!(table.remove("type").unwrap().as_str(), Some("http"));
    assert_eq!(table.remove("id").unwrap().as_str(), Some("sms"));
    table
}

#[test]
fn the_readme_toml_builds() {
    let config: HttpChannelConfig = readme_table()
        .try_into()
        .expect("the README's table deserializes");
    let channel = HttpChannelFactory.build(config, &all_secrets()).unwrap();
    assert_eq!(channel.webhook_subpaths(), ["status"]);
    assert_eq!(channel.capabilities().max_text_chars, Some(160));
}

#[test]
fn unknown_keys_in_toml_are_refused() {
    let mut table = readme_table();
    table["inbound"]
        .as_table_mut()
        .unwrap()
        .insert("sender".into(), toml::Value::String("/from".into()));
    let parsed: Result<HttpChannelConfig, _> = table.try_into();
    let error = parsed.unwrap_err().to_string();
    assert!(error.contains("sender"), "{error}");
}
