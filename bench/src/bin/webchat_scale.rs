//! `webchat-scale`: how the web chat scales with connected visitors.
//!
//! It opens `--visitors` web-chat sockets (each a new visitor; idle: they only read their
//! welcome frame). Every `visitors / targets`-th visitor also sends one message (so its
//! conversation exists for the API) and waits for the `ack`. After `--settle-secs` it reads the
//! bridge's resident memory (`VmRSS` of `/proc/<--pid>/status`), then posts one reply through
//! `POST /v1/conversations/{id}/messages` to each target, paced at `--rate` per second, and
//! times each reply from the API's answer (the 202 received) to the `message` frame with that
//! outbound id on the visitor's socket. The result is one JSON line (starting with `{`)
//! followed by a human-readable table.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client WebSocket to the bridge.
type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Time allowed for connecting, the welcome frame and the hello's ack.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Sockets being opened at once.
const CONNECT_CONCURRENCY: usize = 32;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "webchat-scale",
    about = "Connect many idle web-chat visitors, read the bridge's RSS, time API replies to a subset"
)]
struct Args {
    /// Base URL of the bridge (its own origin is sent as the `Origin` header).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key for `POST /v1/conversations/{id}/messages` (Bearer).
    #[arg(long, env = "BENCH_API_KEY")]
    api_key: String,
    /// The bridge's process id (its memory is read from `/proc/<pid>/status`).
    #[arg(long)]
    pid: u32,
    /// Visitors to connect.
    #[arg(long, default_value_t = 1000)]
    visitors: usize,
    /// Visitors that get one reply each (spread evenly over all of them).
    #[arg(long, default_value_t = 1000)]
    targets: usize,
    /// Replies posted per second.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Wait after connecting before reading the memory, in seconds.
    #[arg(long, default_value_t = 3.0)]
    settle_secs: f64,
    /// How long to wait for the last frames after the last reply, in seconds.
    #[arg(long, default_value_t = 60.0)]
    drain_secs: f64,
    /// Free-form label copied into the JSON summary (e.g. `hub/10000`).
    #[arg(long, default_value = "")]
    label: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.visitors == 0 || args.targets == 0 || args.rate <= 0.0 {
        bail!("--visitors, --targets and --rate must be positive");
    }
    let targets = args.targets.min(args.visitors);
    let stride = args.visitors / targets;
    let base = args.url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(64)
        .build()
        .context("building the HTTP client")?;

    let rss_before = rss_kib(args.pid)?;
    let started = Instant::now();
    let opened: Vec<Result<(usize, Socket, String)>> = stream::iter(0..args.visitors)
        .map(|index| {
            let base = base.clone();
            let hello = index % stride == 0 && index / stride < targets;
            async move {
                let (socket, conversation) = connect(&base, hello.then_some(index)).await?;
                Ok((index, socket, conversation))
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let connect_secs = started.elapsed().as_secs_f64();
    let mut idle = Vec::with_capacity(args.visitors);
    let mut followers = Vec::with_capacity(targets);
    for opened in opened {
        let (index, socket, conversation) = opened?;
        if index % stride == 0 && index / stride < targets {
            followers.push((socket, conversation));
        } else {
            idle.push(socket);
        }
    }
    tokio::time::sleep(Duration::from_secs_f64(args.settle_secs.max(0.0))).await;
    let rss = rss_kib(args.pid)?;

    // Each follower waits for its one reply; the arrival instant is keyed by outbound id.
    let deadline_after = Duration::from_secs_f64(targets as f64 / args.rate + args.drain_secs);
    let give_up = Instant::now() + deadline_after;
    let mut readers = Vec::with_capacity(followers.len());
    let mut conversations = Vec::with_capacity(followers.len());
    for (socket, conversation) in followers {
        conversations.push(conversation);
        readers.push(tokio::spawn(await_reply(socket, give_up)));
    }

    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut posts = Vec::with_capacity(conversations.len());
    for (n, conversation) in conversations.iter().enumerate() {
        tick.tick().await;
        let http = http.clone();
        let url = format!("{base}/v1/conversations/{conversation}/messages");
        let key = args.api_key.clone();
        posts.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(key)
                .json(&json!({"text": format!("reply {n}")}))
                .send()
                .await?;
            let answered = Instant::now();
            let status = response.status();
            let body: Value = response.json().await?;
            if status.as_u16() != 202 {
                bail!("reply answered {status}: {body}");
            }
            let id = body["outbound_id"]
                .as_str()
                .ok_or_else(|| anyhow!("no outbound_id in {body}"))?
                .to_owned();
            Ok::<_, anyhow::Error>((id, answered))
        }));
    }
    let mut answered = HashMap::new();
    let mut post_errors = 0u64;
    for post in posts {
        match post.await.context("a reply task panicked")? {
            Ok((id, at)) => {
                answered.insert(id, at);
            }
            Err(error) => {
                post_errors += 1;
                eprintln!("reply failed: {error:#}");
            }
        }
    }
    let mut latency = Histogram::<u64>::new(3)?;
    let mut delivered = 0u64;
    let mut early = 0u64;
    for reader in readers {
        let (found, socket) = reader.await.context("a reader task panicked")?;
        idle.push(socket);
        if let Some((id, arrived)) = found
            && let Some(&sent) = answered.get(&id)
        {
            delivered += 1;
            // A frame can beat the parsing of the 202 by a hair: count it as 0.
            let micros = match arrived.checked_duration_since(sent) {
                Some(d) => u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
                None => {
                    early += 1;
                    0
                }
            };
            latency.record(micros.max(1))?;
        }
    }
    let ms = |q: f64| (latency.value_at_quantile(q) as f64 / 10.0).round() / 100.0;
    let summary = json!({
        "label": args.label,
        "visitors": args.visitors,
        "targets": targets,
        "rate": args.rate,
        "connect_secs": (connect_secs * 10.0).round() / 10.0,
        "rss_before_mb": mb(rss_before),
        "rss_mb": mb(rss),
        "kb_per_visitor": ((rss.saturating_sub(rss_before)) as f64 / args.visitors as f64 * 10.0).round() / 10.0,
        "replies_answered": answered.len(),
        "reply_errors": post_errors,
        "delivered": delivered,
        "lost": targets as u64 - delivered,
        "before_answer": early,
        "p50_ms": ms(0.5),
        "p90_ms": ms(0.9),
        "p99_ms": ms(0.99),
        "max_ms": (latency.max() as f64 / 10.0).round() / 100.0,
        "rss_after_mb": mb(rss_kib(args.pid)?),
    });
    drop(idle);
    println!("{summary}");
    println!(
        "{:>8} visitors  RSS {:>7} MB ({} KB/visitor)  replies {}/{}  p50 {} ms  p99 {} ms  max {} ms",
        summary["visitors"],
        summary["rss_mb"],
        summary["kb_per_visitor"],
        summary["delivered"],
        summary["targets"],
        summary["p50_ms"],
        summary["p99_ms"],
        summary["max_ms"],
    );
    if delivered == 0 {
        bail!("no reply reached its visitor");
    }
    Ok(())
}

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))
}

fn mb(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

/// Connects a new visitor and waits for the welcome frame; with `hello`, also sends one
/// message and waits for its ack. Returns the socket and the conversation id.
async fn connect(base: &str, hello: Option<usize>) -> Result<(Socket, String)> {
    let ws_url = format!("{}/webchat/ws", base.replacen("http", "ws", 1));
    let mut request = ws_url
        .as_str()
        .into_client_request()
        .with_context(|| format!("bad URL {ws_url}"))?;
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(base)?);
    // Small buffers: the generator holds as many sockets as the bridge.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut socket, _) = timeout(
        SETUP_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(request, Some(config), true),
    )
    .await
    .context("WebSocket connect timed out")?
    .with_context(|| format!("connecting to {ws_url}"))?;
    let welcome = next_frame(&mut socket, "welcome").await?;
    let conversation = welcome["conversation_id"]
        .as_str()
        .ok_or_else(|| anyhow!("welcome without conversation_id: {welcome}"))?
        .to_owned();
    if let Some(index) = hello {
        let frame =
            json!({"type": "message", "text": "hello", "client_msg_id": format!("h{index}")});
        socket.send(Message::Text(frame.to_string().into())).await?;
        next_frame(&mut socket, "ack").await?;
    }
    Ok((socket, conversation))
}

/// The next frame of `kind` (others are skipped), within [`SETUP_TIMEOUT`].
async fn next_frame(socket: &mut Socket, kind: &str) -> Result<Value> {
    timeout(SETUP_TIMEOUT, async {
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message? {
                let frame: Value = serde_json::from_str(&text)?;
                if frame["type"] == kind {
                    return Ok(frame);
                }
            }
        }
        Err(anyhow!("socket closed before a {kind} frame"))
    })
    .await
    .with_context(|| format!("no {kind} frame"))?
}

/// Waits until `give_up` for the first `message` frame; its outbound id and arrival instant,
/// and the socket.
async fn await_reply(mut socket: Socket, give_up: Instant) -> (Option<(String, Instant)>, Socket) {
    let found = tokio::time::timeout_at(give_up, async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                let arrived = Instant::now();
                let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if frame["type"] == "message"
                    && let Some(id) = frame["id"].as_str()
                {
                    return Some((id.to_owned(), arrived));
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    // The socket stays open until every reply had its chance (closing changes the load).
    (found, socket)
}
