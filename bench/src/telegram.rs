//! `telegram-load`: Telegram webhook updates per second, and a minimal server for them.
//!
//! - `telegram-load serve --bind ADDR`: a minimal server that only checks
//!   `X-Telegram-Bot-Api-Secret-Token` and parses + normalises the update with the real
//!   adapter (`omnibridge-telegram`), then answers 200. No storage.
//! - `telegram-load load --url URL`: `--connections` keep-alive HTTP connections post
//!   one-message text updates (each with a fresh `update_id`, so nothing is de-duplicated) to
//!   `POST /webhooks/{channel}` with the secret header, closed loop, for a warm-up and then
//!   `--secs`. Throughput is 200 answers per second inside the window; the bridge answers
//!   200 only after the durable append. Latency is per request (send → answer).
//!
//! `bench/run-telegram.sh` compares the bridge with the WhatsApp benchmark's minimal
//! verify-and-parse server (`whatsapp-load serve`) in the same run. Every loop is bounded in
//! time; the result is one JSON line (starting with `{`).

#[path = "tally.rs"]
mod tally;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::serve::ListenerExt;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use omnibridge_sdk::{Channel, ChannelContext, WebhookRequest};
use omnibridge_telegram::inbound::SECRET_HEADER;
use omnibridge_telegram::{TelegramChannel, TelegramConfig, TelegramSecrets};
use serde_json::json;
use tally::{Tally, unix_seconds};
use tokio::time::{Instant, timeout};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(name = "telegram-load", about = "Telegram webhook updates per second")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The minimal check-and-parse server (no storage).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8091")]
        bind: SocketAddr,
        /// The webhook secret token.
        #[arg(long, env = "BENCH_TG_SECRET")]
        secret: String,
    },
    /// The load generator.
    Load(LoadArgs),
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// The webhook URL (`http://127.0.0.1:PORT/webhooks/<channel id>`).
    #[arg(long)]
    url: String,
    /// The webhook secret token to send.
    #[arg(long, env = "BENCH_TG_SECRET")]
    secret: String,
    /// Concurrent connections (requests in flight).
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// Measurement window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Warm-up before the window, in seconds (excluded).
    #[arg(long, default_value_t = 2.0)]
    warmup_secs: f64,
    /// Chats (conversations) the updates are spread over.
    #[arg(long, default_value_t = 1000)]
    customers: u32,
    /// Free-form label copied into the JSON summary.
    #[arg(long, default_value = "")]
    label: String,
}

/// Longest one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// `update_id`s of one connection: connection × this + n (fits Telegram's 32 bits).
const IDS_PER_CONNECTION: u64 = 40_000_000;

#[tokio::main]
async fn main() -> Result<()> {
    match Args::parse().command {
        Command::Serve { bind, secret } => serve(bind, &secret).await,
        Command::Load(args) => load(args).await,
    }
}

async fn serve(bind: SocketAddr, secret: &str) -> Result<()> {
    let config = TelegramConfig::new().with_api_base("http://127.0.0.1:9");
    let secrets = TelegramSecrets::new("0:unused", Some(secret.to_owned()));
    let cx = ChannelContext::new("bench-tg", "http://127.0.0.1");
    let channel = Arc::new(TelegramChannel::new(config, secrets, &cx)?);
    let app = axum::Router::new()
        .route("/webhooks/{id}", axum::routing::post(receive))
        .with_state(channel);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    eprintln!("minimal check-and-parse server on {bind}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// Check the secret, parse, normalise; nothing stored.
async fn receive(
    State(channel): State<Arc<TelegramChannel>>,
    Path(_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let request = WebhookRequest::new(&Method::POST, &headers, None, &body);
    if channel.verify(&request).is_err() {
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    match channel.normalize(&request) {
        Ok(events) => (StatusCode::OK, format!("{{\"accepted\":{}}}", events.len())),
        Err(_) => (StatusCode::BAD_REQUEST, String::new()),
    }
}

/// One text-message update as Telegram sends it.
fn update(update_id: u64, chat: u64, message_id: u64, at: u64) -> Vec<u8> {
    json!({"update_id": update_id, "message": {"message_id": message_id, "date": at,
        "chat": {"id": chat, "type": "private", "first_name": "Load", "last_name": "Tester"},
        "from": {"id": chat, "is_bot": false, "first_name": "Load", "last_name": "Tester",
            "language_code": "en"},
        "text": "Hi! Is my order on its way? Order 12345, thanks."}})
    .to_string()
    .into_bytes()
}

async fn load(args: LoadArgs) -> Result<()> {
    if args.connections == 0 || args.secs <= 0.0 || u64::from(args.connections) > 100 {
        bail!("--connections must be 1-100 and --secs positive");
    }
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.connections as usize)
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let start = Instant::now() + Duration::from_millis(100);
    let warm_end = start + Duration::from_secs_f64(args.warmup_secs.max(0.0));
    let end = warm_end + Duration::from_secs_f64(args.secs);
    let args = Arc::new(args);
    let mut tasks = Vec::new();
    for connection in 0..args.connections {
        let (client, args) = (client.clone(), args.clone());
        tasks.push(tokio::spawn(async move {
            drive(client, &args, connection, start, warm_end, end).await
        }));
    }
    let total = Tally::sum(tasks).await?;
    total.report(
        json!({
            "label": args.label,
            "url": args.url,
            "connections": args.connections,
            "secs": args.secs,
        }),
        "req_per_s",
        args.secs,
    )
}

async fn drive(
    client: reqwest::Client,
    args: &LoadArgs,
    connection: u32,
    start: Instant,
    warm_end: Instant,
    end: Instant,
) -> Result<Tally> {
    let mut tally = Tally::new()?;
    tokio::time::sleep_until(start).await;
    let at = unix_seconds();
    for n in 0u64..IDS_PER_CONNECTION {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let update_id = u64::from(connection) * IDS_PER_CONNECTION + n + 1;
        let chat = 100_000 + (u64::from(connection) * 7919 + n) % u64::from(args.customers.max(1));
        let body = update(update_id, chat, update_id, at);
        tally.body_bytes = body.len();
        let answer = timeout(
            REQUEST_TIMEOUT,
            client
                .post(&args.url)
                .header("content-type", "application/json")
                .header(SECRET_HEADER, &args.secret)
                .body(body)
                .send(),
        )
        .await;
        let ok = match answer {
            Ok(Ok(response)) => {
                let status = response.status();
                let _ = response.bytes().await;
                status == reqwest::StatusCode::OK
            }
            _ => false,
        };
        let done = Instant::now();
        if sent < warm_end || done > end {
            continue;
        }
        if ok {
            tally.ok += 1;
            let micros = u64::try_from(done.duration_since(sent).as_micros()).unwrap_or(u64::MAX);
            tally.latency.record(micros.max(1))?;
        } else {
            tally.errors += 1;
        }
    }
    Ok(tally)
}
