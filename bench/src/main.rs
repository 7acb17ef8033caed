//! `webchat-load`: a load generator for omnibridge's web-chat ingest path.
//!
//! It opens one SSE consumer on `GET /v1/events?type=message.received` and `C` web-chat
//! WebSocket connections (each a new visitor), then sends `message` frames whose
//! `client_msg_id` is `b<connection>-<n>`. It measures, over a window that follows a warm-up:
//!
//! - **throughput**: `ack` frames received per second (an ack means the durable append is done);
//! - **SSE latency**: from the instant the client sent a frame to the instant the SSE consumer
//!   received the matching `message.received` (matched on `provider_message_id`);
//! - **ack latency**: from the send to the `ack` frame.
//!
//! Without `--rate` every connection keeps up to `--window` frames unacknowledged (closed
//! loop, maximum throughput); with `--rate` the connections together send that many frames per
//! second on a fixed schedule (the window still caps what is outstanding). Everything is
//! bounded in time: the run stops `--drain-secs` after the measurement window at the latest.
//! The result is one JSON line (starting with `{`) followed by a human-readable table.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use eventsource_stream::Eventsource;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, MissedTickBehavior, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client WebSocket to the bridge.
type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Time allowed for connecting, the welcome frame and the probe.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Marker for "this message never got an ack / never arrived on SSE".
const NEVER: u64 = u64::MAX;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "webchat-load",
    about = "Load omnibridge's web chat (WebSocket) and time delivery on /v1/events (SSE)"
)]
struct Args {
    /// Base URL of the bridge (its own origin is sent as the `Origin` header).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key for `/v1/events` (Bearer).
    #[arg(long, env = "BENCH_API_KEY")]
    api_key: String,
    /// Number of WebSocket connections (visitors).
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// Target total rate in messages/s; 0 sends as fast as acks allow.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Most unacknowledged messages per connection.
    #[arg(long, default_value_t = 8)]
    window: usize,
    /// Length of the measurement window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Warm-up before the measurement window, in seconds (excluded from the results).
    #[arg(long, default_value_t = 2.0)]
    warmup_secs: f64,
    /// How long to wait for outstanding acks and SSE events after the window, in seconds.
    #[arg(long, default_value_t = 5.0)]
    drain_secs: f64,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 32)]
    text_bytes: usize,
    /// Free-form label copied into the JSON summary (e.g. `sqlite/max`).
    #[arg(long, default_value = "")]
    label: String,
}

/// The run's timeline, in nanoseconds since the process-wide origin.
#[derive(Clone, Copy, Debug)]
struct Timeline {
    origin: Instant,
    /// End of the warm-up: the measurement window starts here.
    warm_end: Instant,
    /// End of the measurement window: no frame is sent after it.
    end: Instant,
    /// Hard stop for acks and SSE events.
    drain_deadline: Instant,
}

impl Timeline {
    fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(NEVER - 1)
    }

    fn now_ns(&self) -> u64 {
        self.ns(Instant::now())
    }
}

/// What one connection saw.
#[derive(Debug, Default)]
struct ConnectionLog {
    /// Send instant of message `n`, at index `n`.
    sends: Vec<u64>,
    /// Ack instant of message `n`, at index `n` ([`NEVER`] when no ack came).
    acks: Vec<u64>,
    /// `error` frames received (the server could not store a frame).
    errors: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.connections == 0 || args.window == 0 || args.secs <= 0.0 {
        bail!("--connections, --window and --secs must be positive");
    }
    let base = args.url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("building the HTTP client")?;

    let head = probe_head(&http, &base, &args.api_key).await?;
    let origin = Instant::now();
    let sse = http
        .get(format!(
            "{base}/v1/events?type=message.received&channel=webchat"
        ))
        .bearer_auth(&args.api_key)
        .header("last-event-id", head.to_string())
        .send()
        .await
        .context("opening /v1/events")?
        .error_for_status()
        .context("opening /v1/events")?;

    let mut sockets = Vec::new();
    for _ in 0..args.connections {
        let (socket, _) = connect(&base).await?;
        sockets.push(socket);
    }

    let start = Instant::now() + Duration::from_millis(100);
    let warm_end = start + Duration::from_secs_f64(args.warmup_secs.max(0.0));
    let end = warm_end + Duration::from_secs_f64(args.secs);
    let timeline = Timeline {
        origin,
        warm_end,
        end,
        drain_deadline: end + Duration::from_secs_f64(args.drain_secs.max(0.0)),
    };

    let (expected_tx, expected_rx) = watch::channel(None);
    let sse_task = tokio::spawn(consume_sse(sse, timeline, expected_rx));
    let text = "x".repeat(args.text_bytes.max(1));
    let mut tasks = Vec::new();
    for (index, socket) in (0u32..).zip(sockets) {
        let plan = Plan {
            connection: index,
            connections: args.connections,
            rate: args.rate,
            window: args.window,
            start,
            text: text.clone(),
        };
        tasks.push(tokio::spawn(drive(socket, plan, timeline)));
    }
    let mut logs = Vec::new();
    for task in tasks {
        logs.push(task.await.context("a connection task panicked")??);
    }
    let acked: u64 = logs
        .iter()
        .map(|log| log.acks.iter().filter(|&&t| t != NEVER).count() as u64)
        .sum();
    expected_tx.send_replace(Some(acked));
    let arrivals = sse_task.await.context("the SSE task panicked")??;

    let summary = summarize(&args, &timeline, &logs, &arrivals)?;
    println!("{}", serde_json::to_string(&summary)?);
    print_table(&summary);
    if acked == 0 {
        bail!("no message was acknowledged");
    }
    Ok(())
}

/// Connects a new visitor and waits for the welcome frame; returns the socket and the
/// conversation id.
async fn connect(base: &str) -> Result<(Socket, String)> {
    let ws_url = format!("{}/webchat/ws", base.replacen("http", "ws", 1));
    let mut request = ws_url
        .as_str()
        .into_client_request()
        .with_context(|| format!("bad URL {ws_url}"))?;
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(base)?);
    let (mut socket, _) = timeout(
        SETUP_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(request, None, true),
    )
    .await
    .context("WebSocket connect timed out")?
    .with_context(|| format!("connecting to {ws_url}"))?;
    let welcome = timeout(SETUP_TIMEOUT, async {
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message? {
                let frame: Value = serde_json::from_str(&text)?;
                if frame["type"] == "welcome" {
                    return Ok(frame);
                }
            }
        }
        Err(anyhow!("socket closed before the welcome frame"))
    })
    .await
    .context("no welcome frame")??;
    let conversation = welcome["conversation_id"]
        .as_str()
        .ok_or_else(|| anyhow!("welcome without conversation_id: {welcome}"))?
        .to_owned();
    Ok((socket, conversation))
}

/// Sends one acknowledged probe message and returns its bus seq: every message acked before
/// it has a lower seq, so the SSE consumer starts there and skips earlier runs' events.
async fn probe_head(http: &reqwest::Client, base: &str, key: &str) -> Result<u64> {
    let (mut socket, conversation) = connect(base).await?;
    let frame = json!({"type": "message", "text": "probe", "client_msg_id": "probe"});
    socket.send(Message::Text(frame.to_string().into())).await?;
    timeout(SETUP_TIMEOUT, async {
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message? {
                let frame: Value = serde_json::from_str(&text)?;
                match frame["type"].as_str() {
                    Some("ack") => return Ok(()),
                    Some("error") => bail!("probe refused: {frame}"),
                    _ => {}
                }
            }
        }
        Err(anyhow!("socket closed before the probe's ack"))
    })
    .await
    .context("no ack for the probe")??;
    let _ = timeout(Duration::from_secs(1), socket.close(None)).await;
    let page: Value = http
        .get(format!("{base}/v1/conversations/{conversation}/events"))
        .bearer_auth(key)
        .send()
        .await?
        .error_for_status()
        .context("reading the probe's conversation (is the API key right?)")?
        .json()
        .await?;
    page["data"]
        .as_array()
        .and_then(|events| events.iter().filter_map(|e| e["seq"].as_u64()).max())
        .ok_or_else(|| anyhow!("the probe's conversation has no event: {page}"))
}

/// What one connection does.
#[derive(Debug)]
struct Plan {
    connection: u32,
    connections: u32,
    rate: f64,
    window: usize,
    start: Instant,
    text: String,
}

/// Drives one connection: a writer (paced or window-limited) and a reader of acks, joined.
async fn drive(socket: Socket, plan: Plan, timeline: Timeline) -> Result<ConnectionLog> {
    let (sink, stream) = socket.split();
    let window = Semaphore::new(plan.window);
    let (sent_tx, sent_rx) = watch::channel(None);
    let ((sink, sends), (acks, errors)) = tokio::join!(
        write(sink, &plan, &window, sent_tx, timeline),
        read(stream, &window, sent_rx, timeline),
    );
    let mut sink = sink?;
    let _ = timeout(Duration::from_secs(1), sink.close()).await;
    let mut log = ConnectionLog {
        acks: vec![NEVER; sends.len()],
        sends,
        errors,
    };
    for (n, at) in acks {
        if let Some(slot) = usize::try_from(n).ok().and_then(|n| log.acks.get_mut(n)) {
            *slot = at;
        }
    }
    Ok(log)
}

/// Sends frames until the end of the window; returns the sink and the send instants. The
/// total sent is published on `sent` when done.
async fn write(
    mut sink: SplitSink<Socket, Message>,
    plan: &Plan,
    window: &Semaphore,
    sent: watch::Sender<Option<u64>>,
    timeline: Timeline,
) -> (Result<SplitSink<Socket, Message>>, Vec<u64>) {
    let mut sends = Vec::new();
    let mut ticker = (plan.rate > 0.0).then(|| {
        let period = Duration::from_secs_f64(f64::from(plan.connections) / plan.rate);
        let phase = period.mul_f64(f64::from(plan.connection) / f64::from(plan.connections));
        let mut ticker = tokio::time::interval_at(plan.start + phase, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        ticker
    });
    sleep_until(plan.start).await;
    let mut failure = None;
    for n in 0u64.. {
        if let Some(ticker) = ticker.as_mut() {
            tokio::select! {
                _ = ticker.tick() => {}
                () = sleep_until(timeline.end) => break,
            }
        }
        let permit = tokio::select! {
            permit = window.acquire() => permit,
            () = sleep_until(timeline.end) => break,
        };
        match permit {
            Ok(permit) => permit.forget(),
            Err(_) => break,
        }
        if Instant::now() >= timeline.end {
            break;
        }
        let frame = json!({
            "type": "message",
            "text": plan.text,
            "client_msg_id": format!("b{}-{n}", plan.connection),
        })
        .to_string();
        sends.push(timeline.now_ns());
        let sending = timeout(
            timeline
                .drain_deadline
                .saturating_duration_since(Instant::now()),
            sink.send(Message::Text(frame.into())),
        );
        match sending.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                failure = Some(anyhow!(error).context("sending a frame"));
                break;
            }
            Err(_) => {
                failure = Some(anyhow!("sending a frame timed out"));
                break;
            }
        }
    }
    sent.send_replace(Some(sends.len() as u64));
    match failure {
        Some(error) => (Err(error), sends),
        None => (Ok(sink), sends),
    }
}

/// Reads acks until every sent frame is answered or the drain deadline passes; returns
/// `(n, ack instant)` pairs and the number of `error` frames.
async fn read(
    mut stream: SplitStream<Socket>,
    window: &Semaphore,
    mut sent: watch::Receiver<Option<u64>>,
    timeline: Timeline,
) -> (Vec<(u64, u64)>, u64) {
    let mut acks = Vec::new();
    let mut errors = 0u64;
    let mut total: Option<u64> = None;
    loop {
        if total.is_some_and(|total| acks.len() as u64 + errors >= total) {
            break;
        }
        let message = tokio::select! {
            message = stream.next() => message,
            changed = sent.changed(), if total.is_none() => {
                total = *sent.borrow_and_update();
                if changed.is_err() && total.is_none() {
                    total = Some(0);
                }
                continue;
            }
            () = sleep_until(timeline.drain_deadline) => break,
        };
        let Some(Ok(Message::Text(text))) = message else {
            match message {
                Some(Ok(_)) => continue,
                _ => break,
            }
        };
        let at = timeline.now_ns();
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match frame["type"].as_str() {
            Some("ack") => {
                if let Some((_, n)) = frame["client_msg_id"].as_str().and_then(parse_id) {
                    acks.push((n, at));
                }
                window.add_permits(1);
            }
            Some("error") => {
                errors += 1;
                window.add_permits(1);
            }
            _ => {}
        }
    }
    (acks, errors)
}

/// `b<connection>-<n>` → `(connection, n)`.
fn parse_id(id: &str) -> Option<(u32, u64)> {
    let (connection, n) = id.strip_prefix('b')?.split_once('-')?;
    Some((connection.parse().ok()?, n.parse().ok()?))
}

/// The only envelope field the SSE consumer needs.
#[derive(Deserialize)]
struct EnvelopeId {
    provider_message_id: Option<String>,
}

/// Reads `message.received` events until as many as were acked arrived (known once every
/// connection is done) or the drain deadline passes; returns `(connection, n, arrival)`.
async fn consume_sse(
    response: reqwest::Response,
    timeline: Timeline,
    mut expected: watch::Receiver<Option<u64>>,
) -> Result<Vec<(u32, u64, u64)>> {
    let mut events = response.bytes_stream().eventsource();
    let mut arrivals = Vec::new();
    let mut target: Option<u64> = None;
    loop {
        if target.is_some_and(|target| arrivals.len() as u64 >= target) {
            break;
        }
        let event = tokio::select! {
            event = events.next() => event,
            changed = expected.changed(), if target.is_none() => {
                target = *expected.borrow_and_update();
                if changed.is_err() && target.is_none() {
                    break;
                }
                continue;
            }
            () = sleep_until(timeline.drain_deadline) => break,
        };
        let event = match event {
            Some(Ok(event)) => event,
            Some(Err(error)) => bail!("SSE stream failed: {error}"),
            None => break,
        };
        let at = timeline.now_ns();
        let Ok(envelope) = serde_json::from_str::<EnvelopeId>(&event.data) else {
            continue;
        };
        if let Some((connection, n)) = envelope.provider_message_id.as_deref().and_then(parse_id) {
            arrivals.push((connection, n, at));
        }
    }
    Ok(arrivals)
}

/// The run's results (the JSON line).
#[derive(Debug, serde::Serialize)]
struct Summary {
    label: String,
    connections: u32,
    window: usize,
    rate_target: f64,
    secs: f64,
    warmup_secs: f64,
    sent: u64,
    acked: u64,
    msgs_per_s: f64,
    offered_per_s: f64,
    errors: u64,
    sse_samples: u64,
    sse_missing: u64,
    sse_p50_ms: f64,
    sse_p90_ms: f64,
    sse_p99_ms: f64,
    sse_max_ms: f64,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    ack_max_ms: f64,
}

/// Throughput and latency over the measurement window.
fn summarize(
    args: &Args,
    timeline: &Timeline,
    logs: &[ConnectionLog],
    arrivals: &[(u32, u64, u64)],
) -> Result<Summary> {
    let (from, to) = (timeline.ns(timeline.warm_end), timeline.ns(timeline.end));
    let in_window = |t: u64| t != NEVER && t >= from && t < to;
    let mut arrived: Vec<Vec<u64>> = logs.iter().map(|l| vec![NEVER; l.sends.len()]).collect();
    for &(connection, n, at) in arrivals {
        let slot = usize::try_from(connection)
            .ok()
            .and_then(|c| arrived.get_mut(c))
            .and_then(|a| usize::try_from(n).ok().and_then(|n| a.get_mut(n)));
        if let Some(slot) = slot {
            *slot = (*slot).min(at);
        }
    }
    let mut sse = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut ack = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let (mut sent, mut acked, mut errors, mut missing) = (0u64, 0u64, 0u64, 0u64);
    for (log, arrived) in logs.iter().zip(&arrived) {
        errors += log.errors;
        acked += log.acks.iter().filter(|&&t| in_window(t)).count() as u64;
        for ((&send, &ack_at), &sse_at) in log.sends.iter().zip(&log.acks).zip(arrived) {
            if !in_window(send) {
                continue;
            }
            sent += 1;
            if ack_at != NEVER {
                ack.saturating_record(((ack_at.saturating_sub(send)) / 1_000).max(1));
            }
            if sse_at == NEVER {
                missing += 1;
            } else {
                sse.saturating_record(((sse_at.saturating_sub(send)) / 1_000).max(1));
            }
        }
    }
    let ms = |h: &Histogram<u64>, q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1_000.0
        }
    };
    let per_s = |count: u64| (count as f64 / args.secs * 10.0).round() / 10.0;
    Ok(Summary {
        label: args.label.clone(),
        connections: args.connections,
        window: args.window,
        rate_target: args.rate,
        secs: args.secs,
        warmup_secs: args.warmup_secs,
        sent,
        acked,
        msgs_per_s: per_s(acked),
        offered_per_s: per_s(sent),
        errors,
        sse_samples: sse.len(),
        sse_missing: missing,
        sse_p50_ms: ms(&sse, 0.5),
        sse_p90_ms: ms(&sse, 0.9),
        sse_p99_ms: ms(&sse, 0.99),
        sse_max_ms: ms(&sse, 1.0),
        ack_p50_ms: ms(&ack, 0.5),
        ack_p99_ms: ms(&ack, 0.99),
        ack_max_ms: ms(&ack, 1.0),
    })
}

/// The human-readable table.
fn print_table(s: &Summary) {
    let mode = if s.rate_target > 0.0 {
        format!("paced at {} msg/s", s.rate_target)
    } else {
        format!("max (window {} per connection)", s.window)
    };
    println!();
    println!(
        "webchat-load {} — {} connections, {mode}",
        s.label, s.connections
    );
    println!(
        "  window        {:>10} s after {} s warm-up",
        s.secs, s.warmup_secs
    );
    println!(
        "  throughput    {:>10.1} msg/s acked ({} sent in window, {} errors)",
        s.msgs_per_s, s.sent, s.errors
    );
    println!(
        "  SSE latency   p50 {:>8.3} ms  p90 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  ({} samples, {} missing)",
        s.sse_p50_ms, s.sse_p90_ms, s.sse_p99_ms, s.sse_max_ms, s.sse_samples, s.sse_missing
    );
    println!(
        "  ack latency   p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
        s.ack_p50_ms, s.ack_p99_ms, s.ack_max_ms
    );
}

#[cfg(test)]
mod tests {
    use super::parse_id;

    #[test]
    fn ids_round_trip() {
        assert_eq!(parse_id("b7-123"), Some((7, 123)));
        assert_eq!(parse_id("probe"), None);
        assert_eq!(parse_id("b-1"), None);
    }
}
