//! Delivers bus events to one business webhook endpoint.

use std::sync::Arc;
use std::time::Duration;

use omnibridge_sdk::Envelope;
use tokio_util::sync::CancellationToken;

use super::signature::{SIGNATURE_HEADER, sign};
use crate::bus::{BusError, EventLog};
use crate::metrics::Metrics;
use crate::outbox::RetryPolicy;
use crate::store::Store;

/// Events taken from the bus per read.
const BATCH: usize = 64;
/// A pending event idle this long is taken over from a consumer that died.
const TAKEOVER_AFTER: Duration = Duration::from_secs(60);

/// One configured receiver.
#[derive(Clone)]
pub struct WebhookEndpoint {
    /// The config name; the consumer group is `webhook:<name>`.
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// The signing secret.
    pub secret: Vec<u8>,
    /// Event types to send (empty: all).
    pub event_types: Vec<String>,
    /// Retries.
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Delivers the bus to one endpoint, in order, at least once.
pub struct WebhookDispatcher {
    endpoint: WebhookEndpoint,
    consumer: String,
    bus: Arc<dyn EventLog>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
}

impl WebhookDispatcher {
    /// A dispatcher for `endpoint`, consuming as `consumer` (unique per bridge instance).
    pub fn new(
        endpoint: WebhookEndpoint,
        consumer: String,
        bus: Arc<dyn EventLog>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            endpoint,
            consumer,
            bus,
            store,
            metrics,
            client,
        })
    }

    fn group(&self) -> String {
        format!("webhook:{}", self.endpoint.name)
    }

    /// Delivers until `stop`; an event being retried at shutdown stays pending and is
    /// delivered after the restart.
    pub async fn run(self, stop: CancellationToken) {
        let mut head = self.bus.watch_head();
        while !stop.is_cancelled() {
            let delivered = match self.step(&stop).await {
                Ok(count) => count,
                Err(error) => {
                    tracing::warn!(endpoint = %self.endpoint.name, %error, "Webhook step failed; retrying.");
                    0
                }
            };
            if delivered == 0 {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = crate::bus::head_moved(&mut head) => {}
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }

    /// Takes over stale events, then reads new ones, and delivers them in order. Returns how
    /// many events were handled.
    pub async fn step(&self, stop: &CancellationToken) -> Result<usize, BusError> {
        let group = self.group();
        let mut events = self
            .bus
            .claim_stale(&group, &self.consumer, TAKEOVER_AFTER, BATCH)
            .await?;
        if events.is_empty() {
            events = self.bus.group_read(&group, &self.consumer, BATCH).await?;
        }
        let count = events.len();
        for event in events {
            if !self.delivered_or_dead(&event, stop).await {
                return Ok(0);
            }
            if let Some(seq) = event.seq {
                self.bus.group_ack(&group, &[seq]).await?;
            }
        }
        Ok(count)
    }

    /// Delivers one event with retries; `false` when stopped before an outcome.
    async fn delivered_or_dead(&self, event: &Envelope, stop: &CancellationToken) -> bool {
        let wanted = self.endpoint.event_types.is_empty()
            || self
                .endpoint
                .event_types
                .iter()
                .any(|t| t == event.event_type());
        if !wanted {
            return true;
        }
        let body = match serde_json::to_vec(event) {
            Ok(body) => body,
            Err(error) => return self.dead_letter(event, &error.to_string()).await,
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match self.post(event, &body).await {
                Ok(()) => return true,
                Err(error) => error,
            };
            let Some(delay) = self.endpoint.retry.next_delay(attempts, None) else {
                return self.dead_letter(event, &error).await;
            };
            self.metrics.count_retry("webhook");
            tracing::warn!(endpoint = %self.endpoint.name, seq = event.seq, attempts, %error, "Webhook delivery failed; will retry.");
            tokio::select! {
                () = stop.cancelled() => return false,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn post(&self, event: &Envelope, body: &[u8]) -> Result<(), String> {
        let signature = sign(&self.endpoint.secret, chrono::Utc::now().timestamp(), body);
        let response = self
            .client
            .post(&self.endpoint.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header("omnibridge-event-id", event.id.to_string())
            .header("omnibridge-event-type", event.event_type())
            .body(body.to_vec())
            .send()
            .await
            .map_err(|error| format!("request failed: {}", error.without_url()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("receiver answered {}", response.status()))
        }
    }

    async fn dead_letter(&self, event: &Envelope, error: &str) -> bool {
        self.metrics.count_dead_letter("webhook");
        tracing::error!(endpoint = %self.endpoint.name, seq = event.seq, %error, "Webhook event dead-lettered after its last try.");
        let payload = serde_json::to_value(event).unwrap_or_default();
        if let Err(store_error) = self
            .store
            .record_dead_letter("webhook", &self.endpoint.name, &payload, error)
            .await
        {
            tracing::error!(%store_error, "Could not record a webhook dead letter.");
            return false;
        }
        true
    }
}
