//! Attachments both ways: an Outlook reply's inline image and PDF are stored (or refused
//! over the channel's cap, the mail still accepted), and a reply through the API attaches
//! stored media by reference.

use serde_json::{Value, json};

use super::smtp_server::SmtpServer;
use super::{WEBHOOK_SECRET, post_mail, smtp_config, spawn_mail, wait_conversation, wait_mail};
use crate::helpers::API_KEY;

fn outlook_reply() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("adapters/email/tests/fixtures/outlook_reply.eml"),
    )
    .unwrap()
}

#[tokio::test]
async fn attachments_are_stored_refused_over_the_cap_and_sent_by_reference() {
    let maildir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(maildir.path());
    // The fixture's inline PNG has 70 bytes, its PDF 224: a cap of 100 keeps one.
    let app = spawn_mail(
        json!({"smtp": smtp_config(&smtp), "max_media_bytes": 100}),
        &[],
    )
    .await;
    let response = post_mail(&app, &outlook_reply(), Some(WEBHOOK_SECRET), None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 3, "the text and two attachments: {body}");
    let conversation = wait_conversation(&app, |events| {
        events.iter().any(|e| e["type"] == "media.stored")
            && events.iter().any(|e| e["type"] == "media.failed")
    })
    .await;
    let events = app.history(&conversation).await;
    let stored = events.iter().find(|e| e["type"] == "media.stored").unwrap();
    let failed = events.iter().find(|e| e["type"] == "media.failed").unwrap();
    assert_eq!(
        stored["data"]["media"]["mime_type"], "image/png",
        "{stored}"
    );
    assert_eq!(failed["data"]["code"], "media_too_large", "{failed}");
    let url = stored["data"]["media"]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&app.base),
        "media URLs follow the bound address: {url}"
    );
    let png = app
        .client
        .get(url)
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    let png = png.bytes().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the decoded image");
    let media_id = url.rsplit('/').next().unwrap().to_owned();

    // Send it back by reference.
    let response = app
        .send_message(
            &conversation,
            json!({"text": "Is this the damage?", "attachments": [{"media_id": media_id, "filename": "damage.png"}]}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let mail = wait_mail(&smtp, |m| m.text.contains("Is this the damage?")).await;
    let parsed = omnibridge_email::parse::parse_mail(&mail.raw).unwrap();
    assert_eq!(parsed.attachments.len(), 1);
    assert_eq!(
        parsed.attachments[0].filename.as_deref(),
        Some("damage.png")
    );
    assert_eq!(
        omnibridge_email::parse::attachment_bytes(&mail.raw, 0).unwrap(),
        png.to_vec()
    );

    // Unknown media, and attachments on a channel without them, are refused up front.
    let unknown = app
        .send_message(
            &conversation,
            json!({"text": "x", "attachments": [{"media_id": "md_01jnope"}]}),
        )
        .await;
    assert_eq!(unknown.status(), 422);
    let chat = app.conversation_from("no-attachments").await;
    let refused = app
        .send_message(
            &chat,
            json!({"text": "x", "attachments": [{"media_id": media_id}]}),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "attachments_not_supported");
}
