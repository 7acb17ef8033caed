//! A real mailbox round trip: mail waiting in Dovecot before the bridge starts is backfilled
//! over IMAP, new mail arrives through IDLE, a reply sent through the API goes out over SMTP
//! (aiosmtpd) into the customer's Dovecot mailbox, where `THREAD=REFERENCES` puts it in the
//! customer's thread; SMTP 4xx is retried, 5xx fails the delivery.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::dovecot::{Dovecot, PASSWORD, USER};
use super::smtp_server::SmtpServer;
use super::{
    WEBHOOK_SECRET, customer_mail, has_message, post_mail, smtp_config, spawn_mail,
    wait_conversation, wait_mail,
};

const ANNA: &str = "anna@customer.test";

/// `UID THREAD REFERENCES UTF-8 ALL` on the user's INBOX, over a plain IMAP connection;
/// returns the server's `* THREAD` line.
fn thread_references(dovecot: &Dovecot) -> String {
    let stream = TcpStream::connect(("127.0.0.1", dovecot.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut thread = String::new();
    for (tag, command) in [
        ("a", format!("LOGIN {USER} {PASSWORD}")),
        ("b", "SELECT INBOX".to_owned()),
        ("c", "UID THREAD REFERENCES UTF-8 ALL".to_owned()),
        ("d", "LOGOUT".to_owned()),
    ] {
        writer
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .unwrap();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if line.starts_with("* THREAD") {
                thread = line.trim().to_owned();
            }
            if line.starts_with(&format!("{tag} ")) {
                assert!(line.starts_with(&format!("{tag} OK")), "{command}: {line}");
                break;
            }
        }
    }
    thread
}

#[tokio::test]
async fn imap_backfill_idle_and_a_threaded_smtp_reply_in_the_customers_mailbox() {
    let business = Dovecot::start();
    let customer = Dovecot::start();
    let smtp = SmtpServer::start(&customer.maildir());

    // Waiting in the business mailbox before the bridge starts (and the customer's copy).
    let first = customer_mail(
        "first@customer.test",
        "Anna <anna@customer.test>",
        "Acme Support <support@acme.test>",
        "Where is my order?",
        "Hello, where is order 7?",
    );
    business.deliver(first.as_bytes()).await;
    customer.deliver(first.as_bytes()).await;

    let app = spawn_mail(
        json!({
            "imap": {"host": "127.0.0.1", "port": business.port(), "tls": "none",
                     "username": USER, "idle_secs": 60},
            "imap_password_env": "E2E_IMAP_PASSWORD",
            "smtp": smtp_config(&smtp),
        }),
        &[("E2E_IMAP_PASSWORD", PASSWORD)],
    )
    .await;
    let conversation =
        wait_conversation(&app, |events| has_message(events, "first@customer.test")).await;

    // New mail through IDLE, in the same thread (by References to the first).
    let second = customer_mail(
        "second@customer.test",
        "Anna <anna@customer.test>",
        "support@acme.test",
        "Re: Where is my order?",
        "It is urgent.",
    )
    .replace(
        "MIME-Version",
        "In-Reply-To: <first@customer.test>\r\nReferences: <first@customer.test>\r\nMIME-Version",
    );
    let sent_at = Instant::now();
    business.deliver(second.as_bytes()).await;
    customer.deliver(second.as_bytes()).await;
    app.wait_for_history(&conversation, |events| {
        has_message(events, "second@customer.test")
    })
    .await;
    let took = sent_at.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "IDLE delivered it in {took:?}"
    );

    // The processed mail is flagged \Seen in the business mailbox.
    assert_eq!(business.search("INBOX", "UNSEEN").await.len(), 0);

    // Reply through the API: SMTP into the customer's mailbox, threaded, with an HTML part
    // built from the free text (escaped, line break kept).
    let response = app
        .send_message(
            &conversation,
            json!({"text": "It ships tomorrow.\nTracking: <b>&</b>"}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let reply = wait_mail(&smtp, |m| m.text.contains("It ships tomorrow.")).await;
    assert!(
        reply
            .text
            .contains("It ships tomorrow.\nTracking: <b>&</b>"),
        "{}",
        reply.text
    );
    let html = reply.html.as_deref().unwrap_or_default();
    assert!(
        html.contains("It ships tomorrow.<br>")
            && html.contains("Tracking: &lt;b&gt;&amp;&lt;/b&gt;"),
        "{html}"
    );
    assert_eq!(reply.to, ANNA);
    assert_eq!(reply.in_reply_to, vec!["second@customer.test".to_owned()]);
    assert_eq!(
        reply.references.first().map(String::as_str),
        Some("first@customer.test")
    );
    assert!(
        reply
            .references
            .contains(&"second@customer.test".to_owned())
    );
    assert!(
        reply.subject.starts_with("Re: Where is my order?"),
        "{}",
        reply.subject
    );
    assert_eq!(reply.subject.matches("Re:").count(), 1, "{}", reply.subject);
    assert!(reply.reply_to.starts_with("support+"), "{}", reply.reply_to);
    assert!(
        reply.auto_submitted.is_none(),
        "a person's reply is not automatic"
    );

    // A threading IMAP client puts all three in one thread.
    let thread = thread_references(&customer);
    assert_eq!(thread, "* THREAD (1 2 3)", "one thread: {thread}");

    // The customer answers our mail (In-Reply-To our Message-ID only): same conversation.
    let answer = customer_mail(
        "third@customer.test",
        "Anna <anna@customer.test>",
        &reply.reply_to,
        &format!("Re: {}", reply.subject),
        "Thanks!\r\n\r\nOn Tue, 24 Nov 2026, Acme Support wrote:\r\n> It ships tomorrow.",
    )
    .replace(
        "MIME-Version",
        &format!("In-Reply-To: <{}>\r\nMIME-Version", reply.message_id),
    );
    business.deliver(answer.as_bytes()).await;
    let events = app
        .wait_for_history(&conversation, |events| {
            has_message(events, "third@customer.test")
        })
        .await;
    let answer = events
        .iter()
        .find(|e| e["provider_message_id"] == "third@customer.test")
        .unwrap();
    assert_eq!(
        answer["data"]["content"]["body"], "Thanks!",
        "quoted history stripped"
    );
    let list = app.conversation_list().await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "one conversation: {list:#}"
    );
}

#[tokio::test]
async fn smtp_4xx_is_retried_and_5xx_fails_the_delivery_with_the_servers_reply() {
    let maildir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(maildir.path());
    let app = spawn_mail(json!({"smtp": smtp_config(&smtp)}), &[]).await;
    for (id, from) in [
        ("t@customer.test", "tempfail-once@customer.test"),
        ("r@customer.test", "reject@customer.test"),
    ] {
        let mail = customer_mail(id, from, "support@acme.test", "Hello", "Hi");
        let response = post_mail(&app, mail.as_bytes(), Some(WEBHOOK_SECRET), None).await;
        assert_eq!(response.status(), 200);
    }
    let tempfail = wait_conversation(&app, |events| has_message(events, "t@customer.test")).await;
    let reject = wait_conversation(&app, |events| has_message(events, "r@customer.test")).await;

    let response = app
        .send_message(&tempfail, json!({"text": "First try fails."}))
        .await;
    let outbound: Value = response.json().await.unwrap();
    let mail = wait_mail(&smtp, |m| m.text.contains("First try fails.")).await;
    assert_eq!(mail.to, "tempfail-once@customer.test");
    // The record is finished just after the send's events are durable: poll briefly.
    let path = format!("/v1/outbound/{}", outbound["outbound_id"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let status: Value = loop {
        let status: Value = app.get(&path).await.json().await.unwrap();
        if status["state"] == "sent" || tokio::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status["state"], "sent", "{status}");
    assert!(
        status["attempts"].as_u64().unwrap() >= 2,
        "retried after the 451: {status}"
    );
    assert_eq!(
        status["delivery"], "sent",
        "never claims delivered without a DSN"
    );

    app.send_message(&reject, json!({"text": "Never arrives."}))
        .await;
    let events = app
        .wait_for_history(&reject, |events| {
            events
                .iter()
                .any(|e| e["type"] == "delivery.updated" && e["data"]["status"] == "failed")
        })
        .await;
    let failed = events
        .iter()
        .find(|e| e["type"] == "delivery.updated" && e["data"]["status"] == "failed")
        .unwrap();
    assert!(
        failed["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("No such user"),
        "the server's reply text: {failed}"
    );
    assert_eq!(failed["data"]["code"], "smtp_550");
    assert!(
        !smtp
            .delivered_messages()
            .iter()
            .any(|raw| String::from_utf8_lossy(raw).contains("Never arrives")),
        "nothing delivered"
    );
}

#[tokio::test]
async fn smtp_over_starttls_and_implicit_tls_trusts_the_platform_roots() {
    use crate::process::{free_port, start_bridge_with_args};

    const KEY: &str = "email-smtp-tls-key-0123456789";
    let certs = tempfile::tempdir().unwrap();
    super::dovecot::test_certificates(certs.path());
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let (starttls_dir, implicit_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let starttls = SmtpServer::start_tls(starttls_dir.path(), &cert, &key, false);
    let implicit = SmtpServer::start_tls(implicit_dir.path(), &cert, &key, true);
    let channel = |id: &str, port: u16, tls: &str| {
        format!(
            "[[channels]]\nid = \"{id}\"\ntype = \"email\"\naddress = \"support@acme.test\"\n\
             webhook_secret_env = \"E2E_MAIL_WEBHOOK_SECRET\"\n\
             [channels.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"{tls}\"\n\
             timeout_secs = 5\n[channels.sender_check]\nmode = \"none\"\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("smtp-tls.toml");
    std::fs::write(
        &config,
        channel("starttls", starttls.port(), "starttls")
            + &channel("implicit", implicit.port(), "implicit"),
    )
    .unwrap();
    let env = [
        ("OMNIBRIDGE_API_KEYS", KEY.to_owned()),
        ("E2E_MAIL_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        (
            "SSL_CERT_FILE",
            certs.path().join("ca.pem").to_string_lossy().into_owned(),
        ),
    ];
    let config = config.to_string_lossy().into_owned();
    let bridge = start_bridge_with_args(
        dir.path(),
        free_port(),
        "bridge",
        &env,
        &["--config", &config],
    )
    .await;
    let client = reqwest::Client::new();
    for (channel, server) in [("starttls", &starttls), ("implicit", &implicit)] {
        let id = format!("{channel}@customer.test");
        let raw = customer_mail(&id, "anna@customer.test", "support@acme.test", "TLS?", "Hi");
        let timestamp = chrono::Utc::now().timestamp();
        let response = client
            .post(format!("{}/webhooks/{channel}", bridge.base))
            .header(
                omnibridge_email::webhook::TIMESTAMP_HEADER,
                timestamp.to_string(),
            )
            .header(
                omnibridge_email::webhook::SIGNATURE_HEADER,
                omnibridge_email::webhook::sign(
                    WEBHOOK_SECRET.as_bytes(),
                    timestamp,
                    raw.as_bytes(),
                ),
            )
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{channel}");
        let list: Value = client
            .get(format!("{}/v1/conversations", bridge.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let conversation = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["channel_id"] == channel)
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .unwrap();
        let response = client
            .post(format!(
                "{}/v1/conversations/{conversation}/messages",
                bridge.base
            ))
            .bearer_auth(KEY)
            .json(&json!({"text": format!("Sent over {channel}.")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let mail = wait_mail(server, |m| {
            m.text.contains(&format!("Sent over {channel}."))
        })
        .await;
        assert_eq!(mail.in_reply_to, vec![id]);
    }
}
