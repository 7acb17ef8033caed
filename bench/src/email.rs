//! `email-load`: the email channel's ingest benchmark.
//!
//! - `email-load webhook --url URL`: `--connections` keep-alive HTTP connections post distinct
//!   raw RFC 5322 mails (unique Message-ID, ~1 KB `text/plain` body, or with `--html` a
//!   `multipart/alternative` with an HTML part), signed for the raw-MIME webhook
//!   (`X-Omnibridge-Timestamp`, `X-Omnibridge-Signature`), to `POST /webhooks/{channel}`,
//!   closed loop, for a warm-up and then `--secs`. Throughput is 200 answers per second inside
//!   the window; the bridge answers 200 only after the durable append. Latency is per request.
//! - `email-load imap-append --port P`: appends `--mails` such mails to a mailbox over IMAP
//!   (plain TCP, LOGIN, one `APPEND` each, one connection), as a mail server's delivery would.
//! - `email-load imap-wait --url URL`: polls the bridge's `/metrics` until `--expected`
//!   email events were appended to the bus, then walks `/v1/conversations` and their events to
//!   count the distinct `message.received` Message-IDs, and reports the time since `--since-ms`
//!   (the bridge's start) and mails/s.
//!
//! Mails are grouped in threads of `--thread-len` (default 1: every mail starts its own
//! conversation, the harder case for the thread map); the later mails of a thread carry
//! `In-Reply-To`/`References` to the first one, `Re:` and a quoted line.
//!
//! Every loop is bounded in time; the result is one JSON line (starting with `{`).

#[path = "tally.rs"]
mod tally;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use omnibridge_email::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use serde_json::{Value, json};
use tally::Tally;
use tokio::time::{Instant, timeout};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "email-load",
    about = "Email ingest benchmark: raw-MIME webhook and IMAP"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Signed raw-MIME webhooks per second.
    Webhook(WebhookArgs),
    /// Appends mails to a mailbox over IMAP.
    ImapAppend(AppendArgs),
    /// Waits until the bridge has the mails on its bus; reports mails/s.
    ImapWait(WaitArgs),
}

/// What the mails look like.
#[derive(Clone, Debug, clap::Args)]
struct MailShape {
    /// Mails per thread: 1 = every mail its own conversation.
    #[arg(long, default_value_t = 1)]
    thread_len: u64,
    /// Add an HTML alternative (`multipart/alternative`).
    #[arg(long)]
    html: bool,
    /// The support address the mails are sent to.
    #[arg(long, default_value = "support@acme.test")]
    to: String,
}

#[derive(Debug, clap::Args)]
struct WebhookArgs {
    /// The webhook URL (`http://127.0.0.1:PORT/webhooks/<channel id>`).
    #[arg(long)]
    url: String,
    /// The webhook's signing secret.
    #[arg(long, env = "BENCH_MAIL_WEBHOOK_SECRET", hide_env_values = true)]
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
    #[command(flatten)]
    shape: MailShape,
    /// Free-form label copied into the JSON summary.
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Debug, clap::Args)]
struct AppendArgs {
    /// IMAP host (plain TCP).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// IMAP port.
    #[arg(long)]
    port: u16,
    /// Login.
    #[arg(long)]
    user: String,
    /// Password.
    #[arg(long, env = "BENCH_IMAP_PASSWORD", hide_env_values = true)]
    password: String,
    /// Mailbox to append to.
    #[arg(long, default_value = "INBOX")]
    mailbox: String,
    /// How many mails.
    #[arg(long, default_value_t = 1000)]
    mails: u64,
    #[command(flatten)]
    shape: MailShape,
}

#[derive(Debug, clap::Args)]
struct WaitArgs {
    /// The bridge's base URL (`http://127.0.0.1:PORT`).
    #[arg(long)]
    url: String,
    /// An API key of the bridge.
    #[arg(long, env = "BENCH_API_KEY", hide_env_values = true)]
    api_key: String,
    /// How many `message.received` events to wait for.
    #[arg(long)]
    expected: u64,
    /// The start instant, Unix milliseconds (default: now).
    #[arg(long)]
    since_ms: Option<i64>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    timeout_secs: f64,
    /// The channel kind label of the `/metrics` counter.
    #[arg(long, default_value = "email")]
    channel: String,
    /// Free-form label copied into the JSON summary.
    #[arg(long, default_value = "")]
    label: String,
}

/// Longest one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<()> {
    match Args::parse().command {
        Command::Webhook(args) => webhook(args).await,
        Command::ImapAppend(args) => imap_append(args).await,
        Command::ImapWait(args) => imap_wait(args).await,
    }
}

/// About 1 KB of a customer writing to support.
const BODY: &str = "Hello,\r\n\r\n\
I ordered a pair of walking boots last Tuesday and the confirmation said they would ship \
within two working days. The tracking page still shows \"label created\" and nothing has \
moved since. Could you check with the warehouse whether the parcel actually left, and if it \
did not, whether it can still go out this week? I am travelling on the 14th and would need \
the boots before then; if that is not possible I would rather cancel and order in a shop.\r\n\r\n\
In case it helps: the order was paid by card, delivery to the address in my account, and I \
chose the standard option rather than express. I also received a second e-mail asking me to \
confirm the size, which I did straight away (EU 42, wide fit).\r\n\r\n\
Could you also tell me whether returns are free if the size turns out to be wrong? The page \
about returns mentions 30 days but not who pays the postage.\r\n\r\n\
Thank you very much for your help,\r\n";

/// The `n`-th mail of a stream (`stream` names the sender: a connection, or the IMAP run).
fn mail(run: &str, stream: u32, n: u64, shape: &MailShape, now: &str) -> Vec<u8> {
    let thread_len = shape.thread_len.max(1);
    let thread = n / thread_len;
    let root = thread * thread_len;
    let customer = format!("customer{stream}x{thread}");
    let domain = "mail.example.net";
    let message_id = format!("<{run}.{stream}.{n}@{domain}>");
    let subject = format!("Order {}: where is my parcel?", 100_000 + thread);
    let (subject, threading, quote) = if n == root {
        (subject, String::new(), String::new())
    } else {
        let root_id = format!("<{run}.{stream}.{root}@{domain}>");
        let previous = format!("<{run}.{stream}.{}@{domain}>", n - 1);
        let references = if n - 1 == root {
            root_id.clone()
        } else {
            format!("{root_id} {previous}")
        };
        (
            format!("Re: {subject}"),
            format!("In-Reply-To: {previous}\r\nReferences: {references}\r\n"),
            format!(
                "\r\nOn {now}, Acme Support <{}> wrote:\r\n> Thanks, we are looking into it.\r\n",
                shape.to
            ),
        )
    };
    let text = format!("{BODY}Customer {stream}/{n}\r\n{quote}");
    let headers = format!(
        "Return-Path: <{customer}@{domain}>\r\n\
         From: \"Customer {stream}-{thread}\" <{customer}@{domain}>\r\n\
         To: Acme Support <{to}>\r\n\
         Subject: {subject}\r\n\
         Date: {now}\r\n\
         Message-ID: {message_id}\r\n\
         {threading}\
         MIME-Version: 1.0\r\n",
        to = shape.to
    );
    let body = if shape.html {
        let boundary = format!("=_alt_{run}_{stream}_{n}");
        let html = format!(
            "<html><body><p>{}</p></body></html>",
            text.replace("\r\n\r\n", "</p><p>").replace("\r\n", "<br>")
        );
        format!(
            "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
             --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n\
             --{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n\
             --{boundary}--\r\n"
        )
    } else {
        format!(
            "Content-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{text}"
        )
    };
    format!("{headers}{body}").into_bytes()
}

/// A short id distinguishing this run's Message-IDs from earlier runs'.
fn run_id() -> String {
    format!(
        "bench{:x}",
        std::process::id() ^ (unix_millis() as u32).rotate_left(7)
    )
}

fn unix_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn rfc2822_now() -> String {
    chrono::Utc::now().to_rfc2822()
}

async fn webhook(args: WebhookArgs) -> Result<()> {
    if args.connections == 0 || args.secs <= 0.0 {
        bail!("--connections and --secs must be positive");
    }
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.connections as usize)
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let run = run_id();
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
            "mode": "webhook",
            "label": args.label,
            "url": args.url,
            "connections": args.connections,
            "secs": args.secs,
            "thread_len": args.shape.thread_len.max(1),
            "html": args.shape.html,
        }),
        "mails_per_s",
        args.secs,
    )
}

async fn drive(
    client: reqwest::Client,
    args: &WebhookArgs,
    run: &str,
    connection: u32,
    start: Instant,
    warm_end: Instant,
    end: Instant,
) -> Result<Tally> {
    let mut tally = Tally::new()?;
    tokio::time::sleep_until(start).await;
    let secret = args.secret.as_bytes();
    let now = rfc2822_now();
    for n in 0u64.. {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let body = mail(run, connection, n, &args.shape, &now);
        tally.body_bytes = body.len();
        let timestamp = unix_millis() / 1000;
        let signature = sign(secret, timestamp, &body);
        let answer = timeout(
            REQUEST_TIMEOUT,
            client
                .post(&args.url)
                .header("content-type", "message/rfc822")
                .header(TIMESTAMP_HEADER, timestamp.to_string())
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

async fn imap_append(args: AppendArgs) -> Result<()> {
    let started = Instant::now();
    let tcp = tokio::net::TcpStream::connect((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("connecting to {}:{}", args.host, args.port))?;
    let mut client = async_imap::Client::new(tcp);
    client
        .read_response()
        .await
        .context("reading the IMAP greeting")?
        .context("the IMAP server closed before its greeting")?;
    let mut session = client
        .login(&args.user, &args.password)
        .await
        .map_err(|(e, _)| e)
        .context("IMAP LOGIN")?;
    let run = run_id();
    let now = rfc2822_now();
    let mut bytes = 0usize;
    for n in 0..args.mails {
        let raw = mail(&run, 0, n, &args.shape, &now);
        bytes += raw.len();
        session
            .append(&args.mailbox, None, None, &raw)
            .await
            .with_context(|| format!("APPEND of mail {n}"))?;
    }
    let _ = session.logout().await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "mode": "imap-append",
            "mails": args.mails,
            "thread_len": args.shape.thread_len.max(1),
            "html": args.shape.html,
            "avg_mail_bytes": if args.mails == 0 { 0 } else { bytes / args.mails as usize },
            "secs": (secs * 1000.0).round() / 1000.0,
        })
    );
    Ok(())
}

/// `omnibridge_events_in_total{channel="<channel>"}` from a `/metrics` text.
fn events_in(metrics: &str, channel: &str) -> u64 {
    let prefix = format!("omnibridge_events_in_total{{channel=\"{channel}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map_or(0, |value| value as u64)
}

async fn get_json(client: &reqwest::Client, url: &str, key: &str) -> Result<Value> {
    let response = client
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("GET {url}: {status}");
    }
    Ok(response.json().await?)
}

/// What is on the bus: every `message.received` of the channel (Message-ID, received_at).
struct BusCount {
    conversations: u64,
    received: Vec<(String, chrono::DateTime<chrono::Utc>)>,
}

async fn bus_count(client: &reqwest::Client, args: &WaitArgs) -> Result<BusCount> {
    let base = args.url.trim_end_matches('/');
    let mut count = BusCount {
        conversations: 0,
        received: Vec::new(),
    };
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/conversations?limit=500");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = get_json(client, &url, &args.api_key).await?;
        for conversation in page["data"].as_array().cloned().unwrap_or_default() {
            let Some(id) = conversation["id"].as_str() else {
                continue;
            };
            count.conversations += 1;
            let mut after = 0u64;
            loop {
                let events = get_json(
                    client,
                    &format!("{base}/v1/conversations/{id}/events?after={after}&limit=500"),
                    &args.api_key,
                )
                .await?;
                for event in events["data"].as_array().cloned().unwrap_or_default() {
                    if event["type"] != "message.received" || event["channel"] != args.channel {
                        continue;
                    }
                    let message_id = event["provider_message_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    let at = event["received_at"]
                        .as_str()
                        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                        .map(|at| at.with_timezone(&chrono::Utc))
                        .context("an event without received_at")?;
                    count.received.push((message_id, at));
                }
                match events["next_after"].as_u64() {
                    Some(next) => after = next,
                    None => break,
                }
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    Ok(count)
}

async fn imap_wait(args: WaitArgs) -> Result<()> {
    let since_ms = args.since_ms.unwrap_or_else(unix_millis);
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let metrics_url = format!("{}/metrics", args.url.trim_end_matches('/'));
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout_secs);
    let mut seen = 0;
    let done_ms = loop {
        // The bridge may still be starting: connection errors just mean "not yet".
        if let Ok(response) = client.get(&metrics_url).send().await
            && let Ok(text) = response.text().await
        {
            seen = events_in(&text, &args.channel);
            if seen >= args.expected {
                break unix_millis();
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "only {seen} of {} events after {} s",
                args.expected,
                args.timeout_secs
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Verify on the bus itself (after a moment, so late duplicates would show).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let count = bus_count(&client, &args).await?;
    let mut ids: Vec<&str> = count.received.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let unique = ids.len() as u64;
    let first = count.received.iter().map(|(_, at)| *at).min();
    let last = count.received.iter().map(|(_, at)| *at).max();
    let elapsed = (done_ms - since_ms) as f64 / 1000.0;
    let span = match (first, last) {
        (Some(first), Some(last)) => (last - first).num_microseconds().unwrap_or(0) as f64 / 1e6,
        _ => 0.0,
    };
    let first_after = first.map_or(0.0, |first| {
        (first.timestamp_millis() - since_ms) as f64 / 1000.0
    });
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let summary = json!({
        "mode": "imap-wait",
        "label": args.label,
        "expected": args.expected,
        "received": count.received.len(),
        "unique_message_ids": unique,
        "duplicates": count.received.len() as u64 - unique,
        "conversations": count.conversations,
        "elapsed_s": round(elapsed),
        "mails_per_s": ((args.expected as f64 / elapsed.max(1e-3)) * 10.0).round() / 10.0,
        "first_received_after_s": round(first_after),
        "first_to_last_s": round(span),
        "mails_per_s_first_to_last": if span > 0.0 {
            ((unique.saturating_sub(1) as f64 / span) * 10.0).round() / 10.0
        } else {
            0.0
        },
    });
    println!("{summary}");
    if unique < args.expected {
        bail!(
            "{unique} distinct mails on the bus, expected {}",
            args.expected
        );
    }
    Ok(())
}
