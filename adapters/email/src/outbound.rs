//! One outbound message → one mail in the customer's thread: our Message-ID, In-Reply-To and
//! References from the thread, the customer's subject with a single `Re:` (and the thread
//! token), Reply-To with the conversation's plus-address (the intent's, on payment mails),
//! the reply marker above the text, an HTML part (the message's own, or its text escaped with
//! the line breaks kept, see [`crate::text_html`]), and `Auto-Submitted` on the bridge's
//! automatic mail.

use omnibridge_sdk::OutboundMessage;

use crate::quote::REPLY_MARKER;
use crate::smtp::{OutgoingAttachment, OutgoingMail};
use crate::text_html::html_from_text;
use crate::threading::{ThreadIndex, ThreadInfo, reply_subject};

/// What the mail needs besides the message and thread.
#[derive(Clone, Debug)]
pub struct Sender {
    /// `From` (`Acme Support <support@acme.test>`).
    pub from: String,
    /// Whether subjects carry the thread token.
    pub subject_token: bool,
}

/// The payment intent a templated message is about, when it has one (its data's
/// `intent_id`): replies to it go to the intent's plus-address.
pub fn intent_of(msg: &OutboundMessage) -> Option<String> {
    msg.template_data
        .as_ref()?
        .get("intent_id")?
        .as_str()
        .map(str::to_owned)
}

/// The mail for `msg` on the thread `token`.
pub fn compose(
    msg: &OutboundMessage,
    token: &str,
    info: &ThreadInfo,
    threads: &ThreadIndex,
    sender: &Sender,
) -> OutgoingMail {
    let subject_token = sender.subject_token.then_some(token);
    let subject = if info.subject.trim().is_empty() {
        let subject = msg
            .subject
            .clone()
            .unwrap_or_else(|| "Your conversation".to_owned());
        match subject_token {
            Some(token) => format!("{subject} [#{token}]"),
            None => subject,
        }
    } else {
        reply_subject(&info.subject, subject_token)
    };
    let to = match &info.customer_name {
        Some(name) if !name.trim().is_empty() => {
            format!("\"{}\" <{}>", name.replace(['"', '\\'], ""), info.customer)
        }
        _ => info.customer.clone(),
    };
    let intent = intent_of(msg);
    let text = format!("{REPLY_MARKER}\n\n{}\n", msg.text.trim_end());
    // Every mail is multipart/alternative: the message's own HTML (a template's `.html.hbs`)
    // or, for free text, the text as escaped HTML with its line breaks.
    let html = match &msg.html {
        Some(html) => html.clone(),
        None => html_from_text(&msg.text),
    };
    let html = format!("<div style=\"color:#999;font-size:12px\">{REPLY_MARKER}</div>\n{html}");
    OutgoingMail {
        from: sender.from.clone(),
        to: vec![to],
        reply_to: Some(threads.plus_address(token, intent.as_deref())),
        subject,
        message_id: threads.our_message_id(msg.id.as_str(), token),
        in_reply_to: info.last_inbound.clone(),
        references: info.references.clone(),
        text,
        html: Some(html),
        automatic: msg.automatic,
        attachments: msg
            .attachments
            .iter()
            .enumerate()
            .filter_map(|(index, attachment)| {
                Some(OutgoingAttachment {
                    filename: attachment
                        .filename
                        .clone()
                        .unwrap_or_else(|| format!("attachment-{}", index + 1)),
                    mime_type: attachment
                        .mime_type
                        .clone()
                        .unwrap_or_else(|| "application/octet-stream".to_owned()),
                    bytes: attachment.bytes.as_ref()?.to_vec(),
                })
            })
            .collect(),
    }
}
