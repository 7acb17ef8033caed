//! The conformance check: a channel against the SDK's webhook and capability contract.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Poll;

use bytes::Bytes;
use http::Method;

use super::WebhookFixture;
use crate::channel::Channel;
use crate::error::ChannelError;
use crate::event::InboundEvent;

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

/// Checks a channel against the SDK's contract, through [`Channel::normalize`], and lists
/// every breach (empty: it conforms):
///
/// - capabilities are sane: no `max_text_chars` of 0, no button or attachment limits of 0
///   (use `None`), no attachments without a media kind;
/// - every [`webhook_subpaths`](Channel::webhook_subpaths) entry is one non-empty path
///   segment (no `/`, `?`, `#`), listed once;
/// - a request without any header is refused as `Unauthorized`, at the webhook and at every
///   subpath;
/// - each signed fixture verifies, normalises without error, and normalising it again gives
///   the same events (`normalize` is pure), so the same de-duplication keys; no event is a
///   bridge-only `payment.*` one; a fixture at a subpath targets a listed one;
/// - without its `rules.auth_headers`, or (when `rules.body_signed`) with one body byte
///   changed, each fixture is refused as `Unauthorized`;
/// - garbage bodies (empty, `null`, `{}`, invalid UTF-8, 10 000 nested brackets, ...) never
///   make `verify` or `normalize` panic, with the first fixture's headers, at the webhook and
///   every subpath.
///
/// With no fixtures (a channel without webhooks) only the capability, subpath,
/// refuse-unauthenticated and garbage checks run. A channel that turns webhooks into events
/// in [`Channel::receive`] (state, I/O) needs [`check_conformance_async`] as well.
pub fn check_conformance(
    channel: &dyn Channel,
    signed: &[WebhookFixture],
    rules: &Conformance,
) -> Vec<String> {
    let mut breaches = Vec::new();
    check_capabilities(channel, &mut breaches);
    check_subpaths(channel, &mut breaches);
    check_unauthenticated(channel, &mut breaches);
    for (index, fixture) in signed.iter().enumerate() {
        if !check_signed(channel, index, fixture, rules, &mut breaches) {
            continue;
        }
        let first = caught(|| channel.normalize(&fixture.request()));
        let again = caught(|| channel.normalize(&fixture.request()));
        match (&first, &again) {
            (Some(Ok(a)), Some(Ok(b))) => {
                check_events("normalize", index, a, &mut breaches);
                if dedup_keys(a) != dedup_keys(b) {
                    breaches.push(format!(
                        "fixture {index}: normalize gave other de-duplication keys on \
                         redelivery: {:?}, then {:?}",
                        dedup_keys(a),
                        dedup_keys(b)
                    ));
                } else if a != b {
                    breaches.push(format!(
                        "fixture {index}: normalize gave other events for the same request \
                         (it must be pure: no clock, no randomness, no I/O)"
                    ));
                }
            }
            (None, _) | (_, None) => breaches.push(format!("fixture {index}: normalize panicked")),
            (Some(Err(error)), _) | (_, Some(Err(error))) => {
                breaches.push(format!("fixture {index}: normalize failed: {error}"));
            }
        }
    }
    for fixture in garbage_fixtures(channel, signed) {
        if caught(|| channel.verify(&fixture.request())).is_none() {
            breaches.push(format!(
                "verify panicked on garbage {:?} at {:?}",
                fixture.body, fixture.subpath
            ));
        }
        if caught(|| channel.normalize(&fixture.request())).is_none() {
            breaches.push(format!(
                "normalize panicked on garbage {:?} at {:?}",
                fixture.body, fixture.subpath
            ));
        }
    }
    breaches
}

/// [`check_conformance`], then the same contract through [`Channel::receive`], which is what
/// the bridge's webhook route calls (the default `receive` calls `normalize`; channels that
/// need state or I/O to make events, like email's threading, override it):
///
/// - each signed fixture that verifies is received twice without error or panic; the
///   redelivery gives the same de-duplication keys and lands in the same conversations; no
///   event is a bridge-only `payment.*` one;
/// - garbage bodies never make `receive` panic.
///
/// Give the channel its state first (a [`MemoryState`](super::MemoryState) in its
/// `ChannelContext`); run it on any async runtime.
pub async fn check_conformance_async(
    channel: &dyn Channel,
    signed: &[WebhookFixture],
    rules: &Conformance,
) -> Vec<String> {
    let mut breaches = check_conformance(channel, signed, rules);
    for (index, fixture) in signed.iter().enumerate() {
        if !matches!(caught(|| channel.verify(&fixture.request())), Some(Ok(()))) {
            continue; // reported above
        }
        let first = receive_caught(channel, fixture).await;
        let again = receive_caught(channel, fixture).await;
        match (&first, &again) {
            (Some(Ok(a)), Some(Ok(b))) => {
                check_events("receive", index, a, &mut breaches);
                if dedup_keys(a) != dedup_keys(b) {
                    breaches.push(format!(
                        "fixture {index}: receive gave other de-duplication keys on \
                         redelivery: {:?}, then {:?}",
                        dedup_keys(a),
                        dedup_keys(b)
                    ));
                }
                let conversations = |events: &[InboundEvent]| {
                    events
                        .iter()
                        .map(|e| e.conversation.clone())
                        .collect::<Vec<_>>()
                };
                if conversations(a) != conversations(b) {
                    breaches.push(format!(
                        "fixture {index}: receive put the redelivery in other conversations"
                    ));
                }
            }
            (None, _) | (_, None) => breaches.push(format!("fixture {index}: receive panicked")),
            (Some(Err(error)), _) | (_, Some(Err(error))) => {
                breaches.push(format!("fixture {index}: receive failed: {error}"));
            }
        }
    }
    for fixture in garbage_fixtures(channel, signed) {
        if receive_caught(channel, &fixture).await.is_none() {
            breaches.push(format!(
                "receive panicked on garbage {:?} at {:?}",
                fixture.body, fixture.subpath
            ));
        }
    }
    breaches
}

/// Panics with every breach [`check_conformance`] finds.
pub fn assert_conforms(channel: &dyn Channel, signed: &[WebhookFixture], rules: &Conformance) {
    report(&check_conformance(channel, signed, rules));
}

/// Panics with every breach [`check_conformance_async`] finds.
pub async fn assert_conforms_async(
    channel: &dyn Channel,
    signed: &[WebhookFixture],
    rules: &Conformance,
) {
    report(&check_conformance_async(channel, signed, rules).await);
}

fn report(breaches: &[String]) {
    assert!(
        breaches.is_empty(),
        "channel breaches the SDK contract:\n- {}",
        breaches.join("\n- ")
    );
}

fn check_capabilities(channel: &dyn Channel, breaches: &mut Vec<String>) {
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
    if let Some(attachments) = &caps.attachments
        && (attachments.kinds.is_empty() || attachments.max_bytes == 0)
    {
        breaches.push(
            "capabilities: attachments without a media kind or of 0 bytes; use \
             `attachments: None`"
                .to_owned(),
        );
    }
}

fn check_subpaths(channel: &dyn Channel, breaches: &mut Vec<String>) {
    let subpaths = channel.webhook_subpaths();
    for (index, subpath) in subpaths.iter().enumerate() {
        if subpath.is_empty() || subpath.contains(['/', '?', '#']) {
            breaches.push(format!(
                "webhook_subpaths: {subpath:?} is not one path segment (the bridge routes \
                 /webhooks/{{id}}/{{segment}})"
            ));
        }
        if subpaths[..index].contains(subpath) {
            breaches.push(format!("webhook_subpaths: {subpath:?} is listed twice"));
        }
    }
}

fn check_unauthenticated(channel: &dyn Channel, breaches: &mut Vec<String>) {
    for subpath in paths(channel) {
        let bare = WebhookFixture::post(Bytes::from_static(b"{}")).at_subpath(subpath);
        match caught(|| channel.verify(&bare.request())) {
            Some(Err(ChannelError::Unauthorized { .. })) => {}
            None => breaches.push(format!(
                "verify panicked on a request without headers at {subpath:?}"
            )),
            Some(_) => breaches.push(format!(
                "a request without any header was not refused as Unauthorized at {subpath:?}"
            )),
        }
    }
}

/// Verification checks of one signed fixture; false when it did not verify (nothing more
/// to check on it).
fn check_signed(
    channel: &dyn Channel,
    index: usize,
    fixture: &WebhookFixture,
    rules: &Conformance,
    breaches: &mut Vec<String>,
) -> bool {
    if !fixture.subpath.is_empty()
        && !channel
            .webhook_subpaths()
            .contains(&fixture.subpath.as_str())
    {
        breaches.push(format!(
            "fixture {index}: subpath {:?} is not in webhook_subpaths (the bridge answers 404)",
            fixture.subpath
        ));
    }
    match caught(|| channel.verify(&fixture.request())) {
        Some(Ok(())) => {}
        Some(Err(error)) => {
            breaches.push(format!(
                "fixture {index}: a signed fixture failed to verify: {error}"
            ));
            return false;
        }
        None => {
            breaches.push(format!("fixture {index}: verify panicked"));
            return false;
        }
    }
    let mut stripped = fixture.clone();
    for header in &rules.auth_headers {
        stripped.headers.remove(header.as_str());
    }
    if !matches!(
        caught(|| channel.verify(&stripped.request())),
        Some(Err(ChannelError::Unauthorized { .. }))
    ) {
        breaches.push(format!(
            "fixture {index}: not refused as Unauthorized without its auth headers"
        ));
    }
    if rules.body_signed && !fixture.body.is_empty() {
        let mut tampered = fixture.clone();
        let mut body = fixture.body.to_vec();
        body[0] ^= 0x01;
        tampered.body = Bytes::from(body);
        if !matches!(
            caught(|| channel.verify(&tampered.request())),
            Some(Err(ChannelError::Unauthorized { .. }))
        ) {
            breaches.push(format!(
                "fixture {index}: not refused as Unauthorized with a changed body byte"
            ));
        }
    }
    true
}

/// Checks on the events one fixture produced.
fn check_events(step: &str, index: usize, events: &[InboundEvent], breaches: &mut Vec<String>) {
    if let Some(event) = events.iter().find(|e| e.body.is_bridge_only()) {
        breaches.push(format!(
            "fixture {index}: {step} made a {} event; only the bridge makes payment events \
             (it refuses the whole batch)",
            event.body.type_name()
        ));
    }
}

fn dedup_keys(events: &[InboundEvent]) -> Vec<Option<String>> {
    events
        .iter()
        .map(|e| e.effective_dedup_key().map(str::to_owned))
        .collect()
}

/// `""` (the webhook itself) and every listed subpath.
fn paths(channel: &dyn Channel) -> Vec<&str> {
    std::iter::once("")
        .chain(channel.webhook_subpaths().iter().copied())
        .collect()
}

fn garbage_fixtures(channel: &dyn Channel, signed: &[WebhookFixture]) -> Vec<WebhookFixture> {
    let template = signed
        .first()
        .cloned()
        .unwrap_or_else(|| WebhookFixture::post(Bytes::new()));
    let mut fixtures = Vec::new();
    for subpath in paths(channel) {
        for body in garbage_bodies() {
            fixtures.push(WebhookFixture {
                method: Method::POST,
                body,
                subpath: subpath.to_owned(),
                ..template.clone()
            });
        }
    }
    fixtures
}

fn garbage_bodies() -> Vec<Bytes> {
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let nested_objects = format!("{}{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
    vec![
        Bytes::new(),
        Bytes::from_static(b"null"),
        Bytes::from_static(b"{}"),
        Bytes::from_static(b"[]"),
        Bytes::from_static(b"\"\""),
        Bytes::from_static(b"{\"entry\":[{\"changes\":[{\"value\":null}]}]}"),
        Bytes::from_static(b"From: \r\n\r\n"),
        Bytes::from_static(&[0xff, 0xfe, 0x00, 0x80]),
        Bytes::from(nested),
        Bytes::from(nested_objects),
    ]
}

/// Runs `f`, `None` if it panicked.
fn caught<T>(f: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(f)).ok()
}

/// [`Channel::receive`] on the fixture, `None` if it panicked (at any poll).
async fn receive_caught(
    channel: &dyn Channel,
    fixture: &WebhookFixture,
) -> Option<Result<Vec<InboundEvent>, ChannelError>> {
    let request = fixture.request();
    let mut future = caught(|| channel.receive(&request))?;
    std::future::poll_fn(move |cx| {
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(result)) => Poll::Ready(Some(result)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(None),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::capabilities::{AttachmentLimits, Capabilities};
    use crate::channel::WebhookRequest;
    use crate::content::Content;
    use crate::event::EventBody;
    use crate::ids::{ChannelKind, ConversationRef};
    use crate::outbound::{OutboundMessage, SendReceipt};
    use crate::payment::PaymentUpdate;

    /// A toy signature: the sum of the body's bytes (one changed byte changes it).
    fn sign(body: &[u8]) -> String {
        format!("sig:{}", body.iter().map(|b| u64::from(*b)).sum::<u64>())
    }

    /// A channel whose misbehaviour each test switches on.
    struct Probe {
        caps: Capabilities,
        subpaths: &'static [&'static str],
        /// Accepts any `x-token` header, whatever the body.
        token_only: bool,
        /// Accepts every request.
        open: bool,
        /// Stamps a counter into the event's text, so normalize is not pure.
        impure: Option<AtomicU64>,
        /// Panics in normalize on an empty body.
        panics_on_empty: bool,
        /// Makes a payment event.
        payment: bool,
        /// Only `receive` makes events, and it panics on `null`.
        receive_only: bool,
    }

    impl Probe {
        fn good() -> Self {
            Self {
                caps: Capabilities::text_only(160),
                subpaths: &[],
                token_only: false,
                open: false,
                impure: None,
                panics_on_empty: false,
                payment: false,
                receive_only: false,
            }
        }
    }

    #[async_trait::async_trait]
    impl Channel for Probe {
        fn kind(&self) -> ChannelKind {
            ChannelKind::new("probe").unwrap()
        }

        fn capabilities(&self) -> &Capabilities {
            &self.caps
        }

        fn webhook_subpaths(&self) -> &[&str] {
            self.subpaths
        }

        fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
            let token = req.header("x-token");
            let valid = match token {
                _ if self.open => true,
                Some(_) if self.token_only => true,
                Some(token) => token == sign(req.body),
                None => false,
            };
            if valid {
                Ok(())
            } else {
                Err(ChannelError::Unauthorized { reason: "bad" })
            }
        }

        fn normalize(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
            if self.panics_on_empty && req.body.is_empty() {
                panic!("empty body");
            }
            if self.receive_only {
                return Ok(Vec::new());
            }
            let conversation = ConversationRef::new("acct", "thread");
            let mut text = String::from_utf8_lossy(req.body).into_owned();
            if let Some(counter) = &self.impure {
                text.push_str(&counter.fetch_add(1, Ordering::SeqCst).to_string());
            }
            let event = if self.payment {
                InboundEvent::new(
                    conversation,
                    EventBody::PaymentSucceeded(PaymentUpdate::new("p", 1, "EUR", "succeeded")),
                )
            } else {
                InboundEvent::message(conversation, Content::text(text))
                    .with_provider_message_id("m1")
            };
            Ok(vec![event])
        }

        async fn receive(
            &self,
            req: &WebhookRequest<'_>,
        ) -> Result<Vec<InboundEvent>, ChannelError> {
            if self.receive_only && req.body.as_ref() == b"null" {
                panic!("null body");
            }
            self.normalize(req)
        }

        async fn send(&self, _msg: &OutboundMessage) -> Result<SendReceipt, ChannelError> {
            Ok(SendReceipt::sent(None))
        }
    }

    fn fixture() -> WebhookFixture {
        let body = br#"{"text":"hi"}"#;
        WebhookFixture::post(&body[..]).header("x-token", &sign(body))
    }

    fn rules() -> Conformance {
        Conformance::signed_body(&["x-token"])
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_conforming_channel_has_no_breaches() {
        let probe = Probe::good();
        let none = Vec::<String>::new();
        assert_eq!(check_conformance(&probe, &[fixture()], &rules()), none);
        let both = block_on(check_conformance_async(&probe, &[fixture()], &rules()));
        assert_eq!(both, none);
        assert_conforms(&probe, &[fixture()], &rules());
    }

    #[test]
    fn each_breach_is_named() {
        let cases: Vec<(Probe, &str)> = vec![
            (
                Probe {
                    caps: Capabilities::text_only(0),
                    ..Probe::good()
                },
                "max_text_chars is 0",
            ),
            (
                Probe {
                    caps: Capabilities::text_only(10)
                        .with_attachments(AttachmentLimits::new(Vec::new(), 10)),
                    ..Probe::good()
                },
                "attachments without a media kind",
            ),
            (
                Probe {
                    subpaths: &["status", "a/b"],
                    ..Probe::good()
                },
                "\"a/b\" is not one path segment",
            ),
            (
                Probe {
                    subpaths: &["status", "status"],
                    ..Probe::good()
                },
                "\"status\" is listed twice",
            ),
            (
                Probe {
                    token_only: true,
                    ..Probe::good()
                },
                "fixture 0: not refused as Unauthorized with a changed body byte",
            ),
            (
                Probe {
                    open: true,
                    ..Probe::good()
                },
                "a request without any header was not refused as Unauthorized at \"\"",
            ),
            (
                Probe {
                    impure: Some(AtomicU64::new(0)),
                    ..Probe::good()
                },
                "fixture 0: normalize gave other events for the same request",
            ),
            (
                Probe {
                    panics_on_empty: true,
                    ..Probe::good()
                },
                "normalize panicked on garbage b\"\" at \"\"",
            ),
            (
                Probe {
                    payment: true,
                    ..Probe::good()
                },
                "fixture 0: normalize made a payment.succeeded event",
            ),
        ];
        for (probe, expected) in cases {
            let breaches = check_conformance(&probe, &[fixture()], &rules());
            assert!(
                breaches.iter().any(|b| b.contains(expected)),
                "expected {expected:?} in {breaches:#?}"
            );
        }
    }

    #[test]
    fn the_async_check_catches_what_only_receive_does() {
        let probe = Probe {
            receive_only: true,
            ..Probe::good()
        };
        assert!(check_conformance(&probe, &[fixture()], &rules()).is_empty());
        let breaches = block_on(check_conformance_async(&probe, &[fixture()], &rules()));
        assert!(
            breaches
                .iter()
                .any(|b| b.contains("receive panicked on garbage b\"null\" at \"\"")),
            "{breaches:#?}"
        );
    }

    #[test]
    fn fixtures_must_target_listed_subpaths_and_garbage_reaches_every_subpath() {
        let breaches =
            check_conformance(&Probe::good(), &[fixture().at_subpath("status")], &rules());
        assert!(
            breaches
                .iter()
                .any(|b| b.contains("fixture 0: subpath \"status\" is not in webhook_subpaths")),
            "{breaches:#?}"
        );
        let listed = Probe {
            subpaths: &["status"],
            panics_on_empty: true,
            ..Probe::good()
        };
        let breaches = check_conformance(&listed, &[fixture().at_subpath("status")], &rules());
        assert!(
            !breaches
                .iter()
                .any(|b| b.contains("not in webhook_subpaths"))
        );
        assert!(
            breaches
                .iter()
                .any(|b| b.contains("normalize panicked on garbage b\"\" at \"status\"")),
            "{breaches:#?}"
        );
    }

    #[test]
    #[should_panic(expected = "channel breaches the SDK contract")]
    fn assert_conforms_panics_with_the_breaches() {
        let probe = Probe {
            open: true,
            ..Probe::good()
        };
        assert_conforms(&probe, &[], &rules());
    }
}
