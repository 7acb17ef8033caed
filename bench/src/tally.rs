//! What a closed-loop HTTP load saw, shared by the load generators (`#[path]`-included by
//! each binary): per-connection tallies, their sum, and the common summary fields.

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;

/// What one connection (or, summed, the whole load) saw inside the window.
pub(crate) struct Tally {
    /// Requests answered 200.
    pub(crate) ok: u64,
    /// Requests answered otherwise, or not at all.
    pub(crate) errors: u64,
    /// Latency of the 200s, in microseconds.
    pub(crate) latency: Histogram<u64>,
    /// Size of the request bodies sent (the largest, once summed).
    pub(crate) body_bytes: usize,
}

impl Tally {
    /// An empty tally.
    pub(crate) fn new() -> Result<Tally> {
        Ok(Tally {
            ok: 0,
            errors: 0,
            latency: Histogram::new(3)?,
            body_bytes: 0,
        })
    }

    /// The sum of the connections' tallies.
    pub(crate) async fn sum(tasks: Vec<JoinHandle<Result<Tally>>>) -> Result<Tally> {
        let mut total = Tally::new()?;
        for task in tasks {
            let tally = task.await.context("a connection task panicked")??;
            total.ok += tally.ok;
            total.errors += tally.errors;
            total.latency.add(&tally.latency)?;
            total.body_bytes = total.body_bytes.max(tally.body_bytes);
        }
        Ok(total)
    }

    /// Latency at quantile `q`, in milliseconds.
    pub(crate) fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// `body_bytes`, `requests_ok`, `errors`, `<rate_name>` (200s per second over `secs`),
    /// `p50_ms`, `p90_ms`, `p99_ms`, `max_ms`.
    pub(crate) fn summary(&self, rate_name: &str, secs: f64) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("body_bytes".into(), json!(self.body_bytes));
        fields.insert("requests_ok".into(), json!(self.ok));
        fields.insert("errors".into(), json!(self.errors));
        fields.insert(
            rate_name.into(),
            json!(((self.ok as f64 / secs) * 10.0).round() / 10.0),
        );
        fields.insert("p50_ms".into(), json!(self.ms(0.5)));
        fields.insert("p90_ms".into(), json!(self.ms(0.9)));
        fields.insert("p99_ms".into(), json!(self.ms(0.99)));
        fields.insert("max_ms".into(), json!(self.latency.max() as f64 / 1000.0));
        fields
    }

    /// Prints `head` extended with [`Tally::summary`] as one JSON line; an error when no
    /// request was answered 200.
    pub(crate) fn report(&self, mut head: Value, rate_name: &str, secs: f64) -> Result<()> {
        if let Some(fields) = head.as_object_mut() {
            fields.extend(self.summary(rate_name, secs));
        }
        println!("{head}");
        if self.ok == 0 {
            bail!("no request was answered 200");
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
#[allow(dead_code)] // each load generator includes this file; the email one keeps milliseconds
pub(crate) fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
