//! [`OutgoingMail`] → [`lettre::Message`] with lettre's builder (no hand-written MIME).
//!
//! Shape of the result:
//! - text only: a single `text/plain` part;
//! - text + HTML: `multipart/alternative` (text first, HTML last, as RFC 2046 orders them);
//! - with attachments: `multipart/mixed` around the above, one part per attachment.
//!
//! Our threading headers are written with angle brackets (`Message-ID: <id>`,
//! `In-Reply-To: <id>`, `References: <root> <next>`); ids are checked first so a stray `>`
//! or a line break can never produce a broken or injected header.

use lettre::Message;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

use super::{OutgoingMail, SmtpError};

/// `Auto-Submitted: auto-replied` (RFC 3834): tells other robots not to answer us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AutoSubmitted(String);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `X-Auto-Response-Suppress: All`: Exchange / Outlook send no out-of-office to this mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct XAutoResponseSuppress(String);

impl Header for XAutoResponseSuppress {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Builds the message; bad addresses, ids or MIME types are [`SmtpError::Invalid`].
pub(crate) fn build_message(mail: &OutgoingMail) -> Result<Message, SmtpError> {
    if mail.to.is_empty() {
        return Err(SmtpError::Invalid("the mail has no recipient".into()));
    }
    let mut builder = Message::builder()
        .from(mailbox("From", &mail.from)?)
        .subject(mail.subject.clone())
        .message_id(Some(angle("Message-ID", &mail.message_id)?))
        .date_now();
    for to in &mail.to {
        builder = builder.to(mailbox("To", to)?);
    }
    if let Some(reply_to) = &mail.reply_to {
        builder = builder.reply_to(mailbox("Reply-To", reply_to)?);
    }
    if let Some(parent) = &mail.in_reply_to {
        builder = builder.in_reply_to(angle("In-Reply-To", parent)?);
    }
    if !mail.references.is_empty() {
        let references = mail
            .references
            .iter()
            .map(|id| angle("References", id))
            .collect::<Result<Vec<_>, _>>()?;
        builder = builder.references(references.join(" "));
    }
    if mail.automatic {
        builder = builder
            .header(AutoSubmitted("auto-replied".into()))
            .header(XAutoResponseSuppress("All".into()));
    }

    let result = if mail.attachments.is_empty() {
        match &mail.html {
            None => builder.singlepart(SinglePart::plain(mail.text.clone())),
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                html.clone(),
            )),
        }
    } else {
        let mut mixed = match &mail.html {
            None => MultiPart::mixed().singlepart(SinglePart::plain(mail.text.clone())),
            Some(html) => MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                html.clone(),
            )),
        };
        for attachment in &mail.attachments {
            let content_type = ContentType::parse(&attachment.mime_type).map_err(|e| {
                SmtpError::Invalid(format!(
                    "attachment MIME type {:?} is not type/subtype: {e}",
                    attachment.mime_type
                ))
            })?;
            let filename = if attachment.filename.trim().is_empty() {
                "attachment".to_owned()
            } else {
                attachment.filename.clone()
            };
            mixed = mixed
                .singlepart(Attachment::new(filename).body(attachment.bytes.clone(), content_type));
        }
        builder.multipart(mixed)
    };
    result.map_err(|e| SmtpError::Invalid(format!("cannot build the mail: {e}")))
}

/// `Name <addr>` or `addr` → a mailbox, or `Invalid` naming the header.
fn mailbox(header: &str, value: &str) -> Result<Mailbox, SmtpError> {
    value
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| SmtpError::Invalid(format!("bad {header} address {value:?}: {e}")))
}

/// A bare message id → `<id>`, refusing what would break the header: empty ids, angle
/// brackets, white space and control or non-ASCII characters.
fn angle(header: &str, id: &str) -> Result<String, SmtpError> {
    let usable = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    if usable {
        Ok(format!("<{id}>"))
    } else {
        Err(SmtpError::Invalid(format!(
            "bad {header} id {id:?}: give it without angle brackets, printable ASCII only"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::OutgoingAttachment;

    fn mail() -> OutgoingMail {
        OutgoingMail {
            from: "Support <support@example.com>".into(),
            to: vec!["alice@example.org".into()],
            reply_to: None,
            subject: "Hello".into(),
            message_id: "abc@example.com".into(),
            in_reply_to: None,
            references: vec![],
            text: "hi".into(),
            html: None,
            automatic: false,
            attachments: vec![],
        }
    }

    fn render(mail: &OutgoingMail) -> String {
        String::from_utf8(build_message(mail).unwrap().formatted()).unwrap()
    }

    #[test]
    fn text_only_is_a_single_part() {
        let raw = render(&mail());
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(!raw.contains("multipart"), "{raw}");
        assert!(raw.contains("Message-ID: <abc@example.com>"), "{raw}");
        assert!(!raw.contains("Auto-Submitted"), "{raw}");
    }

    #[test]
    fn automatic_adds_both_headers() {
        let mut m = mail();
        m.automatic = true;
        let raw = render(&m);
        assert!(raw.contains("Auto-Submitted: auto-replied\r\n"), "{raw}");
        assert!(raw.contains("X-Auto-Response-Suppress: All\r\n"), "{raw}");
    }

    #[test]
    fn bad_ids_and_addresses_are_invalid() {
        for id in ["", "<a@b>", "a b@c", "a\r\nBcc: x@y", "é@x"] {
            let mut m = mail();
            m.message_id = id.into();
            assert!(
                matches!(build_message(&m), Err(SmtpError::Invalid(_))),
                "{id:?}"
            );
        }
        let mut m = mail();
        m.references = vec!["ok@x".into(), "bad>@x".into()];
        assert!(matches!(build_message(&m), Err(SmtpError::Invalid(_))));
        for addr in ["", "not an address", "a@b@c", "Name <>"] {
            let mut m = mail();
            m.to = vec![addr.into()];
            assert!(
                matches!(build_message(&m), Err(SmtpError::Invalid(_))),
                "{addr:?}"
            );
        }
        let mut m = mail();
        m.from = "nobody".into();
        assert!(matches!(build_message(&m), Err(SmtpError::Invalid(_))));
        let mut m = mail();
        m.reply_to = Some("x".into());
        assert!(matches!(build_message(&m), Err(SmtpError::Invalid(_))));
        let mut m = mail();
        m.to.clear();
        assert!(matches!(build_message(&m), Err(SmtpError::Invalid(_))));
    }

    #[test]
    fn bad_attachment_type_is_invalid() {
        let mut m = mail();
        m.attachments.push(OutgoingAttachment {
            filename: "a.bin".into(),
            mime_type: "nonsense".into(),
            bytes: vec![1, 2, 3],
        });
        assert!(matches!(build_message(&m), Err(SmtpError::Invalid(_))));
    }

    #[test]
    fn subject_line_breaks_cannot_inject_headers() {
        let mut m = mail();
        m.subject = "hi\r\nBcc: evil@example.net".into();
        let raw = render(&m);
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
    }
}
