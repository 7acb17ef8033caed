//! The email channel through the whole bridge: the signed raw-MIME webhook, IMAP against a
//! real Dovecot, SMTP into a real mailbox (aiosmtpd delivering into a Dovecot maildir), and
//! payments from the inbox (confirmation link, "PAY" reply with a real DKIM check).

mod webhook;

use std::sync::Arc;

use omnibridge::config::ChannelSettings;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with_env};

/// The email channel's config id.
pub const ID: &str = "acme-mail";
/// The business mailbox.
pub const ADDRESS: &str = "support@acme.test";
/// The raw-MIME webhook secret.
pub const WEBHOOK_SECRET: &str = "e2e-mail-webhook-secret";

/// A bridge with one email channel built from its `[[channels]]` table (`extra` keys override
/// the defaults: webhook on, SMTP at a closed port, no IMAP, no sender check).
pub async fn spawn_mail(extra: Value, env: &[(&str, &str)]) -> TestApp {
    let mut rest = json!({
        "address": ADDRESS,
        "display_name": "Acme Support",
        "webhook_secret_env": "E2E_MAIL_WEBHOOK_SECRET",
        "smtp": {"host": "127.0.0.1", "port": 9, "tls": "none"},
        "sender_check": {"mode": "none"},
    });
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        rest[key] = value;
    }
    let settings = ChannelSettings::new(ID, "email", rest.as_object().cloned().unwrap());
    let mut vars: Vec<(String, String)> =
        vec![("E2E_MAIL_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into())];
    vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let vars = Arc::new(vars);
    let lookup = move |name: &str| {
        vars.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    spawn_app_with_env(
        |s| {
            s.channels = vec![settings];
        },
        Vec::new(),
        &lookup,
    )
    .await
}

/// Posts a raw mail to the webhook, signed at `timestamp` (now when `None`).
pub async fn post_mail(
    app: &TestApp,
    raw: &[u8],
    secret: Option<&str>,
    timestamp: Option<i64>,
) -> reqwest::Response {
    let timestamp = timestamp.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let mut request = app
        .client
        .post(app.url(&format!("/webhooks/{ID}")))
        .header("content-type", "message/rfc822")
        .body(raw.to_vec());
    if let Some(secret) = secret {
        request = request
            .header(
                omnibridge_email::webhook::TIMESTAMP_HEADER,
                timestamp.to_string(),
            )
            .header(
                omnibridge_email::webhook::SIGNATURE_HEADER,
                omnibridge_email::webhook::sign(secret.as_bytes(), timestamp, raw),
            );
    }
    request.send().await.unwrap()
}

/// A plain customer mail.
pub fn customer_mail(message_id: &str, from: &str, to: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}
