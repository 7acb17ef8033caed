//! The run's results: one JSON line (stdout) and a short table (stderr).
//!
//! A request counts when it was due inside the measurement window. Answer latency is due →
//! answer (for the closed loop "due" is the send); SSE latency is due → arrival of its
//! `message.received` on the stream. `service` (send → answer) and `send_lag` (due → send)
//! tell the server's share from the sender's.

use std::collections::HashMap;

use anyhow::Result;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::LoadArgs;
use crate::load::{NEVER, Record, Timeline};
use crate::sse::Arrival;

/// The JSON summary. The first fields (up to `max_ms`) keep the names the throughput scripts
/// read.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    label: String,
    url: String,
    /// `closed` or `paced`.
    mode: &'static str,
    connections: u32,
    rate_target: f64,
    secs: f64,
    warmup_secs: f64,
    /// Largest request body sent, in bytes.
    body_bytes: usize,
    /// Requests due in the window.
    sent: u64,
    /// Of those, answered 200.
    pub(crate) requests_ok: u64,
    /// Of those, answered otherwise or not at all.
    errors: u64,
    /// `requests_ok` per second of the window.
    req_per_s: f64,
    /// Answer latency (due → answer), in ms.
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Send → answer, in ms.
    service_p99_ms: f64,
    service_max_ms: f64,
    /// Due → send (the sender's own lateness), in ms.
    send_lag_p99_ms: f64,
    send_lag_max_ms: f64,
    /// The SSE part; absent without `--sse-url`.
    #[serde(flatten)]
    sse: Option<SseSummary>,
}

/// Delivery on the SSE stream of the window's acknowledged requests.
#[derive(Debug, Serialize)]
pub(crate) struct SseSummary {
    /// Acknowledged requests whose event arrived.
    sse_samples: u64,
    /// Acknowledged requests whose event never arrived (by the drain deadline).
    sse_missing: u64,
    /// Extra arrivals of an event already seen (any request of the run, window or not).
    sse_duplicates: u64,
    /// Due → arrival, in ms.
    sse_p50_ms: f64,
    sse_p90_ms: f64,
    sse_p99_ms: f64,
    sse_max_ms: f64,
}

/// Latencies in microseconds, 1 µs to 10 min.
fn histogram() -> Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

fn record(histogram: &mut Histogram<u64>, from_ns: u64, to_ns: u64) {
    histogram.saturating_record((to_ns.saturating_sub(from_ns) / 1_000).max(1));
}

fn ms(histogram: &Histogram<u64>, q: f64) -> f64 {
    if histogram.is_empty() {
        0.0
    } else {
        histogram.value_at_quantile(q) as f64 / 1_000.0
    }
}

/// Everything measured in the window.
pub(crate) fn summarize(
    args: &LoadArgs,
    timeline: &Timeline,
    records: &[Record],
    arrivals: Option<&[Arrival]>,
) -> Result<Summary> {
    let (from, to) = (timeline.ns(timeline.warm_end), timeline.ns(timeline.end));
    let mut first: HashMap<(u32, u64), u64> = HashMap::new();
    let mut duplicates = 0u64;
    for &(stream, n, at) in arrivals.unwrap_or_default() {
        match first.entry((stream, n)) {
            std::collections::hash_map::Entry::Occupied(mut slot) => {
                duplicates += 1;
                *slot.get_mut() = (*slot.get()).min(at);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(at);
            }
        }
    }
    let (mut answer, mut service, mut lag, mut sse) =
        (histogram()?, histogram()?, histogram()?, histogram()?);
    let (mut sent, mut ok, mut missing, mut body_bytes) = (0u64, 0u64, 0u64, 0usize);
    for r in records.iter().filter(|r| r.due_ns >= from && r.due_ns < to) {
        sent += 1;
        body_bytes = body_bytes.max(r.body_bytes);
        record(&mut lag, r.due_ns, r.sent_ns);
        if !r.ok || r.done_ns == NEVER {
            continue;
        }
        ok += 1;
        record(&mut answer, r.due_ns, r.done_ns);
        record(&mut service, r.sent_ns, r.done_ns);
        match first.get(&(r.stream, r.n)) {
            Some(&at) => record(&mut sse, r.due_ns, at),
            None => missing += 1,
        }
    }
    let paced = args.rate > 0.0;
    Ok(Summary {
        label: args.label.clone(),
        url: args.url.clone(),
        mode: if paced { "paced" } else { "closed" },
        connections: if paced { 0 } else { args.connections },
        rate_target: if paced { args.rate } else { 0.0 },
        secs: args.secs,
        warmup_secs: args.warmup_secs,
        body_bytes,
        sent,
        requests_ok: ok,
        errors: sent - ok,
        req_per_s: (ok as f64 / args.secs * 10.0).round() / 10.0,
        p50_ms: ms(&answer, 0.5),
        p90_ms: ms(&answer, 0.9),
        p99_ms: ms(&answer, 0.99),
        max_ms: ms(&answer, 1.0),
        service_p99_ms: ms(&service, 0.99),
        service_max_ms: ms(&service, 1.0),
        send_lag_p99_ms: ms(&lag, 0.99),
        send_lag_max_ms: ms(&lag, 1.0),
        sse: arrivals.map(|_| SseSummary {
            sse_samples: sse.len(),
            sse_missing: missing,
            sse_duplicates: duplicates,
            sse_p50_ms: ms(&sse, 0.5),
            sse_p90_ms: ms(&sse, 0.9),
            sse_p99_ms: ms(&sse, 0.99),
            sse_max_ms: ms(&sse, 1.0),
        }),
    })
}

/// The human-readable table, on stderr (stdout carries the JSON line only).
pub(crate) fn print_table(s: &Summary) {
    let mode = match s.mode {
        "paced" => format!("paced at {} req/s", s.rate_target),
        _ => format!("closed loop, {} connections", s.connections),
    };
    eprintln!(
        "whatsapp-load {} — {mode}, {} B bodies",
        s.label, s.body_bytes
    );
    eprintln!(
        "  window     {} s after {} s warm-up: {} due, {} answered 200 ({} req/s), {} errors",
        s.secs, s.warmup_secs, s.sent, s.requests_ok, s.req_per_s, s.errors
    );
    eprintln!(
        "  answer     p50 {:>8.3} ms  p90 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
        s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
    );
    eprintln!(
        "  service    p99 {:>8.3} ms  max {:>8.3} ms; send lag p99 {:.3} ms max {:.3} ms",
        s.service_p99_ms, s.service_max_ms, s.send_lag_p99_ms, s.send_lag_max_ms
    );
    if let Some(sse) = &s.sse {
        eprintln!(
            "  SSE        p50 {:>8.3} ms  p90 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
            sse.sse_p50_ms, sse.sse_p90_ms, sse.sse_p99_ms, sse.sse_max_ms
        );
        eprintln!(
            "             {} arrived, {} missing, {} duplicates",
            sse.sse_samples, sse.sse_missing, sse.sse_duplicates
        );
    }
}
