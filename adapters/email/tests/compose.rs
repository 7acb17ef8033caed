//! The mail an outbound message becomes, parsed back with mail-parser: a free-text reply is
//! multipart/alternative with the text as its text part and the same text, escaped with its
//! line breaks kept, as its HTML part; a message with its own HTML keeps that HTML.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use mail_parser::{MessageParser, MimeHeaders, PartType};
use omnibridge_email::outbound::{Sender, compose};
use omnibridge_email::quote::REPLY_MARKER;
use omnibridge_email::threading::{ThreadIndex, ThreadInfo};
use omnibridge_sdk::{ChannelState, ConversationRef, OutboundId, OutboundMessage};
use support::memory_state::MemoryState;

/// The rendered mail of `msg` on a new thread.
fn rendered(msg: &OutboundMessage) -> Vec<u8> {
    let threads = ThreadIndex::new(
        Arc::new(MemoryState::default()) as Arc<dyn ChannelState>,
        "support",
        "acme.test",
    );
    let info = ThreadInfo {
        customer: "anna@customer.test".into(),
        customer_name: Some("Anna".into()),
        subject: "Order 7".into(),
        references: vec!["first@customer.test".into()],
        last_inbound: Some("first@customer.test".into()),
    };
    let sender = Sender {
        from: "Acme Support <support@acme.test>".into(),
        subject_token: true,
    };
    compose(msg, "k3x9q2m4p1ab", &info, &threads, &sender)
        .render()
        .unwrap()
}

fn reply(text: &str) -> OutboundMessage {
    OutboundMessage::text(
        OutboundId::new("ob_1"),
        ConversationRef::new("acme-mail", "k3x9q2m4p1ab"),
        text,
    )
}

/// The MIME types of the parts, in order, and the text and HTML bodies.
fn parts(raw: &[u8]) -> (Vec<String>, String, String) {
    let message = MessageParser::default().parse(raw).unwrap();
    let types = message
        .parts
        .iter()
        .map(|part| {
            let ct = part.content_type().unwrap();
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default())
        })
        .collect();
    let body = |html: bool| {
        message
            .parts
            .iter()
            .find_map(|part| match (&part.body, html) {
                (PartType::Text(text), false) | (PartType::Html(text), true) => {
                    Some(text.replace("\r\n", "\n"))
                }
                _ => None,
            })
            .unwrap()
    };
    (types, body(false), body(true))
}

#[test]
fn a_free_text_reply_gets_an_escaped_html_part_with_its_line_breaks() {
    let raw = rendered(&reply("Your <b>order</b> & invoice\nship tomorrow."));
    let (types, text, html) = parts(&raw);
    assert_eq!(
        types,
        ["multipart/alternative", "text/plain", "text/html"],
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert_eq!(
        text.trim_end(),
        format!("{REPLY_MARKER}\n\nYour <b>order</b> & invoice\nship tomorrow.")
    );
    assert!(
        html.contains("<p>Your &lt;b&gt;order&lt;/b&gt; &amp; invoice<br>\nship tomorrow.</p>"),
        "{html}"
    );
    assert!(!html.contains("<b>"), "{html}");
    assert!(html.contains(REPLY_MARKER), "{html}");
}

#[test]
fn a_message_with_its_own_html_keeps_it() {
    let mut msg = reply("Paid: $12.00");
    msg.html = Some("<p>Paid: <strong>$12.00</strong></p>".into());
    let (types, text, html) = parts(&rendered(&msg));
    assert_eq!(types, ["multipart/alternative", "text/plain", "text/html"]);
    assert!(text.contains("Paid: $12.00"), "{text}");
    assert!(
        html.contains("<p>Paid: <strong>$12.00</strong></p>"),
        "{html}"
    );
}
