//! Prometheus metrics: events in and out per channel, outbox depth, retries, dead letters and
//! an HTTP latency histogram, rendered in the text exposition format at `/metrics`.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels naming a channel kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    /// The channel kind (`webchat`, `whatsapp`, ...).
    pub channel: String,
}

/// Labels naming what kind of thing was retried, dead-lettered or trimmed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `outbound` (channel sends) or `webhook` (business webhooks); for retention `events`,
    /// `dedup`, `outbox`, `idempotency` or `channel_state`.
    pub kind: String,
}

/// Labels of a payment outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PaymentLabel {
    /// The settlement method (`sandbox`, `stripe`).
    pub method: String,
    /// `succeeded`, `refused`, `unavailable` or `malformed`.
    pub outcome: String,
}

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabel {
    /// The matched route template (`/v1/conversations/{id}/messages`), never the raw path.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The response status class (`2xx`, `4xx`, ...).
    pub status: String,
}

/// Every metric the bridge exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Events appended to the bus (customers' and the bridge's own), per channel.
    pub events_in: Family<ChannelLabel, Counter>,
    /// Messages handed to a channel, per channel.
    pub events_out: Family<ChannelLabel, Counter>,
    /// Provider redeliveries dropped by de-duplication, per channel.
    pub duplicates: Family<ChannelLabel, Counter>,
    /// Outbox records waiting to be sent.
    pub outbox_depth: Gauge,
    /// Retries scheduled, by kind.
    pub retries: Family<KindLabel, Counter>,
    /// Dead letters, by kind.
    pub dead_letters: Family<KindLabel, Counter>,
    /// HTTP request latency in seconds.
    pub http_latency: Family<HttpLabel, Histogram>,
    /// Settlement attempts through the MPP endpoint, by method and outcome.
    pub payment_settlements: Family<PaymentLabel, Counter>,
    /// Records removed by retention, by kind.
    pub retention_trimmed: Family<KindLabel, Counter>,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("omnibridge");
        let events_in = Family::<ChannelLabel, Counter>::default();
        let events_out = Family::<ChannelLabel, Counter>::default();
        let duplicates = Family::<ChannelLabel, Counter>::default();
        let outbox_depth = Gauge::default();
        let retries = Family::<KindLabel, Counter>::default();
        let dead_letters = Family::<KindLabel, Counter>::default();
        let http_latency = Family::<HttpLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register(
            "events_in",
            "Events appended from customers",
            events_in.clone(),
        );
        registry.register(
            "events_out",
            "Messages handed to channels",
            events_out.clone(),
        );
        registry.register(
            "duplicates",
            "Redeliveries dropped by de-duplication",
            duplicates.clone(),
        );
        registry.register(
            "outbox_depth",
            "Outbound messages waiting to be sent",
            outbox_depth.clone(),
        );
        registry.register("retries", "Retries scheduled", retries.clone());
        registry.register("dead_letters", "Messages given up on", dead_letters.clone());
        let payment_settlements = Family::<PaymentLabel, Counter>::default();
        registry.register(
            "payment_settlements",
            "Settlement attempts by method and outcome",
            payment_settlements.clone(),
        );
        let retention_trimmed = Family::<KindLabel, Counter>::default();
        registry.register(
            "retention_trimmed",
            "Records removed by retention, by kind",
            retention_trimmed.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP latency",
            http_latency.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            events_in,
            events_out,
            duplicates,
            outbox_depth,
            retries,
            dead_letters,
            http_latency,
            payment_settlements,
            retention_trimmed,
        }
    }

    /// Counts `count` records of `kind` removed by retention (creating the series at 0, so
    /// every kind shows from the first run).
    pub fn count_trimmed(&self, kind: &str, count: u64) {
        self.retention_trimmed
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .inc_by(count);
    }

    /// Counts one settlement attempt of `method` ending in `outcome`.
    pub fn count_settlement(&self, method: &str, outcome: &str) {
        self.payment_settlements
            .get_or_create(&PaymentLabel {
                method: method.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one thing for `channel` in `family`.
    pub fn count_channel(family: &Family<ChannelLabel, Counter>, channel: &str) {
        family
            .get_or_create(&ChannelLabel {
                channel: channel.to_owned(),
            })
            .inc();
    }

    /// Counts one retry of `kind`.
    pub fn count_retry(&self, kind: &str) {
        self.retries
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Counts one dead letter of `kind`.
    pub fn count_dead_letter(&self, kind: &str) {
        self.dead_letters
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            // Writing into a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_counted_values() {
        let metrics = Metrics::new();
        Metrics::count_channel(&metrics.events_in, "webchat");
        metrics.count_dead_letter("outbound");
        metrics.outbox_depth.set(3);
        let text = metrics.render();
        assert!(
            text.contains("omnibridge_events_in_total{channel=\"webchat\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("omnibridge_dead_letters_total{kind=\"outbound\"} 1"),
            "{text}"
        );
        assert!(text.contains("omnibridge_outbox_depth 3"), "{text}");
    }
}
