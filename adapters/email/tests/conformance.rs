//! The SDK's conformance kit on the email channel: the factory builds from a full
//! `[[channels]]` table and names each secret it needs when unset; the signed raw-MIME
//! webhook keeps the contract through `receive` (the path the bridge takes: threading needs
//! the channel state), so a redelivered mail keeps its de-duplication key and conversation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnibridge_email::EmailFactory;
use omnibridge_email::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use omnibridge_sdk::testkit::{
    Conformance, WebhookFixture, assert_conforms_async, assert_factory_builds,
    check_conformance_async, check_factory,
};
use omnibridge_sdk::{ChannelError, EventBody};
use serde_json::{Value, json};

const WEBHOOK_SECRET: &str = "whsec_conformance_email";

fn table() -> Value {
    json!({
        "id": "acme-mail",
        "type": "email",
        "address": "support@acme.test",
        "display_name": "Acme Support",
        "imap": {"host": "imap.acme.test", "username": "support@acme.test"},
        "imap_password_env": "ACME_MAIL_IMAP_PASSWORD",
        "smtp": {"host": "smtp.acme.test", "username": "support@acme.test", "tls": "starttls"},
        "smtp_password_env": "ACME_MAIL_SMTP_PASSWORD",
        "webhook_secret_env": "ACME_MAIL_WEBHOOK_SECRET",
        "sender_check": {"mode": "none"},
    })
}

const SECRETS: &[(&str, &str)] = &[
    ("ACME_MAIL_IMAP_PASSWORD", "imap-password-value"),
    ("ACME_MAIL_SMTP_PASSWORD", "smtp-password-value"),
    ("ACME_MAIL_WEBHOOK_SECRET", WEBHOOK_SECRET),
];

fn eml(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A webhook delivery of `raw`, signed now (the channel's replay window is 300 s).
fn signed(raw: Vec<u8>) -> WebhookFixture {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = sign(WEBHOOK_SECRET.as_bytes(), timestamp, &raw);
    WebhookFixture::post(raw)
        .header(TIMESTAMP_HEADER, &timestamp.to_string())
        .header(SIGNATURE_HEADER, &signature)
}

#[test]
fn the_factory_builds_from_a_full_table_and_names_each_unset_secret() {
    assert_eq!(
        check_factory(&EmailFactory, table(), SECRETS),
        Vec::<String>::new()
    );
    // The kit's own verdicts are real: an unset secret is a breach of the build.
    let breaches = check_factory(&EmailFactory, table(), &SECRETS[..2]);
    assert!(
        breaches
            .iter()
            .any(|b| b.contains("build failed") && b.contains("ACME_MAIL_WEBHOOK_SECRET")),
        "{breaches:#?}"
    );
}

#[tokio::test]
async fn the_signed_webhook_conforms_through_receive() {
    let channel = assert_factory_builds(&EmailFactory, table(), SECRETS);
    let fixtures: Vec<WebhookFixture> = [
        "plain_new.eml",
        "gmail_reply.eml",
        "outlook_reply.eml",
        "de_reply.eml",
        "fr_reply.eml",
        "out_of_office.eml",
        "mailing_list.eml",
        "bounce_dsn.eml",
    ]
    .into_iter()
    .map(|name| signed(eml(name)))
    .collect();
    assert_conforms_async(
        channel.as_ref(),
        &fixtures,
        &Conformance::signed_body(&[TIMESTAMP_HEADER, SIGNATURE_HEADER]),
    )
    .await;

    // The kit's verdicts are real: a mail signed with another secret is a breach.
    let raw = eml("plain_new.eml");
    let now = chrono::Utc::now().timestamp();
    let forged = WebhookFixture::post(raw.clone())
        .header(TIMESTAMP_HEADER, &now.to_string())
        .header(SIGNATURE_HEADER, &sign(b"another-secret", now, &raw));
    let breaches = check_conformance_async(
        channel.as_ref(),
        &[forged],
        &Conformance::signed_body(&[TIMESTAMP_HEADER, SIGNATURE_HEADER]),
    )
    .await;
    assert!(
        breaches
            .iter()
            .any(|b| b.contains("fixture 0: a signed fixture failed to verify")),
        "{breaches:#?}"
    );

    // What the kit exercised is the real path: the new mail becomes one message event.
    let events = channel.receive(&fixtures[0].request()).await.unwrap();
    assert_eq!(events.len(), 1);
    assert!(matches!(events[0].body, EventBody::MessageReceived(_)));
    assert!(events[0].provider_message_id.is_some());
    // A stale signature is refused like a missing one.
    let old = chrono::Utc::now().timestamp() - 3_600;
    let stale = WebhookFixture::post(raw.clone())
        .header(TIMESTAMP_HEADER, &old.to_string())
        .header(
            SIGNATURE_HEADER,
            &sign(WEBHOOK_SECRET.as_bytes(), old, &raw),
        );
    assert!(matches!(
        channel.verify(&stale.request()),
        Err(ChannelError::Unauthorized {
            reason: "stale_timestamp"
        })
    ));
}
