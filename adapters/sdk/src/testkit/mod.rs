//! Test doubles and the conformance kit for channel authors (feature `testkit`).
//!
//! ```ignore
//! // The factory builds from a sample table, and names every secret it needs when unset:
//! let channel = assert_factory_builds(&AcmeSmsFactory, table, &[("ACME_SECRET", "s3cret")]);
//! // The channel keeps the webhook contract (signed fixtures, tampering, garbage, ...):
//! let fixture = WebhookFixture::post(body).header("x-signature", sig);
//! assert_conforms(channel.as_ref(), &[fixture], &Conformance::signed_body(&["x-signature"]));
//! // A channel that turns webhooks into events in `receive` (it needs state or I/O):
//! assert_conforms_async(channel.as_ref(), &[fixture], &rules).await;
//! ```
//!
//! See the crate README's "Conformance kit" section for what each check verifies.

mod conformance;
mod factory;
mod state;

use std::sync::Mutex;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::channel::{Inbox, InboxError, WebhookRequest};
use crate::event::InboundEvent;

pub use conformance::{
    Conformance, assert_conforms, assert_conforms_async, check_conformance, check_conformance_async,
};
pub use factory::{assert_factory_builds, check_factory};
pub use state::MemoryState;

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
    /// The path after `/webhooks/{channel id}/` (`""` for the webhook itself); see
    /// [`Channel::webhook_subpaths`](crate::Channel::webhook_subpaths).
    pub subpath: String,
}

impl WebhookFixture {
    /// A `POST` to the channel's webhook with this body and no headers.
    pub fn post(body: impl Into<Bytes>) -> Self {
        Self {
            method: Method::POST,
            headers: HeaderMap::new(),
            query: None,
            body: body.into(),
            subpath: String::new(),
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

    /// The same request sent to `/webhooks/{channel id}/{subpath}` (e.g. `"status"`).
    pub fn at_subpath(mut self, subpath: &str) -> Self {
        subpath.clone_into(&mut self.subpath);
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
        .with_subpath(&self.subpath)
    }
}
