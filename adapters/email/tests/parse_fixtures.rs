//! `parse_mail` / `attachment_bytes` on real-world shaped messages (tests/fixtures/*.eml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnibridge_email::parse::{Address, AutoKind, Bounce, attachment_bytes, parse_mail};
use omnibridge_email::quote::strip_quoted;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn addr(email: &str, name: Option<&str>) -> Address {
    Address {
        email: email.into(),
        name: name.map(Into::into),
    }
}

#[test]
fn plain_new_mail() {
    let mail = parse_mail(&fixture("plain_new.eml")).unwrap();
    assert_eq!(
        mail.message_id.as_deref(),
        Some("8f2c1d0e-5b7a-4c3e-9a61-2d4f7e0b9c11@example.org")
    );
    assert!(mail.in_reply_to.is_empty());
    assert!(mail.references.is_empty());
    assert_eq!(
        mail.from,
        Some(addr("anna.schmidt@example.org", Some("Anna Schmidt")))
    );
    assert_eq!(
        mail.to,
        vec![addr("support@acme.test", Some("Acme Support"))]
    );
    assert!(mail.cc.is_empty() && mail.reply_to.is_empty());
    assert_eq!(
        mail.return_path.as_deref(),
        Some("anna.schmidt@example.org")
    );
    assert_eq!(mail.subject.as_deref(), Some("Question about order #1042"));
    assert_eq!(mail.date.as_deref(), Some("2026-11-22T17:45:09+01:00"));
    assert_eq!(
        mail.text,
        "Hello,\n\nI ordered the blue kettle (#1042) on Friday. When will it ship?\n\n\
         Thanks in advance,\nAnna\n\n-- \nAnna Schmidt\nSchmidt & Partner, Berlin\n"
    );
    assert_eq!(mail.html, None);
    assert!(mail.attachments.is_empty());
    assert_eq!(mail.auto, None);
    assert_eq!(mail.bounce, None);
    assert_eq!(
        strip_quoted(&mail.text, mail.html.as_deref()),
        "Hello,\n\nI ordered the blue kettle (#1042) on Friday. When will it ship?\n\n\
         Thanks in advance,\nAnna"
    );
}

#[test]
fn gmail_reply() {
    let mail = parse_mail(&fixture("gmail_reply.eml")).unwrap();
    assert_eq!(
        mail.message_id.as_deref(),
        Some("CAKq9Yx3pZ1rVb8dT0Wm5nFh2sLq7eJcY4uR6tN0aK8oXg=Qm1w@mail.gmail.com")
    );
    assert_eq!(mail.in_reply_to, vec!["ob.01JABC@mail.acme.test"]);
    assert_eq!(
        mail.references,
        vec!["ob.01JAB9@mail.acme.test", "ob.01JABC@mail.acme.test"]
    );
    assert_eq!(
        mail.from,
        Some(addr("anna.schmidt@gmail.com", Some("Anna Schmidt")))
    );
    assert_eq!(
        mail.subject.as_deref(),
        Some("Re: Your order #1042 has shipped [#OB-7F3K]")
    );
    assert_eq!(mail.date.as_deref(), Some("2026-11-23T11:15:36+01:00"));
    // Quoted-printable decoded (soft line break and the UTF-8 en dash).
    assert!(mail.text.starts_with(
        "Hi,\n\nthe parcel arrived today but the lid is cracked \u{2013} can you send a replacement?\n"
    ));
    assert!(mail.text.contains(
        "\nOn Mon, 23 Nov 2026 at 10:02, Acme Support <support@acme.test> wrote:\n\n> ##- Please"
    ));
    let html = mail.html.as_deref().unwrap();
    assert!(html.starts_with("<div dir=\"ltr\"><div>Hi,</div>"));
    assert!(html.contains("class=\"gmail_quote gmail_quote_container\""));
    assert!(mail.attachments.is_empty());
    assert_eq!(mail.auto, None);
    assert_eq!(mail.bounce, None);

    let expected = "Hi,\n\nthe parcel arrived today but the lid is cracked \u{2013} can you send a \
                    replacement?\n\nThanks,\nAnna";
    assert_eq!(strip_quoted(&mail.text, Some(html)), expected);
    // The HTML alone gives the same new text (gmail_quote removed).
    assert_eq!(strip_quoted("", Some(html)), expected);
}

#[test]
fn outlook_reply_with_attachment_inline_image_and_encoded_headers() {
    let raw = fixture("outlook_reply.eml");
    let mail = parse_mail(&raw).unwrap();
    assert_eq!(
        mail.message_id.as_deref(),
        Some(
            "AM9PR07MB71234C1D2E3F4A5B6C7D8E9F0A1B2C3D4E5F6@AM9PR07MB7123.eurprd07.prod.outlook.com"
        )
    );
    assert_eq!(mail.in_reply_to, vec!["ob.01JABD@mail.acme.test"]);
    // Folded References, order kept.
    assert_eq!(
        mail.references,
        vec!["ob.01JAB9@mail.acme.test", "ob.01JABD@mail.acme.test"]
    );
    // RFC 2047, ISO-8859-1.
    assert_eq!(
        mail.from,
        Some(addr("joerg.mueller@example.de", Some("Jörg Müller")))
    );
    assert_eq!(mail.cc, vec![addr("buero@example.de", Some("Büro Müller"))]);
    // RFC 2047, windows-1252 (0x96 is an en dash), two encoded words over a folded line.
    assert_eq!(
        mail.subject.as_deref(),
        Some("AW: Reklamation Bestellung #1042 \u{2013} Gehäuse beschädigt [#OB-9Q2D]")
    );
    assert_eq!(mail.date.as_deref(), Some("2026-11-24T08:31:07Z"));
    assert!(mail.text.starts_with(
        "Hallo,\n\nanbei die Rechnung und ein Foto des Schadens. Das Gehäuse ist gebrochen.\n\nGrüße\nJörg Müller\n\n________________________________\nVon: Acme Support"
    ));
    let html = mail.html.as_deref().unwrap();
    assert!(html.contains("<div id=\"divRplyFwdMsg\" dir=\"ltr\">"));
    assert!(html.contains("Jörg Müller</div>"), "charset decoded");

    assert_eq!(mail.attachments.len(), 2);
    let image = &mail.attachments[0];
    assert_eq!(image.index, 0);
    assert_eq!(image.filename.as_deref(), Some("image001.png"));
    assert_eq!(image.mime_type, "image/png");
    assert_eq!(image.size, 70);
    assert!(image.inline);
    assert_eq!(
        image.content_id.as_deref(),
        Some("image001.png@01DB3E4F.6A2B1C90")
    );
    let pdf = &mail.attachments[1];
    assert_eq!(pdf.index, 1);
    assert_eq!(pdf.filename.as_deref(), Some("Rechnung_Müller_1042.pdf"));
    assert_eq!(pdf.mime_type, "application/pdf");
    assert_eq!(pdf.size, 224);
    assert!(!pdf.inline);
    assert_eq!(pdf.content_id, None);

    let png = attachment_bytes(&raw, 0).unwrap();
    assert_eq!(png.len(), 70);
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let pdf_bytes = attachment_bytes(&raw, 1).unwrap();
    assert_eq!(pdf_bytes.len(), 224);
    assert!(pdf_bytes.starts_with(b"%PDF-1.4\n"));
    assert!(pdf_bytes.ends_with(b"%%EOF\n"));
    assert_eq!(attachment_bytes(&raw, 2), None);

    assert_eq!(mail.auto, None);
    assert_eq!(mail.bounce, None);

    let expected = "Hallo,\n\nanbei die Rechnung und ein Foto des Schadens. Das Gehäuse ist \
                    gebrochen.\n\nGrüße\nJörg Müller";
    assert_eq!(strip_quoted(&mail.text, Some(html)), expected);
    // From the HTML alone: cut at appendonsend / divRplyFwdMsg.
    assert_eq!(strip_quoted("", Some(html)), expected);
}

#[test]
fn out_of_office_auto_reply() {
    let mail = parse_mail(&fixture("out_of_office.eml")).unwrap();
    assert_eq!(
        mail.auto,
        Some(AutoKind::AutoSubmitted("auto-replied (vacation)".into()))
    );
    assert_eq!(mail.auto.as_ref().unwrap().code(), "auto_submitted");
    assert_eq!(mail.return_path.as_deref(), Some(""));
    assert_eq!(mail.in_reply_to, vec!["ob.01JABC@mail.acme.test"]);
    assert_eq!(
        mail.text,
        "Ich bin bis zum 30.11. nicht im Büro und habe keinen Zugriff auf meine E-Mails.\n\
         In dringenden Fällen wenden Sie sich bitte an office@example.net.\n\n\
         I am out of the office until 30 November.\n"
    );
    assert_eq!(mail.bounce, None);
}

#[test]
fn mailing_list_mail() {
    let mail = parse_mail(&fixture("mailing_list.eml")).unwrap();
    assert_eq!(mail.auto, Some(AutoKind::Precedence("list".into())));
    assert_eq!(mail.to, vec![addr("users@lists.example.org", None)]);
    assert_eq!(
        mail.return_path.as_deref(),
        Some("users-bounces+support=acme.test@lists.example.org")
    );
    assert_eq!(
        mail.subject.as_deref(),
        Some("[Kettle-users] Descaling the blue kettle")
    );
    assert_eq!(mail.bounce, None);
}

#[test]
fn dsn_bounce() {
    let raw = fixture("bounce_dsn.eml");
    let mail = parse_mail(&raw).unwrap();
    assert_eq!(
        mail.bounce,
        Some(Bounce {
            original_message_id: Some("ob.01JABC@mail.acme.test".into()),
            status: Some("5.1.1".into()),
            action: Some("failed".into()),
            diagnostic: Some(
                "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in \
                 virtual mailbox table"
                    .into()
            ),
            recipient: Some("nobody@example.org".into()),
        })
    );
    assert_eq!(
        mail.auto,
        Some(AutoKind::AutoSubmitted("auto-replied".into()))
    );
    assert_eq!(
        mail.from,
        Some(addr(
            "MAILER-DAEMON@mail.acme.test",
            Some("Mail Delivery System")
        ))
    );
    assert_eq!(mail.return_path.as_deref(), Some(""));
    assert!(
        mail.text
            .starts_with("This is the mail system at host mail.acme.test.\n")
    );
    assert_eq!(mail.html, None, "the plain notification is not HTML");
    // The report parts are attachments (the notification text is the body).
    let kinds: Vec<(&str, Option<&str>, bool)> = mail
        .attachments
        .iter()
        .map(|a| (a.mime_type.as_str(), a.filename.as_deref(), a.inline))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("message/delivery-status", None, false),
            ("text/rfc822-headers", None, false)
        ]
    );
    let headers = attachment_bytes(&raw, 1).unwrap();
    assert_eq!(headers.len() as u64, mail.attachments[1].size);
    assert!(
        String::from_utf8(headers)
            .unwrap()
            .contains("Message-ID: <ob.01JABC@mail.acme.test>")
    );
}

#[test]
fn german_reply_with_wrapped_attribution() {
    let mail = parse_mail(&fixture("de_reply.eml")).unwrap();
    assert!(mail.text.contains(
        "Am Mo., 23. Nov. 2026 um 10:02 Uhr schrieb Acme Support <\nsupport@acme.test>:\n"
    ));
    assert_eq!(
        strip_quoted(&mail.text, mail.html.as_deref()),
        "Danke, das hat geklappt!\n\nViele Grüße\nLena"
    );
}

#[test]
fn french_reply_with_wrapped_attribution_and_encoded_headers() {
    let mail = parse_mail(&fixture("fr_reply.eml")).unwrap();
    assert_eq!(
        mail.from,
        Some(addr("camille.durand@gmail.com", Some("Camille Duré")))
    );
    // RFC 2047 B encoding.
    assert_eq!(
        mail.subject.as_deref(),
        Some("Re: Votre commande a été expédiée [#OB-3M9R]")
    );
    assert!(
        mail.text
            .contains("<support@acme.test> a\nécrit\u{202f}:\n")
    );
    assert_eq!(
        strip_quoted(&mail.text, None),
        "Merci beaucoup, c\u{2019}est reçu.\n\nCordialement,\nCamille"
    );
}
