//! `whatsapp-load`: signed WhatsApp Cloud API webhooks per second, and the minimal server
//! they are compared with.
//!
//! - `whatsapp-load serve --bind ADDR`: a minimal server that only verifies
//!   `X-Hub-Signature-256` and parses + normalises the body with the real adapter
//!   (`omnibridge-whatsapp`), then answers 200. No storage: the ceiling the bridge's durable
//!   ingest is compared with.
//! - `whatsapp-load load --url URL`: `--connections` keep-alive HTTP connections post signed
//!   one-message `text` webhooks (each with a fresh `wamid`, so nothing is de-duplicated) to
//!   `POST /webhooks/{channel}`, closed loop, for a warm-up and then `--secs`. Throughput is
//!   200 answers per second inside the window; the bridge answers 200 only after the durable
//!   append, so it is durable ingest throughput. Latency is per request (send → answer).
//!
//! Every loop is bounded in time; the result is one JSON line (starting with `{`).

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
use omnibridge_sdk::{Channel, WebhookRequest};
use omnibridge_whatsapp::inbound::{SIGNATURE_HEADER, sign};
use omnibridge_whatsapp::{WhatsAppChannel, WhatsAppConfig, WhatsAppSecrets};
use serde_json::json;
use tally::{Tally, unix_seconds};
use tokio::time::{Instant, timeout};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(name = "whatsapp-load", about = "Signed WhatsApp webhooks per second")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The minimal verify-and-parse server (no storage).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        bind: SocketAddr,
        /// The app secret webhooks are signed with.
        #[arg(long, env = "BENCH_WA_APP_SECRET")]
        app_secret: String,
        /// The phone-number id the webhooks are for.
        #[arg(long, default_value = PHONE_NUMBER_ID)]
        phone_number_id: String,
    },
    /// The load generator.
    Load(LoadArgs),
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// The webhook URL (`http://127.0.0.1:PORT/webhooks/<channel id>`).
    #[arg(long)]
    url: String,
    /// The app secret to sign with.
    #[arg(long, env = "BENCH_WA_APP_SECRET")]
    app_secret: String,
    /// The phone-number id to put in `metadata.phone_number_id`.
    #[arg(long, default_value = PHONE_NUMBER_ID)]
    phone_number_id: String,
    /// Concurrent connections (requests in flight).
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// Measurement window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Warm-up before the window, in seconds (excluded).
    #[arg(long, default_value_t = 2.0)]
    warmup_secs: f64,
    /// Customers (conversations) the messages are spread over.
    #[arg(long, default_value_t = 1000)]
    customers: u32,
    /// Free-form label copied into the JSON summary.
    #[arg(long, default_value = "")]
    label: String,
}

const PHONE_NUMBER_ID: &str = "106540352242922";
/// Longest one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<()> {
    match Args::parse().command {
        Command::Serve {
            bind,
            app_secret,
            phone_number_id,
        } => serve(bind, &app_secret, &phone_number_id).await,
        Command::Load(args) => load(args).await,
    }
}

async fn serve(bind: SocketAddr, app_secret: &str, phone_number_id: &str) -> Result<()> {
    let config = WhatsAppConfig::new(phone_number_id).with_api_base("http://127.0.0.1:9");
    let secrets = WhatsAppSecrets::new("unused", app_secret, "unused");
    let channel = Arc::new(WhatsAppChannel::new(config, secrets)?);
    let app = axum::Router::new()
        .route("/webhooks/{id}", axum::routing::post(receive))
        .with_state(channel);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    eprintln!("minimal verify-and-parse server on {bind}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// Verify, parse, normalise; nothing stored.
async fn receive(
    State(channel): State<Arc<WhatsAppChannel>>,
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

/// One text-message webhook as Meta sends it (about 600 bytes).
fn webhook(phone_number_id: &str, customer: &str, wamid: &str, at: i64) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Load Tester"}, "wa_id": customer}],
            "messages": [{"from": customer, "id": wamid, "timestamp": at.to_string(),
                "type": "text", "text": {"body": "Hi! Is my order on its way? Order 12345, thanks."}}]}}]}]})
    .to_string()
    .into_bytes()
}

async fn load(args: LoadArgs) -> Result<()> {
    if args.connections == 0 || args.secs <= 0.0 {
        bail!("--connections and --secs must be positive");
    }
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.connections as usize)
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let run = format!("{:x}", std::process::id() ^ (unix_seconds() as u32));
    let start = Instant::now() + Duration::from_millis(100);
    let warm_end = start + Duration::from_secs_f64(args.warmup_secs.max(0.0));
    let end = warm_end + Duration::from_secs_f64(args.secs);
    let args = Arc::new(args);
    let mut tasks = Vec::new();
    for connection in 0..args.connections {
        let (client, args, run) = (client.clone(), args.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            drive(client, &args, &run, connection, start, warm_end, end).await
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
    run: &str,
    connection: u32,
    start: Instant,
    warm_end: Instant,
    end: Instant,
) -> Result<Tally> {
    let mut tally = Tally::new()?;
    tokio::time::sleep_until(start).await;
    let at = unix_seconds() as i64;
    let secret = args.app_secret.as_bytes();
    for n in 0u64.. {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let customer = format!(
            "1650{:07}",
            (u64::from(connection) * 7919 + n) % u64::from(args.customers.max(1))
        );
        let wamid = format!("wamid.LOAD{run}c{connection}n{n}");
        let body = webhook(&args.phone_number_id, &customer, &wamid, at);
        tally.body_bytes = body.len();
        let signature = sign(secret, &body);
        let answer = timeout(
            REQUEST_TIMEOUT,
            client
                .post(&args.url)
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, signature)
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
