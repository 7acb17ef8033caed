//! The email channel through the whole bridge: the signed raw-MIME webhook, IMAP against a
//! real Dovecot, SMTP into a real mailbox (aiosmtpd delivering into a Dovecot maildir), and
//! payments from the inbox (confirmation link, "PAY" reply with a real DKIM check).

mod imap;
mod inbox;
mod instances;
mod media;
mod pay;
mod webhook;

#[path = "../../../adapters/email/tests/support/dns.rs"]
pub mod dns;
#[path = "../../../adapters/email/tests/support/dovecot.rs"]
pub mod dovecot;
#[path = "../../../adapters/email/tests/support/smtp_server.rs"]
pub mod smtp_server;

use std::time::Duration;

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
    // Through serde, as the config file is read (bridge-level keys like max_media_bytes).
    rest["id"] = json!(ID);
    rest["type"] = json!("email");
    let settings: ChannelSettings = serde_json::from_value(rest).unwrap();
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
        Arc::new(lookup),
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

/// Waits until the SMTP server delivered a mail matching `predicate`; returns it parsed as
/// (raw bytes, headers and text).
pub async fn wait_mail(smtp: &smtp_server::SmtpServer, predicate: impl Fn(&Mail) -> bool) -> Mail {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mails: Vec<Mail> = smtp
            .delivered_messages()
            .iter()
            .map(|raw| Mail::parse(raw))
            .collect();
        if let Some(found) = mails.into_iter().find(|m| predicate(m)) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no such mail; delivered: {:#?}",
            smtp.delivered_messages()
                .iter()
                .map(|raw| Mail::parse(raw).subject)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The parts of a delivered mail the tests look at.
#[derive(Clone, Debug)]
pub struct Mail {
    pub raw: Vec<u8>,
    pub message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub reply_to: String,
    pub subject: String,
    pub to: String,
    pub text: String,
    pub html: Option<String>,
    pub auto_submitted: Option<String>,
}

impl Mail {
    pub fn parse(raw: &[u8]) -> Mail {
        let parsed = omnibridge_email::parse::parse_mail(raw).unwrap();
        let header = |name: &str| {
            let text = String::from_utf8_lossy(raw);
            text.lines()
                .take_while(|line| !line.is_empty())
                .find(|line| {
                    line.to_ascii_lowercase()
                        .starts_with(&format!("{}:", name.to_ascii_lowercase()))
                })
                .map(|line| line[name.len() + 1..].trim().to_owned())
        };
        Mail {
            raw: raw.to_vec(),
            message_id: parsed.message_id.clone().unwrap_or_default(),
            in_reply_to: parsed.in_reply_to.clone(),
            references: parsed.references.clone(),
            reply_to: parsed
                .reply_to
                .first()
                .map(|a| a.email.clone())
                .unwrap_or_default(),
            subject: parsed.subject.clone().unwrap_or_default(),
            to: parsed
                .to
                .first()
                .map(|a| a.email.clone())
                .unwrap_or_default(),
            text: parsed.text.clone(),
            html: parsed.html.clone(),
            auto_submitted: header("Auto-Submitted"),
        }
    }
}

/// Waits until the bridge lists an email conversation whose thread has an event matching
/// `predicate`; returns the conversation id.
pub async fn wait_conversation(app: &TestApp, predicate: impl Fn(&[Value]) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let list = app.conversation_list().await;
        for conversation in list["data"].as_array().cloned().unwrap_or_default() {
            let id = conversation["id"].as_str().unwrap_or_default().to_owned();
            if predicate(&app.history(&id).await) {
                return id;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no such conversation: {list:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the history has a received message with this Message-ID.
pub fn has_message(events: &[Value], message_id: &str) -> bool {
    events
        .iter()
        .any(|e| e["type"] == "message.received" && e["provider_message_id"] == message_id)
}

/// The SMTP settings for a local aiosmtpd.
pub fn smtp_config(smtp: &smtp_server::SmtpServer) -> Value {
    json!({"host": "127.0.0.1", "port": smtp.port(), "tls": "none", "timeout_secs": 5})
}
