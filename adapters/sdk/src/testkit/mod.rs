//! Test doubles and a conformance check for channel authors (feature `testkit`).
//!
//! ```ignore
//! let fixture = WebhookFixture::post(body).header("x-signature", sig);
//! assert_conforms(&channel, &[fixture], &Conformance::signed_body(&["x-signature"]));
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::channel::{Channel, Inbox, InboxError, WebhookRequest};
use crate::error::ChannelError;
use crate::event::InboundEvent;

/// An [`Inbox`] that keeps everything delivered to it, for tests of pull channels.
#[derive(Debug, Default)]
pub struct RecordingInbox {
    events: Mutex<Vec<InboundEvent>>,
}

impl RecordingInbox {
    /// An empty inbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything delivered so far, in order.
    pub fn events(&self) -> Vec<InboundEvent> {
        self.events
            .lock()
            .map(|events| events.clone())
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl Inbox for RecordingInbox {
    async fn deliver(&self, events: Vec<InboundEvent>) -> Result<(), InboxError> {
        let mut held = self.events.lock().map_err(|_| InboxError::ShuttingDown)?;
        held.extend(events);
        Ok(())
    }
}

/// A webhook request a test owns.
#[derive(Clone, Debug)]
pub struct WebhookFixture {
    /// HTTP method.
    pub method: Method,
    /// Headers, signature included.
    pub headers: HeaderMap,
    /// Raw query string.
    pub query: Option<String>,
    /// Body bytes.
    pub body: Bytes,
}

impl WebhookFixture {
    /// A `POST` with this body and no headers.
    pub fn post(body: impl Into<Bytes>) -> Self {
        Self {
            method: Method::POST,
            headers: HeaderMap::new(),
            query: None,
            body: body.into(),
        }
    }

    /// Adds a header; panics on an invalid name or value (test code only).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        #[allow(clippy::expect_used)]
        let (name, value) = (
            HeaderName::try_from(name).expect("valid header name"),
            HeaderValue::try_from(value).expect("valid header value"),
        );
        self.headers.insert(name, value);
        self
    }

    /// Borrows it as the request the channel sees.
    pub fn request(&self) -> WebhookRequest<'_> {
        WebhookRequest::new(
            &self.method,
            &self.headers,
            self.query.as_deref(),
            &self.body,
        )
    }
}

/// What the conformance check needs to know about a channel's webhook authentication.
#[derive(Clone, Debug)]
pub struct Conformance {
    /// Headers that carry the signature or secret; removing them must fail verification.
    pub auth_headers: Vec<String>,
    /// Whether the signature covers the body, so a changed byte must fail verification.
    pub body_signed: bool,
}

impl Conformance {
    /// A channel that signs the body with a signature in these headers.
    pub fn signed_body(auth_headers: &[&str]) -> Self {
        Self {
            auth_headers: auth_headers.iter().map(|h| (*h).to_owned()).collect(),
            body_signed: true,
        }
    }

    /// A channel that authenticates with a shared secret header only.
    pub fn secret_header(auth_headers: &[&str]) -> Self {
        Self {
            body_signed: false,
            ..Self::signed_body(auth_headers)
        }
    }
}

/// Checks a push channel against the SDK's contract and lists every breach:
/// signed fixtures verify and normalise; without their auth headers, or with a changed body
/// byte when the body is signed, they are refused as `Unauthorized`; normalising is
/// deterministic (a redelivery yields the same de-duplication keys); garbage never panics;
/// capabilities are sane.
pub fn check_conformance(
    channel: &dyn Channel,
    signed: &[WebhookFixture],
    rules: &Conformance,
) -> Vec<String> {
    let mut breaches = Vec::new();
    let caps = channel.capabilities();
    if caps.max_text_chars == Some(0) {
        breaches.push("capabilities: max_text_chars is 0".to_owned());
    }
    if caps
        .buttons
        .is_some_and(|b| b.max_count == 0 || b.max_label_chars == 0)
    {
        breaches.push("capabilities: button limits of 0; use `buttons: None`".to_owned());
    }
    for (index, fixture) in signed.iter().enumerate() {
        if let Err(error) = channel.verify(&fixture.request()) {
            breaches.push(format!(
                "fixture {index}: a signed fixture failed to verify: {error}"
            ));
            continue;
        }
        let first = normalize_caught(channel, fixture);
        let again = normalize_caught(channel, fixture);
        match (&first, &again) {
            (Some(Ok(a)), Some(Ok(b))) => {
                let keys = |events: &[InboundEvent]| {
                    events
                        .iter()
                        .map(|e| e.effective_dedup_key().map(str::to_owned))
                        .collect::<Vec<_>>()
                };
                if keys(a) != keys(b) {
                    breaches.push(format!("fixture {index}: redelivery changed dedup keys"));
                }
            }
            (None, _) | (_, None) => breaches.push(format!("fixture {index}: normalize panicked")),
            (Some(Err(error)), _) | (_, Some(Err(error))) => {
                breaches.push(format!("fixture {index}: normalize failed: {error}"));
            }
        }
        let mut stripped = fixture.clone();
        for header in &rules.auth_headers {
            stripped.headers.remove(header.as_str());
        }
        if !matches!(
            channel.verify(&stripped.request()),
            Err(ChannelError::Unauthorized { .. })
        ) {
            breaches.push(format!(
                "fixture {index}: accepted without its auth headers"
            ));
        }
        if rules.body_signed && !fixture.body.is_empty() {
            let mut tampered = fixture.clone();
            let mut body = fixture.body.to_vec();
            body[0] ^= 0x01;
            tampered.body = Bytes::from(body);
            if !matches!(
                channel.verify(&tampered.request()),
                Err(ChannelError::Unauthorized { .. })
            ) {
                breaches.push(format!(
                    "fixture {index}: accepted with a changed body byte"
                ));
            }
        }
    }
    for garbage in garbage_bodies() {
        let fixture = WebhookFixture {
            body: garbage,
            ..signed
                .first()
                .cloned()
                .unwrap_or_else(|| WebhookFixture::post(Bytes::new()))
        };
        if normalize_caught(channel, &fixture).is_none() {
            breaches.push(format!("normalize panicked on garbage {:?}", fixture.body));
        }
    }
    breaches
}

/// Panics with every breach [`check_conformance`] finds.
pub fn assert_conforms(channel: &dyn Channel, signed: &[WebhookFixture], rules: &Conformance) {
    let breaches = check_conformance(channel, signed, rules);
    assert!(
        breaches.is_empty(),
        "channel breaches the SDK contract:\n- {}",
        breaches.join("\n- ")
    );
}

fn normalize_caught(
    channel: &dyn Channel,
    fixture: &WebhookFixture,
) -> Option<Result<Vec<InboundEvent>, ChannelError>> {
    catch_unwind(AssertUnwindSafe(|| channel.normalize(&fixture.request()))).ok()
}

fn garbage_bodies() -> Vec<Bytes> {
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        Bytes::new(),
        Bytes::from_static(b"null"),
        Bytes::from_static(b"{}"),
        Bytes::from_static(b"[]"),
        Bytes::from_static(b"{\"entry\":[{\"changes\":[{\"value\":null}]}]}"),
        Bytes::from_static(&[0xff, 0xfe, 0x00, 0x80]),
        Bytes::from(nested),
    ]
}
