//! Pay from the inbox, through the same MPP exchange as every channel: the confirmation
//! link (GET changes nothing, POST settles), and a "PAY" reply that pays only when it is
//! DKIM-signed by the customer's domain (a real dnsmasq serves the key), comes from the
//! customer, and is addressed to the intent's reply address.

use base64::Engine as _;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use serde_json::{Value, json};

use super::dns::Dnsmasq;
use super::smtp_server::SmtpServer;
use super::{
    Mail, WEBHOOK_SECRET, customer_mail, has_message, post_mail, smtp_config, spawn_mail,
    wait_conversation, wait_mail,
};
use crate::helpers::{TestApp, next_event};
use crate::payments::{create_intent, get_intent};

const ANNA: &str = "Anna <anna@customer.test>";

/// A conversation started by Anna's mail `message_id`.
async fn conversation(app: &TestApp, message_id: &str) -> String {
    let mail = customer_mail(
        message_id,
        ANNA,
        "support@acme.test",
        "Order 42",
        "I'd like to buy it.",
    );
    let response = post_mail(app, mail.as_bytes(), Some(WEBHOOK_SECRET), None).await;
    assert_eq!(response.status(), 200);
    wait_conversation(app, |events| has_message(events, message_id)).await
}

fn confirm_url(mail: &Mail) -> String {
    let start = mail.text.find("/confirm/").expect("a confirmation link");
    let begin = mail.text[..start].rfind("http").unwrap();
    let end = mail.text[start..]
        .find(char::is_whitespace)
        .map_or(mail.text.len(), |i| start + i);
    mail.text[begin..end].to_owned()
}

#[tokio::test]
async fn the_confirmation_link_shows_the_charge_on_get_and_pays_on_post() {
    let maildir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(maildir.path());
    let app = spawn_mail(json!({"smtp": smtp_config(&smtp)}), &[]).await;
    let mut succeeded = app.sse("?type=payment.succeeded", None).await;
    let conversation = conversation(&app, "buy@customer.test").await;
    let intent = create_intent(&app, &conversation, 1250, "USD").await;
    let intent_id = intent["id"].as_str().unwrap().to_owned();

    let request = wait_mail(&smtp, |m| m.text.contains("/confirm/")).await;
    assert!(request.text.contains("$12.50"), "{}", request.text);
    assert!(request.text.contains("reply PAY"), "{}", request.text);
    assert!(
        request.text.contains(&format!("/pay/{intent_id}")),
        "the MPP URL for agents"
    );
    let html = request.html.as_deref().expect("an HTML part");
    assert!(html.contains("Pay $12.50"), "{html}");
    assert_eq!(request.auto_submitted.as_deref(), Some("auto-replied"));
    assert!(
        request.reply_to.contains(&intent_id),
        "the intent's reply address: {}",
        request.reply_to
    );
    assert_eq!(request.in_reply_to, vec!["buy@customer.test".to_owned()]);
    // No public_url is configured: the link is on the address the bridge is bound to.
    let link = confirm_url(&request);
    assert!(
        link.starts_with(&format!("{}/confirm/", app.base)),
        "{link}"
    );

    // A mail scanner follows the link: nothing is paid.
    for _ in 0..3 {
        let page = app.client.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        assert!(
            page.contains("$12.50") && page.contains("<form method=\"post\""),
            "{page}"
        );
    }
    assert_eq!(
        get_intent(&app, &intent_id).await["state"],
        "requires_confirmation"
    );
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 0);

    // A forged or tampered token is not a link.
    let forged = link.replace(&intent_id, "payint_01jzzzzzzzzzzzzzzzzzzzzzzz");
    assert_eq!(app.client.post(&forged).send().await.unwrap().status(), 404);

    // The button: settles through the MPP endpoint.
    let paid = app.client.post(&link).send().await.unwrap();
    assert_eq!(paid.status(), 200);
    assert!(paid.text().await.unwrap().contains("Paid"));
    let event = next_event(&mut succeeded).await;
    let event: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(event["data"]["intent_id"], intent_id.as_str());
    assert_eq!(event["conversation_id"], conversation.as_str());
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 1);

    // The receipt, in the same thread.
    let receipt = wait_mail(&smtp, |m| m.text.contains("Payment received")).await;
    assert_eq!(receipt.in_reply_to, request.in_reply_to);
    assert!(
        receipt.references.contains(&request.message_id),
        "{:?}",
        receipt.references
    );
    assert!(
        receipt.subject.starts_with("Re: Order 42"),
        "{}",
        receipt.subject
    );

    // Pressing again does not pay twice.
    let again = app.client.post(&link).send().await.unwrap();
    assert_eq!(again.status(), 409);
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 1);
}

struct Signer {
    der: Vec<u8>,
    dns: Dnsmasq,
}

impl Signer {
    fn start() -> Signer {
        let der = Ed25519Key::generate_pkcs8().unwrap();
        let key = Ed25519Key::from_pkcs8_der(&der).unwrap();
        let public = base64::engine::general_purpose::STANDARD.encode(key.public_key());
        let record = format!("v=DKIM1; k=ed25519; p={public}");
        let dns = Dnsmasq::start(&[("sel._domainkey.customer.test", record.as_str())]);
        Signer { der, dns }
    }

    fn sign(&self, mail: &str) -> String {
        let key = Ed25519Key::from_pkcs8_der(&self.der).unwrap();
        let signature = DkimSigner::from_key(key)
            .domain("customer.test")
            .selector("sel")
            .headers(["From", "To", "Subject", "Date", "Message-ID", "In-Reply-To"])
            .sign(mail.as_bytes())
            .unwrap();
        format!("{}{mail}", signature.to_header())
    }
}

/// Anna's reply to the payment request `request`, from `from`, saying `body`.
fn reply(request: &Mail, message_id: &str, from: &str, body: &str) -> String {
    customer_mail(
        message_id,
        from,
        &request.reply_to,
        &format!("Re: {}", request.subject),
        &format!("{body}\r\n\r\nOn Tue, 24 Nov 2026, Acme Support wrote:\r\n> Reply PAY to pay"),
    )
    .replace(
        "MIME-Version",
        &format!("In-Reply-To: <{}>\r\nMIME-Version", request.message_id),
    )
}

#[tokio::test]
async fn a_dkim_signed_pay_reply_pays_once_and_unverified_ones_get_a_safety_mail() {
    let maildir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(maildir.path());
    let signer = Signer::start();
    let app = spawn_mail(
        json!({
            "smtp": smtp_config(&smtp),
            "sender_check": {"mode": "dkim", "dns_server": signer.dns.addr().to_string()},
        }),
        &[],
    )
    .await;
    let mut succeeded = app.sse("?type=payment.succeeded", None).await;
    let conversation = conversation(&app, "buy2@customer.test").await;
    let intent = create_intent(&app, &conversation, 4200, "EUR").await;
    let intent_id = intent["id"].as_str().unwrap().to_owned();
    let request = wait_mail(&smtp, |m| m.reply_to.contains(&intent_id)).await;

    // Signed by Anna's domain, from Anna, to the intent's address: pays, once, even when the
    // same reply arrives twice.
    let pay = signer.sign(&reply(&request, "pay1@customer.test", ANNA, "PAY"));
    for _ in 0..2 {
        let response = post_mail(&app, pay.as_bytes(), Some(WEBHOOK_SECRET), None).await;
        assert_eq!(response.status(), 200);
    }
    let event = next_event(&mut succeeded).await;
    let event: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(event["data"]["intent_id"], intent_id.as_str());
    wait_mail(&smtp, |m| m.text.contains("Payment received")).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 1, "one charge");

    // A second intent; replies that must not pay.
    let intent = create_intent(&app, &conversation, 990, "EUR").await;
    let second = intent["id"].as_str().unwrap().to_owned();
    let request = wait_mail(&smtp, |m| m.reply_to.contains(&second)).await;
    let cases = [
        // Unsigned: anyone can claim Anna's address.
        (
            "forged1@customer.test",
            reply(&request, "forged1@customer.test", ANNA, "PAY"),
        ),
        // Signed, then the body changed (DKIM fails).
        (
            "forged2@customer.test",
            signer
                .sign(&reply(&request, "forged2@customer.test", ANNA, "PAY"))
                .replace("\r\nPAY\r\n", "\r\nPay\r\n"),
        ),
        // Signed by the right domain but from another person.
        (
            "forged3@customer.test",
            signer.sign(&reply(
                &request,
                "forged3@customer.test",
                "Mallory <mallory@customer.test>",
                "PAY",
            )),
        ),
    ];
    for (id, mail) in &cases {
        let response = post_mail(&app, mail.as_bytes(), Some(WEBHOOK_SECRET), None).await;
        assert_eq!(response.status(), 200, "{id}");
    }
    let events = app
        .wait_for_history(&conversation, |events| {
            cases.iter().all(|(id, _)| has_message(events, id))
        })
        .await;
    for (id, _) in &cases {
        let event = events
            .iter()
            .find(|e| e["provider_message_id"] == *id)
            .unwrap();
        let check = &event["data"]["confirmation"];
        assert_eq!(check["allowed"], false, "{id}: {event}");
        assert!(
            check["reason"].as_str().is_some(),
            "{id}: the event says why"
        );
    }
    let reasons: Vec<&str> = cases
        .iter()
        .map(|(id, _)| {
            events
                .iter()
                .find(|e| e["provider_message_id"] == *id)
                .unwrap()["data"]["confirmation"]["reason"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(
        reasons[0].starts_with("sender_not_authenticated"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("sender_not_authenticated"),
        "{reasons:?}"
    );
    assert_eq!(reasons[2], "sender_mismatch");
    let safety = wait_mail(&smtp, |m| m.text.contains("could not confirm")).await;
    assert!(
        safety.text.contains("/confirm/"),
        "says how to pay safely: {}",
        safety.text
    );
    assert_eq!(safety.auto_submitted.as_deref(), Some("auto-replied"));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        get_intent(&app, &second).await["state"],
        "requires_confirmation"
    );
    assert_eq!(
        app.sandbox.as_ref().unwrap().settlements(),
        1,
        "nothing charged"
    );
}
