//! Secrets never in logs, proven: a real `omnibridge serve` process at `RUST_LOG=trace`
//! (every crate, every level; stdout and stderr captured) with a config holding every kind
//! of secret the bridge takes — API key, business-webhook secret, WhatsApp access token, app
//! secret and verify token, email webhook secret, IMAP and SMTP passwords, Stripe secret key
//! and webhook secret, the challenge-binding secret — drives traffic that uses each of them:
//! a web-chat message, Meta's handshake, a signed WhatsApp webhook and a reply through the
//! fake Graph API, a signed email webhook and a reply sent through a real SMTP server that
//! requires AUTH with the SMTP password, an IMAP login refused by a real Dovecot (the
//! configured password is not the mailbox's), a sandbox payment and a Stripe payment (SPT,
//! credential, receipt, refund, signed Stripe webhook), and failed logins (wrong API key,
//! forged signatures).
//! The captured output is then searched for every secret, token, credential, receipt and
//! message body, and for the base64 forms a wire protocol would carry. Set
//! `LOGS_TEST_DUMP=<file>` to keep the captured output for a look.

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mpp::protocol::core::{PaymentCredential, format_authorization, parse_www_authenticate};
use omnibridge_whatsapp::fake::{FAKE_TOKEN, FakeGraph};
use serde_json::{Value, json};

use crate::email::dovecot::Dovecot;
use crate::email::smtp_server::SmtpServer;
use crate::payments::processes::webchat_conversation;
use crate::payments::stripe::{NETWORK, spt_credential};
use crate::process::free_port;
use crate::support::stripe_fake::StripeFake;

const KEY: &str = "logs-api-key-0123456789abcdef";
const WRONG_KEY: &str = "logs-wrong-api-key-presented-9876";
const PAYMENTS_SECRET: &str = "payments-hmac-secret-never-logged-0123456789";
const CRM_SECRET: &str = "crm-webhook-signing-secret-4711";
const WA_APP_SECRET: &str = "whatsapp-app-secret-5f3c2a";
const WA_VERIFY: &str = "whatsapp-verify-token-8d1e";
const MAIL_HOOK_SECRET: &str = "mail-webhook-secret-0b7e44";
const IMAP_PASSWORD: &str = "imap-password-c0ffee-42";
const SMTP_PASSWORD: &str = "smtp-password-decaf-17";
const PN: &str = "106540352242922";

/// Message bodies: never logged either.
const WEBCHAT_TEXT: &str = "hello";
const WA_TEXT: &str = "my card ends 4242, secret-order-text-wa";
const MAIL_TEXT: &str = "secret-order-text-mail please call me";
const REPLY_TEXT: &str = "secret-reply-text-from-the-business";

fn config(graph: &str, imap: u16, smtp: u16, hooks: u16) -> String {
    format!(
        r#"
[[webhooks]]
name = "crm"
url = "http://127.0.0.1:{hooks}/hook"
secret_env = "LOGS_CRM_SECRET"
max_attempts = 2
initial_backoff_ms = 10

[payments]
sandbox = true

[payments.stripe]
enabled = true
network_id = "{NETWORK}"

[[channels]]
id = "acme-wa"
type = "whatsapp"
phone_number_id = "{PN}"
access_token_env = "LOGS_WA_TOKEN"
app_secret_env = "LOGS_WA_APP_SECRET"
verify_token_env = "LOGS_WA_VERIFY"
api_base = "{graph}"

[[channels]]
id = "acme-mail"
type = "email"
address = "support@acme.test"
imap_password_env = "LOGS_IMAP_PASSWORD"
smtp_password_env = "LOGS_SMTP_PASSWORD"
webhook_secret_env = "LOGS_MAIL_SECRET"

[channels.imap]
host = "127.0.0.1"
port = {imap}
tls = "none"
username = "{imap_user}"
poll_secs = 1

[channels.smtp]
host = "127.0.0.1"
port = {smtp}
tls = "none"
username = "support"

[channels.sender_check]
mode = "none"
"#,
        imap_user = crate::email::dovecot::USER,
    )
}

fn whatsapp_body(text: &str) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PN},
            "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "34600000001"}],
            "messages": [{"from": "34600000001", "id": "wamid.logs1",
                "timestamp": chrono::Utc::now().timestamp().to_string(),
                "type": "text", "text": {"body": text}}]}}]}]})
    .to_string()
    .into_bytes()
}

fn mail(text: &str) -> Vec<u8> {
    format!(
        "From: Anna <anna@customer.test>\r\nTo: support@acme.test\r\nSubject: Order\r\n\
         Message-ID: <logs1@customer.test>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    )
    .into_bytes()
}

struct Bridge {
    child: std::process::Child,
    base: String,
    client: reqwest::Client,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bridge {
    async fn conversation_of(&self, channel: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let list: Value = self
                .client
                .get(format!("{}/v1/conversations", self.base))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let found = list["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["channel"] == channel)
                .and_then(|c| c["id"].as_str().map(str::to_owned));
            if let Some(id) = found {
                return id;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {channel} conversation"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn reply(&self, conversation: &str) {
        let sent = self
            .client
            .post(format!(
                "{}/v1/conversations/{conversation}/messages",
                self.base
            ))
            .bearer_auth(KEY)
            .json(&json!({ "text": REPLY_TEXT }))
            .send()
            .await
            .unwrap();
        assert!(sent.status().is_success(), "{}", sent.status());
    }

    /// Creates an intent, pays it with `authorize(challenge)` for the challenge of `method`;
    /// returns (credential, receipt).
    async fn pay(
        &self,
        conversation: &str,
        method: &str,
        authorize: impl Fn(&mpp::protocol::core::PaymentChallenge) -> String,
    ) -> (String, String) {
        let intent: Value = self
            .client
            .post(format!("{}/v1/payment-intents", self.base))
            .bearer_auth(KEY)
            .json(
                &json!({"conversation_id": conversation, "amount": 4200, "currency": "EUR",
                "description": "Logged"}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = intent["id"].as_str().unwrap();
        let probe = self
            .client
            .get(format!("{}/pay/{id}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(probe.status(), 402);
        let challenge = probe
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| parse_www_authenticate(v.to_str().unwrap()).unwrap())
            .find(|c| c.method.as_str() == method)
            .expect("a challenge for the method");
        let authorization = authorize(&challenge);
        let paid = self
            .client
            .post(format!("{}/pay/{id}", self.base))
            .header("authorization", &authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(paid.status(), 200, "{method}");
        let receipt = paid.headers()["payment-receipt"]
            .to_str()
            .unwrap()
            .to_owned();
        if method == "stripe" {
            let refunded = self
                .client
                .post(format!("{}/v1/payment-intents/{id}/refund", self.base))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(refunded.status(), 200);
        }
        let credential = authorization.trim_start_matches("Payment ").to_owned();
        (credential, receipt)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_configured_secret_stays_out_of_trace_logs() {
    let stripe = StripeFake::start().await;
    let graph = FakeGraph::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("omnibridge.toml");
    // A real Dovecot whose user's password is not IMAP_PASSWORD: the login fails (and
    // retries); a real SMTP server that takes exactly support/SMTP_PASSWORD.
    let dovecot = Dovecot::start();
    let smtp = SmtpServer::start_with_password(&dir.path().join("smtp"), "support", SMTP_PASSWORD);
    let (port, hooks) = (free_port(), free_port());
    std::fs::write(
        &config_path,
        config(&graph.base_url(), dovecot.port(), smtp.port(), hooks),
    )
    .unwrap();
    let (stdout_path, stderr_path) = (dir.path().join("stdout.log"), dir.path().join("stderr.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_omnibridge"))
        .arg("--config")
        .arg(&config_path)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "trace")
        .env("OMNIBRIDGE_API_KEYS", KEY)
        .env(
            "OMNIBRIDGE__TEMPLATES__DIR",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
        )
        .env("OMNIBRIDGE_PAYMENTS_SECRET", PAYMENTS_SECRET)
        .env("OMNIBRIDGE__PAYMENTS__STRIPE__API_BASE", stripe.url())
        .env("OMNIBRIDGE_STRIPE_SECRET_KEY", stripe.secret_key())
        .env("OMNIBRIDGE_STRIPE_WEBHOOK_SECRET", stripe.webhook_secret())
        .env("LOGS_CRM_SECRET", CRM_SECRET)
        .env("LOGS_WA_TOKEN", FAKE_TOKEN)
        .env("LOGS_WA_APP_SECRET", WA_APP_SECRET)
        .env("LOGS_WA_VERIFY", WA_VERIFY)
        .env("LOGS_MAIL_SECRET", MAIL_HOOK_SECRET)
        .env("LOGS_IMAP_PASSWORD", IMAP_PASSWORD)
        .env("LOGS_SMTP_PASSWORD", SMTP_PASSWORD)
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let bridge = Bridge {
        child,
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
    };
    let (base, client) = (bridge.base.clone(), bridge.client.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bridge not ready: {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Web chat, and a failed login with a wrong API key.
    let webchat = webchat_conversation(&base).await;
    let refused = client
        .get(format!("{base}/v1/conversations"))
        .bearer_auth(WRONG_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // WhatsApp: Meta's handshake, a wrongly and a correctly signed webhook, a reply.
    let handshake = client
        .get(format!(
            "{base}/webhooks/acme-wa?hub.mode=subscribe&hub.verify_token={WA_VERIFY}&hub.challenge=77"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), 200);
    let body = whatsapp_body(WA_TEXT);
    let wa_signature = omnibridge_whatsapp::inbound::sign(WA_APP_SECRET.as_bytes(), &body);
    let forged = omnibridge_whatsapp::inbound::sign(b"not-the-app-secret", &body);
    for (signature, status) in [(&forged, 401), (&wa_signature, 200)] {
        let response = client
            .post(format!("{base}/webhooks/acme-wa"))
            .header("x-hub-signature-256", signature)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
    }
    let wa = bridge.conversation_of("whatsapp").await;
    bridge.reply(&wa).await;

    // Email: a signed webhook mail and a reply (SMTP at a closed port: fails and retries).
    let raw = mail(MAIL_TEXT);
    let now = chrono::Utc::now().timestamp();
    let mail_signature = omnibridge_email::webhook::sign(MAIL_HOOK_SECRET.as_bytes(), now, &raw);
    let response = client
        .post(format!("{base}/webhooks/acme-mail"))
        .header("content-type", "message/rfc822")
        .header(omnibridge_email::webhook::TIMESTAMP_HEADER, now.to_string())
        .header(omnibridge_email::webhook::SIGNATURE_HEADER, &mail_signature)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let email = bridge.conversation_of("email").await;
    bridge.reply(&email).await;

    // Payments: the sandbox method, then Stripe (SPT) with a refund and a signed webhook.
    let (sandbox_credential, sandbox_receipt) = bridge
        .pay(&webchat, "sandbox", |challenge| {
            format_authorization(&PaymentCredential::new(
                challenge.to_echo(),
                json!({ "token": "tok_sandbox_success" }),
            ))
            .unwrap()
        })
        .await;
    let spt = format!("spt_success_logcheck{}", ulid::Ulid::new());
    let (stripe_credential, stripe_receipt) = bridge
        .pay(&webchat, "stripe", |challenge| {
            spt_credential(challenge, &spt)
        })
        .await;
    let (hook_body, stripe_signature) = stripe.signed_event(
        "charge.refunded",
        json!({"id": "ch_log", "object": "charge", "amount_refunded": 4200,
            "payment_intent": "pi_unknown", "metadata": {"intent_id": "pi_none"}}),
    );
    let hook = client
        .post(format!("{base}/payments/stripe/webhook"))
        .header("stripe-signature", &stripe_signature)
        .body(hook_body)
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 200);

    // The reply reached the fake Graph API (the access token was used).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while graph.accepted().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no WhatsApp send");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The reply went out over SMTP with AUTH (the password was used).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !smtp
        .delivered_messages()
        .iter()
        .any(|m| String::from_utf8_lossy(m).contains(REPLY_TEXT))
    {
        assert!(tokio::time::Instant::now() < deadline, "no mail delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Dovecot refused the bridge's login (the password was presented).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !dovecot.log().contains("auth failed")
        && !dovecot.log().contains("Authentication failed")
        && !dovecot.log().contains("Disconnected (auth failed")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Dovecot saw no failed login: {}",
            dovecot.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the business webhook attempts and the IMAP retry log a round more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(bridge);

    let logs = std::fs::read_to_string(&stderr_path).unwrap()
        + &std::fs::read_to_string(&stdout_path).unwrap();
    assert!(logs.contains("TRACE"), "trace logging was on");
    if let Some(path) = std::env::var_os("LOGS_TEST_DUMP") {
        std::fs::write(path, &logs).unwrap();
    }
    assert!(
        logs.contains("stripe settled the charge"),
        "the payment was logged"
    );
    // The mail side really ran: the IMAP listener and the SMTP send failed at the closed port.
    let lower = logs.to_lowercase();
    assert!(
        lower.contains("imap") && lower.contains("smtp"),
        "mail was attempted"
    );
    let wa_hex = wa_signature.trim_start_matches("sha256=").to_owned();
    let mail_hex = mail_signature.trim_start_matches("v1=").to_owned();
    let stripe_v1 = stripe_signature.split("v1=").nth(1).unwrap().to_owned();
    let mut secrets: Vec<(String, String)> = [
        ("API key", KEY),
        ("wrong API key", WRONG_KEY),
        ("payments HMAC secret", PAYMENTS_SECRET),
        ("business webhook secret", CRM_SECRET),
        ("WhatsApp access token", FAKE_TOKEN),
        ("WhatsApp app secret", WA_APP_SECRET),
        ("WhatsApp verify token", WA_VERIFY),
        ("email webhook secret", MAIL_HOOK_SECRET),
        ("IMAP password", IMAP_PASSWORD),
        ("SMTP password", SMTP_PASSWORD),
        ("Stripe secret key", stripe.secret_key()),
        ("Stripe webhook secret", stripe.webhook_secret()),
        ("SPT", &spt),
        ("sandbox credential", &sandbox_credential),
        ("Stripe credential", &stripe_credential),
        ("sandbox receipt", &sandbox_receipt),
        ("Stripe receipt", &stripe_receipt),
        ("WhatsApp signature", &wa_hex),
        ("email webhook signature", &mail_hex),
        ("Stripe webhook signature", &stripe_v1),
        ("WhatsApp message body", WA_TEXT),
        ("email body", MAIL_TEXT),
        ("reply body", REPLY_TEXT),
    ]
    .into_iter()
    .map(|(what, secret)| (what.to_owned(), secret.to_owned()))
    .collect();
    // What a wire protocol would carry: base64 of the passwords and tokens (SMTP/IMAP AUTH
    // PLAIN, XOAUTH2, Basic), standard and URL-safe.
    let mut encoded = Vec::new();
    for (what, secret) in &secrets {
        if what.contains("body") || what.contains("credential") || what.contains("receipt") {
            continue;
        }
        encoded.push((format!("{what} (base64)"), STANDARD.encode(secret)));
        encoded.push((
            format!("{what} (base64url)"),
            URL_SAFE_NO_PAD.encode(secret),
        ));
    }
    encoded.push((
        "AUTH PLAIN (SMTP)".into(),
        STANDARD.encode(format!("\0support\0{SMTP_PASSWORD}")),
    ));
    encoded.push((
        "AUTH PLAIN (IMAP)".into(),
        STANDARD.encode(format!("\0support\0{IMAP_PASSWORD}")),
    ));
    secrets.extend(encoded);
    let leaks: Vec<&str> = secrets
        .iter()
        .filter(|(_, secret)| logs.contains(secret.as_str()))
        .map(|(what, _)| what.as_str())
        .collect();
    assert!(leaks.is_empty(), "in the logs: {leaks:?}");
}
