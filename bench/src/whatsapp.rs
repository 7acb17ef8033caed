//! `whatsapp-load`: signed WhatsApp Cloud API webhooks per second, their latency to a
//! business consumer's SSE stream, and the minimal server they are compared with.
//!
//! - `whatsapp-load serve --bind ADDR`: a minimal server that only verifies
//!   `X-Hub-Signature-256` and parses + normalises the body with the real adapter
//!   (`omnibridge-whatsapp`), then answers 200. No storage: the ceiling the bridge's durable
//!   ingest is compared with. With `--durable <file>` it is the minimal *correct*
//!   server instead: it also de-duplicates and appends each event to a SQLite log with an
//!   fsync per group commit before answering (see [`durable`]).
//! - `whatsapp-load load --url URL`: signed one-message `text` webhooks (each with a fresh
//!   `wamid`, so nothing is de-duplicated) to `POST /webhooks/{channel}`, for a warm-up and
//!   then `--secs`. The bridge answers 200 only after the durable append, so 200s per second
//!   is durable ingest throughput.
//!   - closed loop (default): `--connections` keep-alive connections each send the next
//!     request when the previous one is answered; latency is send → answer.
//!   - paced (`--rate R`): request `i` is due at `start + i / R` whatever happened to the
//!     others (a dedicated thread keeps the schedule); latency is measured from the *due*
//!     instant, so a stalled server or a late sender shows up in the percentiles instead of
//!     silently lowering the offered load (no coordinated omission).
//!   - with `--sse-url` (and `--api-key`), one consumer on `GET /v1/events` records when each
//!     request's `message.received` arrives (matched on `provider_message_id` = the wamid):
//!     webhook arrival → SSE latency, and how many acknowledged requests never arrived or
//!     arrived twice. It starts after a probe webhook's seq, so older events are not replayed.
//!
//! - `whatsapp-load fsync --dir DIR`: the disk's own fdatasync latency, the floor under any
//!   `durability = full` number.
//!
//! Every loop is bounded in time; the result is one JSON line (starting with `{`) on stdout,
//! and a short table on stderr.

#[path = "whatsapp/durable.rs"]
mod durable;
#[path = "whatsapp/fsync.rs"]
mod fsync;
#[path = "whatsapp/load.rs"]
mod load;
#[path = "whatsapp/paced.rs"]
mod paced;
#[path = "whatsapp/report.rs"]
mod report;
#[path = "whatsapp/sse.rs"]
mod sse;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::serve::ListenerExt;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use omnibridge_sdk::{Channel, WebhookRequest};
use omnibridge_whatsapp::{WhatsAppChannel, WhatsAppConfig, WhatsAppSecrets};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(name = "whatsapp-load", about = "Signed WhatsApp webhooks per second")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The minimal verify-and-parse server (no storage), or with `--durable` the minimal
    /// correct one (de-dup and durable append).
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
        /// A SQLite file to de-duplicate and append every event in (fsync per group commit)
        /// before answering.
        #[arg(long)]
        durable: Option<String>,
    },
    /// The load generator.
    Load(LoadArgs),
    /// The disk's fdatasync latency (the floor under `durability = full`).
    Fsync(fsync::FsyncArgs),
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
    /// Closed loop: concurrent connections (requests in flight). Ignored with `--rate`.
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// Paced mode: requests per second on a fixed schedule (open loop); 0 = closed loop.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Paced mode: most requests in flight at once; a due request waits for a slot (and
    /// its latency, counted from the due instant, includes the wait).
    #[arg(long, default_value_t = 4096)]
    max_in_flight: usize,
    /// Measurement window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Warm-up before the window, in seconds (excluded).
    #[arg(long, default_value_t = 2.0)]
    warmup_secs: f64,
    /// Customers (conversations) the messages are spread over.
    #[arg(long, default_value_t = 1000)]
    customers: u32,
    /// Pad the message text so each signed body is about this many bytes; 0 keeps the
    /// unpadded webhook (about 480 bytes), which the throughput benchmarks use.
    #[arg(long, default_value_t = 0)]
    body_bytes: usize,
    /// `GET /v1/events` URL to time delivery on, e.g.
    /// `http://127.0.0.1:PORT/v1/events?type=message.received&channel=whatsapp`.
    #[arg(long)]
    sse_url: Option<String>,
    /// API key (Bearer) for `--sse-url` and the probe's conversation lookup.
    #[arg(long, env = "BENCH_API_KEY")]
    api_key: Option<String>,
    /// After the window: how long to wait for outstanding answers and SSE events, in seconds.
    #[arg(long, default_value_t = 5.0)]
    drain_secs: f64,
    /// Free-form label copied into the JSON summary.
    #[arg(long, default_value = "")]
    label: String,
}

const PHONE_NUMBER_ID: &str = "106540352242922";

#[tokio::main]
async fn main() -> Result<()> {
    match Args::parse().command {
        Command::Serve {
            bind,
            app_secret,
            phone_number_id,
            durable,
        } => serve(bind, &app_secret, &phone_number_id, durable.as_deref()).await,
        Command::Load(args) => load::run(args).await,
        Command::Fsync(args) => tokio::task::spawn_blocking(move || fsync::run(&args)).await?,
    }
}

/// What the minimal server's handler needs.
struct Minimal {
    channel: WhatsAppChannel,
    /// The durable log, with `--durable`.
    log: Option<durable::DurableLog>,
}

async fn serve(
    bind: SocketAddr,
    app_secret: &str,
    phone_number_id: &str,
    durable: Option<&str>,
) -> Result<()> {
    let config = WhatsAppConfig::new(phone_number_id).with_api_base("http://127.0.0.1:9");
    let secrets = WhatsAppSecrets::new("unused", app_secret, "unused");
    let minimal = Arc::new(Minimal {
        channel: WhatsAppChannel::new(config, secrets)?,
        log: durable.map(durable::DurableLog::open).transpose()?,
    });
    let app = axum::Router::new()
        .route("/webhooks/{id}", axum::routing::post(receive))
        .with_state(minimal);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    match durable {
        Some(file) => eprintln!("minimal correct server (durable log {file}) on {bind}"),
        None => eprintln!("minimal verify-and-parse server on {bind}"),
    }
    axum::serve(listener, app).await?;
    Ok(())
}

/// Verify, parse, normalise; with `--durable`, de-duplicate and append durably.
async fn receive(
    State(minimal): State<Arc<Minimal>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let events = {
        let request = WebhookRequest::new(&Method::POST, &headers, None, &body);
        if minimal.channel.verify(&request).is_err() {
            return (StatusCode::UNAUTHORIZED, String::new());
        }
        match minimal.channel.normalize(&request) {
            Ok(events) => events,
            Err(_) => return (StatusCode::BAD_REQUEST, String::new()),
        }
    };
    if let Some(log) = &minimal.log
        && let Err(error) = log.append(&events, &id).await
    {
        return (StatusCode::SERVICE_UNAVAILABLE, error.to_string());
    }
    (StatusCode::OK, format!("{{\"accepted\":{}}}", events.len()))
}
