//! `pay-load`: a load generator for an MPP pay endpoint (`GET|POST /pay/{id}`), run against
//! omnibridge and against `mpp-baseline` with the same settings. Two closed-loop phases, each
//! a warm-up followed by a measurement window, with `--concurrency` workers on one pooled
//! HTTP/1.1 client (loopback):
//!
//! 1. **challenges**: `GET /pay/{id}` without a credential; each answer must be a `402` whose
//!    `WWW-Authenticate` parses (with the `mpp` crate) into a `stripe`/`charge` challenge.
//! 2. **confirmations**: a fresh challenge (`GET` → `402`), then `POST` with `Authorization:
//!    Payment …` built with the `mpp` crate's client-side formatting and a unique magic SPT
//!    `spt_success_<ulid>`; the answer must be a `200` whose `Payment-Receipt` decodes to a
//!    success. Latency is the whole exchange (GET + POST); the POST alone is reported too.
//!
//! Against omnibridge (`--server omnibridge`) a charge pays once, so every confirmation needs
//! its own payment intent: before any timing, the generator opens `--conversations` web-chat
//! conversations, creates `--intents` intents of €12.50 on them through
//! `POST /v1/payment-intents`, and waits for the outbox to drain. If the intents run out
//! before the window ends, the window is cut there (`exhausted` in the summary). The baseline
//! charges a fixed price on any path, so its ids are made up.
//!
//! Only operations started inside the window count; each request is bounded by
//! `--request-timeout-secs`. The result is one JSON line (starting with `{`) and a table.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::{Parser, ValueEnum};
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use mpp::protocol::core::{
    PaymentChallenge, PaymentCredential, Receipt, format_authorization, parse_www_authenticate,
};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Time allowed for each setup step (a WebSocket welcome, a first message's ack).
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Setup requests in flight at once.
const SETUP_CONCURRENCY: usize = 16;

/// Which server is under load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Server {
    /// omnibridge: intents are created through its API first.
    Omnibridge,
    /// `mpp-baseline`: one fixed price on any `/pay/{id}`.
    Baseline,
}

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "pay-load",
    about = "Challenges/s and confirmations/s through an MPP pay endpoint (GET|POST /pay/{id})"
)]
struct Args {
    /// Base URL of the server (loopback).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The kind of server.
    #[arg(long, value_enum)]
    server: Server,
    /// API key for omnibridge's `/v1` (Bearer).
    #[arg(long, env = "BENCH_API_KEY", default_value = "")]
    api_key: String,
    /// Concurrent workers (each one request at a time).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Length of each measurement window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Warm-up before each window, in seconds (excluded from the results).
    #[arg(long, default_value_t = 2.0)]
    warmup_secs: f64,
    /// omnibridge: payment intents to create before timing (one per confirmation).
    #[arg(long, default_value_t = 16_000)]
    intents: usize,
    /// omnibridge: web-chat conversations the intents are spread over.
    #[arg(long, default_value_t = 8)]
    conversations: usize,
    /// omnibridge: time allowed for the outbox to send the setup's `payment_request`
    /// messages, in seconds (on a busy machine 16,000 take minutes).
    #[arg(long, default_value_t = 600.0)]
    drain_timeout_secs: f64,
    /// Bound on each HTTP request, in seconds.
    #[arg(long, default_value_t = 10.0)]
    request_timeout_secs: f64,
    /// Free-form label copied into the JSON summary (e.g. `omnibridge`).
    #[arg(long, default_value = "")]
    label: String,
}

/// What the workers share.
struct Target {
    http: reqwest::Client,
    base: String,
    server: Server,
    /// omnibridge's payable intents (empty for the baseline).
    intents: Vec<String>,
    /// Next intent a confirmation takes.
    next_intent: AtomicUsize,
    /// Operation counter (made-up ids for the baseline).
    seq: AtomicU64,
}

/// The two phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Challenges,
    Confirmations,
}

/// One operation's outcome.
enum Outcome {
    /// Done as required; the POST's own duration for a confirmation.
    Ok { post: Option<Duration> },
    /// No intent left to pay (omnibridge).
    Exhausted,
}

/// What one worker saw in one phase.
#[derive(Default)]
struct WorkerLog {
    /// `(start, latency, post latency)` of each successful operation started in the window.
    ok: Vec<(Instant, Duration, Option<Duration>)>,
    errors: u64,
    first_error: Option<String>,
    exhausted_at: Option<Instant>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.concurrency > 0 && args.secs > 0.0,
        "--concurrency and --secs must be positive"
    );
    let base = args.url.trim_end_matches('/').to_owned();
    ensure!(
        base.starts_with("http://127.0.0.1") || base.starts_with("http://localhost"),
        "loopback only: {base}"
    );
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.concurrency + SETUP_CONCURRENCY)
        .timeout(Duration::from_secs_f64(args.request_timeout_secs))
        .build()
        .context("building the HTTP client")?;

    let setup_started = Instant::now();
    let intents = match args.server {
        Server::Omnibridge => {
            ensure!(!args.api_key.is_empty(), "omnibridge needs --api-key");
            let intents = create_intents(&http, &base, &args).await?;
            let drain = Duration::from_secs_f64(args.drain_timeout_secs);
            wait_for_outbox(&http, &base, &args.api_key, drain).await?;
            intents
        }
        Server::Baseline => Vec::new(),
    };
    let setup_secs = setup_started.elapsed().as_secs_f64();
    let target = Arc::new(Target {
        http,
        base,
        server: args.server,
        intents,
        next_intent: AtomicUsize::new(0),
        seq: AtomicU64::new(0),
    });

    let challenges = run_phase(&target, Phase::Challenges, &args).await?;
    let confirmations = run_phase(&target, Phase::Confirmations, &args).await?;
    let summary = summarize(
        &args,
        setup_secs,
        target.intents.len(),
        &challenges,
        &confirmations,
    )?;
    println!("{}", serde_json::to_string(&summary)?);
    print_table(&summary);
    if summary.challenges == 0 || summary.confirmations == 0 {
        bail!("a phase completed no operation");
    }
    Ok(())
}

/// Opens web-chat conversations and creates `--intents` intents on them; returns their ids.
async fn create_intents(http: &reqwest::Client, base: &str, args: &Args) -> Result<Vec<String>> {
    let mut conversations = Vec::new();
    for _ in 0..args.conversations.max(1) {
        conversations.push(open_conversation(base).await?);
    }
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    let mut ids = Vec::with_capacity(args.intents);
    for n in 0..args.intents {
        if pending.len() >= SETUP_CONCURRENCY
            && let Some(id) = pending.next().await
        {
            ids.push(id?);
        }
        let conversation = &conversations[n % conversations.len()];
        pending.push(create_intent(http, base, &args.api_key, conversation));
    }
    while let Some(id) = pending.next().await {
        ids.push(id?);
    }
    eprintln!(
        "pay-load: created {} intents on {} conversations in {:.1} s",
        ids.len(),
        conversations.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(ids)
}

/// A new web-chat visitor: connects, reads the welcome frame, says hi (acknowledged),
/// closes; returns the conversation id.
async fn open_conversation(base: &str) -> Result<String> {
    let ws_url = format!("{}/webchat/ws", base.replacen("http", "ws", 1));
    let mut request = ws_url
        .as_str()
        .into_client_request()
        .with_context(|| format!("bad URL {ws_url}"))?;
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(base)?);
    let (mut socket, _) = timeout(SETUP_TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .context("WebSocket connect timed out")?
        .with_context(|| format!("connecting to {ws_url}"))?;
    let conversation = timeout(SETUP_TIMEOUT, async {
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message? {
                let frame: Value = serde_json::from_str(&text)?;
                if frame["type"] == "welcome" {
                    return frame["conversation_id"]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| anyhow!("welcome without conversation_id: {frame}"));
                }
            }
        }
        Err(anyhow!("socket closed before the welcome frame"))
    })
    .await
    .context("no welcome frame")??;
    // The conversation is recorded with its first message.
    let frame = json!({"type": "message", "text": "hi", "client_msg_id": "setup"});
    socket.send(Message::Text(frame.to_string().into())).await?;
    timeout(SETUP_TIMEOUT, async {
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message? {
                let frame: Value = serde_json::from_str(&text)?;
                match frame["type"].as_str() {
                    Some("ack") => return Ok(()),
                    Some("error") => bail!("first message refused: {frame}"),
                    _ => {}
                }
            }
        }
        Err(anyhow!("socket closed before the first message's ack"))
    })
    .await
    .context("no ack for the first message")??;
    let _ = timeout(Duration::from_secs(1), socket.close(None)).await;
    Ok(conversation)
}

/// `POST /v1/payment-intents` for €12.50; returns the intent id.
async fn create_intent(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    conversation: &str,
) -> Result<String> {
    let response = http
        .post(format!("{base}/v1/payment-intents"))
        .bearer_auth(key)
        .json(&json!({
            "conversation_id": conversation,
            "amount": 1250,
            "currency": "EUR",
            "description": "Order 42",
        }))
        .send()
        .await
        .context("creating an intent")?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    ensure!(status == 201, "creating an intent: {status} {body}");
    body["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("intent without id: {body}"))
}

/// Waits until omnibridge's outbox is empty (the `payment_request` messages of the setup are
/// sent), so their delivery does not run inside the measurement.
async fn wait_for_outbox(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    limit: Duration,
) -> Result<()> {
    let started = Instant::now();
    let deadline = started + limit;
    loop {
        let text = http
            .get(format!("{base}/metrics"))
            .bearer_auth(key)
            .send()
            .await?
            .error_for_status()
            .context("reading /metrics")?
            .text()
            .await?;
        let depth = text
            .lines()
            .find_map(|line| line.strip_prefix("omnibridge_outbox_depth "))
            .and_then(|value| value.trim().parse::<f64>().ok());
        match depth {
            Some(depth) if depth <= 0.0 => break,
            None => break,
            Some(_) if Instant::now() >= deadline => bail!("the outbox did not drain"),
            Some(_) => sleep(Duration::from_millis(100)).await,
        }
    }
    eprintln!(
        "pay-load: the outbox drained in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Let the bus consumers (wallet, webhooks) catch up with the setup's events too.
    sleep(Duration::from_millis(500)).await;
    Ok(())
}

/// Runs one phase with `--concurrency` workers; returns their logs and the window.
async fn run_phase(target: &Arc<Target>, phase: Phase, args: &Args) -> Result<PhaseResult> {
    // bench/profile-payments.sh waits for this line to attach perf.
    eprintln!("pay-load: phase {phase:?} starting");
    let start = Instant::now() + Duration::from_millis(50);
    let warm_end = start + Duration::from_secs_f64(args.warmup_secs.max(0.0));
    let end = warm_end + Duration::from_secs_f64(args.secs);
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start).await;
            worker(&target, phase, warm_end, end).await
        }));
    }
    let mut logs = Vec::new();
    for task in tasks {
        logs.push(task.await.context("a worker panicked")?);
    }
    Ok(PhaseResult {
        logs,
        warm_end,
        end,
    })
}

/// A phase's raw results.
struct PhaseResult {
    logs: Vec<WorkerLog>,
    warm_end: Instant,
    end: Instant,
}

/// One worker: operations back to back until the end of the window (or no intent is left).
async fn worker(target: &Target, phase: Phase, warm_end: Instant, end: Instant) -> WorkerLog {
    let mut log = WorkerLog::default();
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let outcome = match phase {
            Phase::Challenges => challenge_once(target)
                .await
                .map(|_| Outcome::Ok { post: None }),
            Phase::Confirmations => confirm_once(target).await,
        };
        match outcome {
            Ok(Outcome::Ok { post }) => {
                if started >= warm_end {
                    log.ok.push((started, started.elapsed(), post));
                }
            }
            Ok(Outcome::Exhausted) => {
                log.exhausted_at = Some(started);
                break;
            }
            Err(error) => {
                log.errors += 1;
                if log.first_error.is_none() {
                    log.first_error = Some(format!("{error:#}"));
                }
            }
        }
    }
    log
}

/// The id of the intent to ask a challenge for.
fn probe_id(target: &Target) -> String {
    let n = target.seq.fetch_add(1, Ordering::Relaxed);
    match target.server {
        Server::Omnibridge => {
            let index = usize::try_from(n).unwrap_or(0) % target.intents.len().max(1);
            target.intents.get(index).cloned().unwrap_or_default()
        }
        Server::Baseline => format!("bench-{n}"),
    }
}

/// `GET /pay/{id}` → `402` with a `stripe`/`charge` challenge.
async fn challenge_once(target: &Target) -> Result<PaymentChallenge> {
    challenge_for(target, &probe_id(target)).await
}

async fn challenge_for(target: &Target, id: &str) -> Result<PaymentChallenge> {
    let response = target
        .http
        .get(format!("{}/pay/{id}", target.base))
        .send()
        .await
        .context("GET /pay")?;
    let status = response.status();
    let challenge = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| parse_www_authenticate(value).ok())
        .find(|c| c.method.as_str() == "stripe" && c.intent.as_str() == "charge");
    let body = response.bytes().await.context("reading the 402 body")?;
    ensure!(
        status == 402,
        "GET /pay: {status} {}",
        String::from_utf8_lossy(&body)
    );
    challenge.ok_or_else(|| anyhow!("402 without a stripe/charge challenge"))
}

/// A fresh challenge, then `POST /pay/{id}` with an SPT credential → `200` + receipt.
async fn confirm_once(target: &Target) -> Result<Outcome> {
    let id = match target.server {
        Server::Omnibridge => {
            let index = target.next_intent.fetch_add(1, Ordering::Relaxed);
            match target.intents.get(index) {
                Some(id) => id.clone(),
                None => return Ok(Outcome::Exhausted),
            }
        }
        Server::Baseline => probe_id(target),
    };
    let challenge = challenge_for(target, &id).await?;
    let spt = format!(
        "spt_success_{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    );
    let credential = PaymentCredential::new(challenge.to_echo(), json!({ "spt": spt }));
    let authorization = format_authorization(&credential).context("formatting the credential")?;
    let posted = Instant::now();
    let response = target
        .http
        .post(format!("{}/pay/{id}", target.base))
        .header("authorization", authorization)
        .send()
        .await
        .context("POST /pay")?;
    let status = response.status();
    let receipt = response
        .headers()
        .get("payment-receipt")
        .and_then(|value| value.to_str().ok())
        .map(Receipt::from_header);
    let body = response.bytes().await.context("reading the 200 body")?;
    let post = posted.elapsed();
    ensure!(
        status == 200,
        "POST /pay: {status} {}",
        String::from_utf8_lossy(&body)
    );
    let receipt = receipt
        .ok_or_else(|| anyhow!("200 without Payment-Receipt"))?
        .map_err(|error| anyhow!("bad Payment-Receipt: {error}"))?;
    ensure!(receipt.is_success(), "receipt is not a success");
    Ok(Outcome::Ok { post: Some(post) })
}

/// The run's results (the JSON line).
#[derive(Debug, serde::Serialize)]
struct Summary {
    label: String,
    server: String,
    concurrency: usize,
    secs: f64,
    warmup_secs: f64,
    setup_secs: f64,
    intents_created: usize,
    challenges: u64,
    challenges_per_s: f64,
    challenge_p50_ms: f64,
    challenge_p99_ms: f64,
    challenge_errors: u64,
    confirmations: u64,
    confirmations_per_s: f64,
    confirmation_p50_ms: f64,
    confirmation_p99_ms: f64,
    confirmation_post_p50_ms: f64,
    confirmation_post_p99_ms: f64,
    confirmation_errors: u64,
    /// Seconds actually measured when the intents ran out first.
    confirmation_window_secs: f64,
    exhausted: bool,
    first_error: Option<String>,
}

/// Counts, rates and latency quantiles of one phase.
struct PhaseStats {
    count: u64,
    per_s: f64,
    window_secs: f64,
    errors: u64,
    exhausted: bool,
    latency: Histogram<u64>,
    post: Histogram<u64>,
    first_error: Option<String>,
}

fn stats(result: &PhaseResult) -> Result<PhaseStats> {
    let exhausted_at = result.logs.iter().filter_map(|l| l.exhausted_at).min();
    let end = exhausted_at.map_or(result.end, |at| at.min(result.end));
    let window_secs = end.saturating_duration_since(result.warm_end).as_secs_f64();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut post = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut count = 0u64;
    for log in &result.logs {
        for &(started, took, post_took) in &log.ok {
            if started >= end {
                continue;
            }
            count += 1;
            latency.saturating_record(micros(took));
            if let Some(post_took) = post_took {
                post.saturating_record(micros(post_took));
            }
        }
    }
    let per_s = if window_secs > 0.0 {
        (count as f64 / window_secs * 10.0).round() / 10.0
    } else {
        0.0
    };
    Ok(PhaseStats {
        count,
        per_s,
        window_secs: (window_secs * 1000.0).round() / 1000.0,
        errors: result.logs.iter().map(|l| l.errors).sum(),
        exhausted: exhausted_at.is_some_and(|at| at < result.end),
        latency,
        post,
        first_error: result.logs.iter().find_map(|l| l.first_error.clone()),
    })
}

fn micros(took: Duration) -> u64 {
    u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1_000.0
    }
}

fn summarize(
    args: &Args,
    setup_secs: f64,
    intents_created: usize,
    challenges: &PhaseResult,
    confirmations: &PhaseResult,
) -> Result<Summary> {
    let c = stats(challenges)?;
    let p = stats(confirmations)?;
    Ok(Summary {
        label: args.label.clone(),
        server: format!("{:?}", args.server).to_ascii_lowercase(),
        concurrency: args.concurrency,
        secs: args.secs,
        warmup_secs: args.warmup_secs,
        setup_secs: (setup_secs * 10.0).round() / 10.0,
        intents_created,
        challenges: c.count,
        challenges_per_s: c.per_s,
        challenge_p50_ms: ms(&c.latency, 0.5),
        challenge_p99_ms: ms(&c.latency, 0.99),
        challenge_errors: c.errors,
        confirmations: p.count,
        confirmations_per_s: p.per_s,
        confirmation_p50_ms: ms(&p.latency, 0.5),
        confirmation_p99_ms: ms(&p.latency, 0.99),
        confirmation_post_p50_ms: ms(&p.post, 0.5),
        confirmation_post_p99_ms: ms(&p.post, 0.99),
        confirmation_errors: p.errors,
        confirmation_window_secs: p.window_secs,
        exhausted: p.exhausted,
        first_error: c.first_error.or(p.first_error),
    })
}

/// The human-readable table.
fn print_table(s: &Summary) {
    println!();
    println!(
        "pay-load {} ({}) — {} workers, {} s warm-up + {} s per phase",
        s.label, s.server, s.concurrency, s.warmup_secs, s.secs
    );
    if s.intents_created > 0 {
        println!(
            "  setup          {} intents in {} s (not measured)",
            s.intents_created, s.setup_secs
        );
    }
    println!(
        "  challenges     {:>9.1} /s  p50 {:>8.3} ms  p99 {:>8.3} ms  ({} ok, {} errors)",
        s.challenges_per_s,
        s.challenge_p50_ms,
        s.challenge_p99_ms,
        s.challenges,
        s.challenge_errors
    );
    println!(
        "  confirmations  {:>9.1} /s  p50 {:>8.3} ms  p99 {:>8.3} ms  (POST alone p50 {:.3} ms p99 {:.3} ms; {} ok, {} errors{})",
        s.confirmations_per_s,
        s.confirmation_p50_ms,
        s.confirmation_p99_ms,
        s.confirmation_post_p50_ms,
        s.confirmation_post_p99_ms,
        s.confirmations,
        s.confirmation_errors,
        if s.exhausted {
            format!("; intents ran out after {} s", s.confirmation_window_secs)
        } else {
            String::new()
        }
    );
    if let Some(error) = &s.first_error {
        println!("  first error    {error}");
    }
}
