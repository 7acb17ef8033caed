//! The SMTP side of omnibridge-email: the message lettre builds (parsed back with
//! mail-parser) and real sends through an aiosmtpd server delivering into a Maildir
//! (`tests/support/smtp_server.py`, needs `python3-aiosmtpd`: `scripts/install-test-deps`).
// Helpers outside #[test] fns panic on purpose too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use mail_parser::{Message, MessageParser, MimeHeaders};
use omnibridge_email::smtp::{
    OutgoingAttachment, OutgoingMail, SmtpAuth, SmtpError, SmtpSender, SmtpSettings, SmtpTls,
};
use support::smtp_server::{SmtpServer, SmtpServerAuth, closed_port};

const PDF: &[u8] = b"%PDF-1.4 not really\x00\x01\x02\xff";

fn mail(to: &str, message_id: &str) -> OutgoingMail {
    OutgoingMail {
        from: "Acme Support <support@acme.test>".into(),
        to: vec![to.into()],
        reply_to: Some("support+c-42@acme.test".into()),
        subject: "Re: Where is my order?".into(),
        message_id: message_id.into(),
        in_reply_to: Some("parent@customer.test".into()),
        references: vec!["root@customer.test".into(), "parent@customer.test".into()],
        text: "Your order ships today.\n\nAcme".into(),
        html: Some("<p>Your order ships <b>today</b>.</p><p>Acme</p>".into()),
        automatic: true,
        attachments: vec![],
    }
}

fn settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: SmtpTls::None,
        username: None,
        max_connections: None,
        timeout_secs: Some(5),
    }
}

fn sender(port: u16) -> SmtpSender {
    SmtpSender::new(settings(port), SmtpAuth::None).unwrap()
}

fn password(user: &str, password: &str) -> SmtpAuth {
    SmtpAuth::Password {
        username: user.into(),
        password: password.into(),
    }
}

fn parse(raw: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(raw)
        .expect("mail-parser reads the mail")
}

fn raw_header<'a>(message: &'a Message<'_>, name: &'a str) -> Option<&'a str> {
    message.header_raw(name).map(str::trim)
}

fn content_type<'x>(part: &impl MimeHeaders<'x>) -> String {
    let ct = part.content_type().expect("a Content-Type");
    format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default())
}

/// Everything a reply needs, checked on a parsed message (rendered or delivered).
fn assert_reply_headers(message: &Message<'_>, message_id: &str) {
    let from = message.from().and_then(|a| a.first()).expect("From");
    assert_eq!(from.address(), Some("support@acme.test"));
    assert_eq!(from.name(), Some("Acme Support"));
    let reply_to = message
        .reply_to()
        .and_then(|a| a.first())
        .expect("Reply-To");
    assert_eq!(reply_to.address(), Some("support+c-42@acme.test"));
    assert_eq!(message.subject(), Some("Re: Where is my order?"));
    assert_eq!(message.message_id(), Some(message_id));
    assert_eq!(
        raw_header(message, "Message-ID"),
        Some(format!("<{message_id}>").as_str())
    );
    assert_eq!(
        message.in_reply_to().as_text(),
        Some("parent@customer.test")
    );
    assert_eq!(
        raw_header(message, "In-Reply-To"),
        Some("<parent@customer.test>")
    );
    let references: Vec<&str> = message
        .references()
        .as_text_list()
        .expect("References with two ids")
        .iter()
        .map(|r| r.as_ref())
        .collect();
    assert_eq!(references, ["root@customer.test", "parent@customer.test"]);
    assert_eq!(
        raw_header(message, "References"),
        Some("<root@customer.test> <parent@customer.test>")
    );
    assert!(message.date().is_some(), "Date");
    assert_eq!(raw_header(message, "Auto-Submitted"), Some("auto-replied"));
    assert_eq!(raw_header(message, "X-Auto-Response-Suppress"), Some("All"));
}

/// Line ends are CRLF on the wire and LF once delivered into the Maildir.
fn lf(text: Option<std::borrow::Cow<'_, str>>) -> Option<String> {
    text.map(|t| t.replace("\r\n", "\n").trim_end().to_owned())
}

fn assert_bodies(message: &Message<'_>) {
    assert_eq!(
        lf(message.body_text(0)).as_deref(),
        Some("Your order ships today.\n\nAcme")
    );
    assert_eq!(
        message.body_html(0).as_deref().map(str::trim_end),
        Some("<p>Your order ships <b>today</b>.</p><p>Acme</p>")
    );
}

#[test]
fn built_message_has_every_header_alternative_bodies_and_the_attachment() {
    let mut m = mail("Alice <alice@customer.test>", "out-1@acme.test");
    m.attachments.push(OutgoingAttachment {
        filename: "invoice 42.pdf".into(),
        mime_type: "application/pdf".into(),
        bytes: PDF.to_vec(),
    });
    let raw = m.render().unwrap();
    let message = parse(&raw);

    assert_reply_headers(&message, "out-1@acme.test");
    let to = message.to().and_then(|a| a.first()).expect("To");
    assert_eq!(to.address(), Some("alice@customer.test"));
    assert_eq!(to.name(), Some("Alice"));

    // multipart/mixed [ multipart/alternative [ text/plain, text/html ], application/pdf ]
    assert_eq!(content_type(message.root_part()), "multipart/mixed");
    let alternative = message
        .parts
        .iter()
        .filter(|p| p.is_multipart())
        .find(|p| content_type(*p) == "multipart/alternative");
    let alternative = alternative.expect("a multipart/alternative part");
    let children: Vec<String> = alternative
        .sub_parts()
        .unwrap()
        .iter()
        .map(|&id| content_type(&message.parts[id as usize]))
        .collect();
    assert_eq!(children, ["text/plain", "text/html"]);
    assert_bodies(&message);

    assert_eq!(message.attachment_count(), 1);
    let attachment = message.attachment(0).unwrap();
    assert_eq!(attachment.attachment_name(), Some("invoice 42.pdf"));
    assert_eq!(content_type(attachment), "application/pdf");
    assert_eq!(attachment.contents(), PDF);
}

#[test]
fn text_only_mail_is_one_text_part_without_automatic_headers() {
    let mut m = mail("alice@customer.test", "out-2@acme.test");
    m.html = None;
    m.automatic = false;
    m.in_reply_to = None;
    m.references.clear();
    m.reply_to = None;
    m.text = "Grüße — plain only".into();
    let raw = m.render().unwrap();
    let message = parse(&raw);

    assert_eq!(content_type(message.root_part()), "text/plain");
    assert_eq!(message.parts.len(), 1);
    assert_eq!(
        message.body_text(0).as_deref().map(str::trim_end),
        Some("Grüße — plain only")
    );
    for absent in [
        "Auto-Submitted",
        "X-Auto-Response-Suppress",
        "In-Reply-To",
        "References",
        "Reply-To",
    ] {
        assert_eq!(message.header_raw(absent), None, "{absent}");
    }
}

#[test]
fn html_without_attachments_is_multipart_alternative() {
    let raw = mail("alice@customer.test", "out-3@acme.test")
        .render()
        .unwrap();
    let message = parse(&raw);
    assert_eq!(content_type(message.root_part()), "multipart/alternative");
    assert_eq!(message.attachment_count(), 0);
    assert_bodies(&message);
}

#[tokio::test]
async fn bad_addresses_are_invalid_before_any_connection() {
    // Nothing listens there: Invalid proves no connection was tried.
    let sender = sender(closed_port());
    for (field, value) in [
        ("to", "not an address"),
        ("from", "nobody"),
        ("reply_to", "x@"),
    ] {
        let mut m = mail("alice@customer.test", "bad@acme.test");
        match field {
            "to" => m.to = vec![value.into()],
            "from" => m.from = value.into(),
            _ => m.reply_to = Some(value.into()),
        }
        let err = sender.send(&m).await.unwrap_err();
        assert!(matches!(err, SmtpError::Invalid(_)), "{field}: {err:?}");
        assert!(matches!(m.render(), Err(SmtpError::Invalid(_))), "{field}");
    }
}

#[tokio::test]
async fn send_delivers_into_the_maildir_with_headers_and_both_parts() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&dir.path().join("Maildir"));
    let mut m = mail("alice@customer.test", "out-4@acme.test");
    m.attachments.push(OutgoingAttachment {
        filename: "invoice.pdf".into(),
        mime_type: "application/pdf".into(),
        bytes: PDF.to_vec(),
    });

    sender(server.port()).send(&m).await.unwrap();

    let delivered = server.delivered_messages();
    assert_eq!(delivered.len(), 1);
    let message = parse(&delivered[0]);
    assert_reply_headers(&message, "out-4@acme.test");
    assert_bodies(&message);
    assert_eq!(message.attachment(0).unwrap().contents(), PDF);
}

#[tokio::test]
async fn pooled_sends_run_concurrently_and_all_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&dir.path().join("Maildir"));
    let sender = SmtpSender::new(
        SmtpSettings {
            max_connections: Some(2),
            ..settings(server.port())
        },
        SmtpAuth::None,
    )
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            sender
                .send(&mail("alice@customer.test", &format!("pool-{i}@acme.test")))
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut ids: Vec<String> = server
        .delivered_messages()
        .iter()
        .map(|raw| parse(raw).message_id().unwrap().to_owned())
        .collect();
    ids.sort();
    let expected: Vec<String> = (0..6).map(|i| format!("pool-{i}@acme.test")).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn auth_with_the_right_password_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        SmtpServer::start_with_password(&dir.path().join("Maildir"), "bot@acme.test", "s3cret");
    let sender =
        SmtpSender::new(settings(server.port()), password("bot@acme.test", "s3cret")).unwrap();
    sender.check().await.unwrap();
    sender
        .send(&mail("alice@customer.test", "auth-ok@acme.test"))
        .await
        .unwrap();
    assert_eq!(server.delivered().len(), 1);
}

#[tokio::test]
async fn wrong_password_is_permanent_535() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        SmtpServer::start_with_password(&dir.path().join("Maildir"), "bot@acme.test", "s3cret");
    let sender =
        SmtpSender::new(settings(server.port()), password("bot@acme.test", "wrong")).unwrap();
    let err = sender
        .send(&mail("alice@customer.test", "auth-bad@acme.test"))
        .await
        .unwrap_err();
    match &err {
        SmtpError::Permanent { code, text } => {
            assert_eq!(code, "535");
            assert!(
                text.contains("Authentication credentials invalid"),
                "{text}"
            );
        }
        other => panic!("expected Permanent 535, got {other:?}"),
    }
    assert!(!err.to_string().contains("wrong"), "no password in {err}");
    assert!(server.delivered().is_empty());
}

#[tokio::test]
async fn missing_auth_is_permanent() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        SmtpServer::start_with_password(&dir.path().join("Maildir"), "bot@acme.test", "s3cret");
    let err = sender(server.port())
        .send(&mail("alice@customer.test", "no-auth@acme.test"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SmtpError::Permanent { code, .. } if code == "530"),
        "{err:?}"
    );
}

#[tokio::test]
async fn xoauth2_token_is_sent_and_a_wrong_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start_with(
        &dir.path().join("Maildir"),
        SmtpServerAuth::XOAuth2 {
            user: "bot@acme.test".into(),
            token: "ya29.token".into(),
        },
    );
    let xoauth2 = |token: &str| SmtpAuth::XOAuth2 {
        username: "bot@acme.test".into(),
        token: token.into(),
    };
    let good = SmtpSender::new(settings(server.port()), xoauth2("ya29.token")).unwrap();
    good.send(&mail("alice@customer.test", "xoauth2@acme.test"))
        .await
        .unwrap();
    assert_eq!(server.delivered().len(), 1);

    let bad = SmtpSender::new(settings(server.port()), xoauth2("expired")).unwrap();
    let err = bad.check().await.unwrap_err();
    assert!(
        matches!(&err, SmtpError::Permanent { code, .. } if code == "535"),
        "{err:?}"
    );
}

#[tokio::test]
async fn tempfail_once_is_transient_then_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&dir.path().join("Maildir"));
    let sender = sender(server.port());
    let m = mail("tempfail-once@customer.test", "retry@acme.test");

    let err = sender.send(&m).await.unwrap_err();
    match &err {
        SmtpError::Transient(text) => {
            assert!(text.starts_with("451"), "{text}");
            assert!(text.contains("Try again later"), "{text}");
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    assert!(server.delivered().is_empty());

    sender.send(&m).await.unwrap();
    let delivered = server.delivered_messages();
    assert_eq!(delivered.len(), 1);
    assert_eq!(parse(&delivered[0]).message_id(), Some("retry@acme.test"));
}

#[tokio::test]
async fn tempfail_is_transient_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&dir.path().join("Maildir"));
    let sender = sender(server.port());
    let m = mail("tempfail@customer.test", "always@acme.test");
    for _ in 0..2 {
        let err = sender.send(&m).await.unwrap_err();
        assert!(
            matches!(&err, SmtpError::Transient(t) if t.starts_with("451")),
            "{err:?}"
        );
    }
    assert!(server.delivered().is_empty());
}

#[tokio::test]
async fn reject_is_permanent_550_with_the_server_text() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&dir.path().join("Maildir"));
    let sender = sender(server.port());
    let err = sender
        .send(&mail("reject@customer.test", "rejected@acme.test"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SmtpError::Permanent {
            code: "550".into(),
            text: "5.1.1 No such user".into(),
        }
    );
    assert!(server.delivered().is_empty());

    // The pool recovers: the next mail on the same sender goes through.
    sender
        .send(&mail("alice@customer.test", "after-reject@acme.test"))
        .await
        .unwrap();
    assert_eq!(server.delivered().len(), 1);
}

#[tokio::test]
async fn server_down_is_transient() {
    let sender = sender(closed_port());
    let err = sender
        .send(&mail("alice@customer.test", "down@acme.test"))
        .await
        .unwrap_err();
    assert!(matches!(err, SmtpError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn silent_server_times_out_as_transient() {
    // Accepts the TCP connection (backlog) but never greets.
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let sender = SmtpSender::new(
        SmtpSettings {
            timeout_secs: Some(1),
            ..settings(port)
        },
        SmtpAuth::None,
    )
    .unwrap();
    let started = Instant::now();
    let err = sender
        .send(&mail("alice@customer.test", "slow@acme.test"))
        .await
        .unwrap_err();
    match &err {
        SmtpError::Transient(text) => assert!(text.contains("no SMTP answer"), "{text}"),
        other => panic!("expected Transient, got {other:?}"),
    }
    // timeout 1 s × 12 commands for one recipient.
    assert!(started.elapsed() < Duration::from_secs(20));
    let err = sender.check().await.unwrap_err();
    assert!(matches!(err, SmtpError::Transient(_)), "{err:?}");
    drop(listener);
}

#[tokio::test]
async fn check_succeeds_against_a_live_server_and_fails_against_a_closed_port() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&dir.path().join("Maildir"));
    sender(server.port()).check().await.unwrap();

    let err = sender(closed_port()).check().await.unwrap_err();
    assert!(matches!(err, SmtpError::Transient(_)), "{err:?}");
}

#[test]
fn sender_is_made_outside_a_runtime_and_outlives_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&dir.path().join("Maildir"));
    let sender = sender(server.port());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(sender.send(&mail("alice@customer.test", "outside@acme.test")))
        .unwrap();
    drop(runtime);
    drop(sender); // no runtime any more: must not panic
    assert_eq!(server.delivered().len(), 1);
}

#[test]
fn auth_debug_never_shows_the_secret() {
    let shown = format!("{:?}", password("bot@acme.test", "s3cret"));
    assert!(
        shown.contains("bot@acme.test") && !shown.contains("s3cret"),
        "{shown}"
    );
    let shown = format!(
        "{:?}",
        SmtpAuth::XOAuth2 {
            username: "bot".into(),
            token: "ya29.token".into()
        }
    );
    assert!(!shown.contains("ya29"), "{shown}");
}
