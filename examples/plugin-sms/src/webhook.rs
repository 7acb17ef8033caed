//! The gateway's webhook: `POST /webhooks/<channel id>` with
//! `{"messages":[{"id","from","text","received_at"?}]}`, signed with
//! `X-Sms-Signature: <hex HMAC-SHA256 of the raw body>`.
//!
//! The signature is checked (in constant time) before anything parses the body. Each message
//! becomes one `message.received` event: `provider_message_id` = `id` (the bridge drops a
//! redelivered id), sender = the customer `from`, conversation = (`number`, `from`),
//! `occurred_at` = `received_at` (RFC 3339) when given. A body is refused whole, never in
//! part: not a batch, or a message without its `id` or `from`, is `Malformed` (400), so the
//! gateway sees the failure and nothing is half-stored.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use omnibridge_sdk::{
    ChannelError, Content, ConversationRef, InboundEvent, Participant, WebhookRequest,
};
use serde::Deserialize;
use sha2::Sha256;

/// The header carrying the webhook signature.
pub const SIGNATURE_HEADER: &str = "x-sms-signature";

/// What [`Content::Unsupported`] names a message without text (never dropped).
pub const EMPTY_TYPE: &str = "sms-gateway/empty";

/// The `X-Sms-Signature` value the gateway sends with `body`: the hex HMAC-SHA256 of the
/// body under `secret`. For tests and gateway simulators.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks `X-Sms-Signature` against the raw body. `Debug` hides the key.
pub(crate) struct Verifier {
    secret: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

const fn unauthorized(reason: &'static str) -> ChannelError {
    ChannelError::Unauthorized { reason }
}

impl Verifier {
    pub(crate) fn new(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    /// `Ok` when the request carries the body's signature.
    pub(crate) fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        let header = req
            .headers
            .get(SIGNATURE_HEADER)
            .ok_or(unauthorized("missing_signature"))?
            .to_str()
            .map_err(|_| unauthorized("bad_signature"))?;
        let signature = hex::decode(header.trim()).map_err(|_| unauthorized("bad_signature"))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret)
            .map_err(|_| unauthorized("bad_signature"))?;
        mac.update(req.body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&signature)
            .map_err(|_| unauthorized("bad_signature"))
    }
}

/// The webhook body.
#[derive(Deserialize)]
struct Batch {
    messages: Vec<Sms>,
}

/// One received SMS.
#[derive(Deserialize)]
struct Sms {
    id: String,
    from: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    received_at: Option<String>,
}

/// The events of one verified webhook body, for the business number `number`. Pure: no I/O,
/// no clock.
pub fn normalize(number: &str, body: &[u8]) -> Result<Vec<InboundEvent>, ChannelError> {
    let batch: Batch = serde_json::from_slice(body).map_err(|error| {
        // The position and kind only: serde's message may quote the body.
        ChannelError::Malformed(format!(
            "the body is not a message batch ({:?} error at line {}, column {})",
            error.classify(),
            error.line(),
            error.column()
        ))
    })?;
    batch
        .messages
        .into_iter()
        .enumerate()
        .map(|(index, sms)| event(number, index, sms))
        .collect()
}

fn event(number: &str, index: usize, sms: Sms) -> Result<InboundEvent, ChannelError> {
    let refuse = |what: &str| ChannelError::Malformed(format!("message {index}: {what}"));
    let id = sms.id.trim();
    if id.is_empty() {
        return Err(refuse("`id` is empty"));
    }
    let from = sms.from.trim();
    if from.is_empty() {
        return Err(refuse("`from` is empty"));
    }
    let occurred_at = match sms.received_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(
            DateTime::parse_from_rfc3339(text)
                .map_err(|_| refuse("`received_at` is not an RFC 3339 time"))?
                .with_timezone(&Utc),
        ),
    };
    let content = match sms.text {
        Some(text) if !text.is_empty() => Content::text(text),
        _ => Content::unsupported(EMPTY_TYPE),
    };
    let conversation = ConversationRef::new(number, from);
    let mut event = InboundEvent::message(conversation, content)
        .with_sender(Participant::customer(from))
        .with_provider_message_id(id);
    if let Some(at) = occurred_at {
        event = event.with_occurred_at(at);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use omnibridge_sdk::testkit::WebhookFixture;
    use omnibridge_sdk::{EventBody, Role};

    use super::*;

    fn verifier() -> Verifier {
        Verifier::new(b"s3cret".to_vec())
    }

    fn reason(result: Result<(), ChannelError>) -> &'static str {
        match result {
            Err(ChannelError::Unauthorized { reason }) => reason,
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    #[test]
    fn signatures_verify_over_the_exact_body() {
        let body = br#"{"messages":[]}"#;
        let signature = sign(b"s3cret", body);
        assert_eq!(signature.len(), 64);
        let signed = WebhookFixture::post(&body[..]).header(SIGNATURE_HEADER, &signature);
        verifier().verify(&signed.request()).unwrap();
        let upper =
            WebhookFixture::post(&body[..]).header(SIGNATURE_HEADER, &signature.to_uppercase());
        verifier().verify(&upper.request()).unwrap();

        let unsigned = WebhookFixture::post(&body[..]);
        assert_eq!(
            reason(verifier().verify(&unsigned.request())),
            "missing_signature"
        );
        let garbled = WebhookFixture::post(&body[..]).header(SIGNATURE_HEADER, "zz");
        assert_eq!(
            reason(verifier().verify(&garbled.request())),
            "bad_signature"
        );
        let other_key =
            WebhookFixture::post(&body[..]).header(SIGNATURE_HEADER, &sign(b"other", body));
        assert_eq!(
            reason(verifier().verify(&other_key.request())),
            "bad_signature"
        );
        let other_body =
            WebhookFixture::post(&br#"{"messages":[ ]}"#[..]).header(SIGNATURE_HEADER, &signature);
        assert_eq!(
            reason(verifier().verify(&other_body.request())),
            "bad_signature"
        );
    }

    #[test]
    fn each_message_is_one_received_event() {
        let body = br#"{"messages":[
            {"id":"m1","from":"+15550199","text":"hi","received_at":"2024-05-01T12:00:00+02:00"},
            {"id":"m2","from":"+15550123","text":""}
        ]}"#;
        let events = normalize("+15550100", body).unwrap();
        assert_eq!(events.len(), 2);
        let first = &events[0];
        assert_eq!(first.provider_message_id.as_ref().unwrap().as_str(), "m1");
        assert_eq!(first.conversation.account, "+15550100");
        assert_eq!(first.conversation.thread, "+15550199");
        let sender = first.sender.as_ref().unwrap();
        assert_eq!(sender.id.as_deref(), Some("+15550199"));
        assert_eq!(sender.role, Role::Customer);
        assert_eq!(
            first.occurred_at.unwrap().to_rfc3339(),
            "2024-05-01T10:00:00+00:00"
        );
        match &first.body {
            EventBody::MessageReceived(message) => {
                assert_eq!(message.content.text_body(), Some("hi"));
            }
            other => panic!("{other:?}"),
        }
        assert!(events[1].occurred_at.is_none());
        match &events[1].body {
            EventBody::MessageReceived(message) => {
                assert_eq!(message.content, Content::unsupported(EMPTY_TYPE));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_message_refuses_the_whole_body_without_quoting_it() {
        let refused = |body: &str| match normalize("+15550100", body.as_bytes()) {
            Err(ChannelError::Malformed(detail)) => detail,
            other => panic!("expected Malformed, got {other:?}"),
        };
        let detail =
            refused(r#"{"messages":[{"id":"m1","from":"+1","text":"ok"},{"id":" ","from":"+2"}]}"#);
        assert_eq!(detail, "message 1: `id` is empty");
        assert_eq!(
            refused(r#"{"messages":[{"id":"m1","from":""}]}"#),
            "message 0: `from` is empty"
        );
        assert_eq!(
            refused(r#"{"messages":[{"id":"m1","from":"+1","received_at":"yesterday"}]}"#),
            "message 0: `received_at` is not an RFC 3339 time"
        );
        let detail = refused(r#"{"messages":[{"id":"m1","text":"my PIN is 4321"}]}"#);
        assert!(!detail.contains("4321"), "{detail}");
        let detail = refused(r#"{"messages":[{"id":7,"from":"+1","text":"secret words"}]}"#);
        assert!(!detail.contains("secret"), "{detail}");
        refused("not json");
        refused(r#"{"messages":{}}"#);
    }
}
