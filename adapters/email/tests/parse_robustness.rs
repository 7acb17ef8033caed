//! `parse_mail` / `attachment_bytes` / `strip_quoted` on odd and hostile input: never panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnibridge_email::parse::{AutoKind, ParseError, attachment_bytes, parse_mail};
use omnibridge_email::quote::strip_quoted;

/// A tiny deterministic generator (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    all.sort();
    all.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn exercise(raw: &[u8]) {
    if let Ok(mail) = parse_mail(raw) {
        for a in &mail.attachments {
            let _ = attachment_bytes(raw, a.index);
        }
        let _ = strip_quoted(&mail.text, mail.html.as_deref());
    }
    let _ = attachment_bytes(raw, 0);
    let _ = strip_quoted(
        &String::from_utf8_lossy(raw),
        Some(&String::from_utf8_lossy(raw)),
    );
}

#[test]
fn empty_input_is_not_a_message() {
    assert!(matches!(parse_mail(b""), Err(ParseError::NotAMessage(_))));
    assert!(matches!(
        parse_mail(b"\r\n\r\n  \n"),
        Err(ParseError::NotAMessage(_))
    ));
    assert_eq!(attachment_bytes(b"", 0), None);
    assert_eq!(strip_quoted("", None), "");
    assert_eq!(strip_quoted("", Some("")), "");
}

#[test]
fn random_garbage_does_not_panic() {
    let mut rng = Lcg(0x5eed);
    for round in 0..400 {
        let len = (rng.next() % 2048) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                // Mix in plenty of MIME-significant characters.
                let alphabet = b"\r\n:;=<>-\"' \t@/?_.abcXYZ0189&#";
                if round % 2 == 0 {
                    alphabet[(rng.next() as usize) % alphabet.len()]
                } else {
                    rng.next() as u8
                }
            })
            .collect();
        exercise(&bytes);
    }
}

#[test]
fn mutated_and_truncated_fixtures_do_not_panic() {
    let mut rng = Lcg(42);
    for raw in fixtures() {
        // Every truncation point on a coarse grid (cuts inside headers, boundaries, base64 ...).
        for cut in (0..raw.len()).step_by(7) {
            exercise(&raw[..cut]);
        }
        // Random byte flips.
        for _ in 0..60 {
            let mut bytes = raw.clone();
            for _ in 0..1 + rng.next() % 8 {
                let at = (rng.next() as usize) % bytes.len();
                bytes[at] = rng.next() as u8;
            }
            exercise(&bytes);
        }
    }
}

#[test]
fn headers_only_and_odd_shapes() {
    // No body at all.
    let mail = parse_mail(b"From: a@b.test\r\nSubject: hi\r\n").unwrap();
    assert_eq!(mail.subject.as_deref(), Some("hi"));
    assert_eq!(mail.text, "");
    // Multipart without a closing boundary, missing boundary parameter, bogus encodings.
    for raw in [
        &b"From: a@b.test\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello"[..],
        b"From: a@b.test\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\n\r\nhello\r\n--x--",
        b"From: a@b.test\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64===",
        b"From: a@b.test\r\nContent-Type: text/plain; charset=x-unknown\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n=",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nAction\r\n:\r\n\r\n--b--",
        b"Date: Mon, 31 Feb 2026 25:61:61 +9999\r\nMessage-ID: <>\r\nReferences: <<<>>> <a@b>\r\n\r\n",
    ] {
        exercise(raw);
    }
    let mail =
        parse_mail(b"Date: Mon, 31 Feb 2026 10:00:00 +0000\r\nMessage-ID: <>\r\n\r\nx").unwrap();
    assert_eq!(mail.date, None, "31 February is not a date");
    assert_eq!(mail.message_id, None);
}

#[test]
fn auto_classification_signals() {
    let parse = |headers: &str| {
        parse_mail(format!("{headers}\r\nSubject: t\r\n\r\nbody\r\n").as_bytes())
            .unwrap()
            .auto
    };
    assert_eq!(parse("From: a@b.test\r\nAuto-Submitted: no"), None);
    assert_eq!(parse("From: a@b.test\r\nAuto-Submitted: No"), None);
    assert_eq!(
        parse("From: a@b.test\r\nAuto-Submitted: Auto-Generated"),
        Some(AutoKind::AutoSubmitted("Auto-Generated".into()))
    );
    assert_eq!(
        parse("From: a@b.test\r\nPrecedence: JUNK"),
        Some(AutoKind::Precedence("JUNK".into()))
    );
    assert_eq!(parse("From: a@b.test\r\nPrecedence: first-class"), None);
    assert_eq!(
        parse("From: a@b.test\r\nList-Id: <users.lists.example.org>"),
        Some(AutoKind::MailingList)
    );
    assert_eq!(
        parse("From: a@b.test\r\nX-Autorespond: yes"),
        Some(AutoKind::AutoReplyHeader)
    );
    assert_eq!(
        parse("From: a@b.test\r\nX-AutoReply: yes"),
        Some(AutoKind::AutoReplyHeader)
    );
    assert_eq!(
        parse("From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>"),
        Some(AutoKind::SystemSender)
    );
    assert_eq!(
        parse("From: PostMaster@example.org"),
        Some(AutoKind::SystemSender)
    );
    assert_eq!(
        parse("Return-Path: < >\r\nFrom: a@b.test"),
        Some(AutoKind::EmptyReturnPath)
    );
    assert_eq!(parse("Return-Path: <a@b.test>\r\nFrom: a@b.test"), None);
    assert_eq!(parse("From: postmaster-team@example.org"), None);
}

#[test]
fn bounce_with_returned_message_and_original_message_id() {
    // An Exchange-style DSN returning the whole message, and one with Original-Message-ID.
    let returned = "From: bounce@relay.example.org\r\n\
        Subject: Undeliverable: Hello\r\n\
        Content-Type: multipart/report; report-type=\"delivery-status\"; boundary=\"_b_\"\r\n\r\n\
        --_b_\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nDelivery failed.\r\n\
        --_b_\r\nContent-Type: message/delivery-status\r\n\r\n\
        Reporting-MTA: dns;relay.example.org\r\n\r\n\
        Original-Recipient: rfc822;carol@example.org\r\nAction: delayed\r\n\
        Status: 4.4.7 (delivery time expired)\r\n\r\n\
        --_b_\r\nContent-Type: message/rfc822\r\n\r\n\
        From: support@acme.test\r\nMessage-ID: <ob.01JXYZ@mail.acme.test>\r\nSubject: Hello\r\n\r\nHi\r\n\
        --_b_--\r\n";
    let mail = parse_mail(returned.as_bytes()).unwrap();
    let bounce = mail.bounce.unwrap();
    assert_eq!(
        bounce.original_message_id.as_deref(),
        Some("ob.01JXYZ@mail.acme.test")
    );
    assert_eq!(bounce.action.as_deref(), Some("delayed"));
    assert_eq!(bounce.status.as_deref(), Some("4.4.7"));
    assert_eq!(bounce.recipient.as_deref(), Some("carol@example.org"));
    assert_eq!(bounce.diagnostic, None);
    // No other signal: a DSN is still automatic mail.
    assert_eq!(mail.auto, Some(AutoKind::SystemSender));
    assert_eq!(mail.text, "Delivery failed.");
    assert_eq!(mail.attachments.last().unwrap().mime_type, "message/rfc822");

    let with_id = returned.replace(
        "Reporting-MTA: dns;relay.example.org\r\n",
        "Reporting-MTA: dns;relay.example.org\r\nOriginal-Message-ID: <ob.01JORIG@mail.acme.test>\r\n",
    );
    let bounce = parse_mail(with_id.as_bytes()).unwrap().bounce.unwrap();
    assert_eq!(
        bounce.original_message_id.as_deref(),
        Some("ob.01JORIG@mail.acme.test")
    );
}

#[test]
fn html_only_mail_is_turned_into_text() {
    let raw = "From: shop@example.com\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
        <html><head><style>div{}</style></head><body><div>Hello,</div><div><br></div>\
        <div>your code is <b>1234</b>&nbsp;&ndash; valid 10&#160;minutes.</div></body></html>";
    let mail = parse_mail(raw.as_bytes()).unwrap();
    assert_eq!(
        mail.text,
        "Hello,\n\nyour code is 1234 \u{2013} valid 10 minutes."
    );
    assert!(mail.html.unwrap().starts_with("<html>"));
}
