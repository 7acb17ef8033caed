//! `whatsapp-load load`: the run's timeline, the signed webhooks, the closed loop, and the
//! wiring of the paced sender and the SSE consumer around them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use omnibridge_whatsapp::inbound::{SIGNATURE_HEADER, sign};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::timeout;

use crate::LoadArgs;
use crate::{paced, report, sse};

/// Longest one request may take before it counts as an error.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Marker for "never happened" in nanosecond timestamps.
pub(crate) const NEVER: u64 = u64::MAX;
/// The unpadded message text (the throughput benchmarks' webhook is about 480 bytes).
const TEXT: &str = "Hi! Is my order on its way? Order 12345, thanks.";
/// What `--body-bytes` pads the text with (ASCII, so JSON needs no escaping).
const FILLER: &str = " It was placed on Monday and the tracking page has not moved since.";

/// The run's instants; timestamps are nanoseconds since `origin`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeline {
    /// Zero of the nanosecond timestamps.
    pub(crate) origin: Instant,
    /// First request (the warm-up starts here).
    pub(crate) start: Instant,
    /// End of the warm-up: requests due from here on are measured.
    pub(crate) warm_end: Instant,
    /// End of the window: no request is due after it.
    pub(crate) end: Instant,
    /// Hard stop for answers and SSE events.
    pub(crate) drain_deadline: Instant,
}

impl Timeline {
    /// `at` in nanoseconds since the origin.
    pub(crate) fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(NEVER - 1)
    }

    /// Now, in nanoseconds since the origin.
    pub(crate) fn now_ns(&self) -> u64 {
        self.ns(Instant::now())
    }
}

/// One request: which it was, when it was due, sent and answered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Record {
    /// The connection (closed loop) or 0 (paced).
    pub(crate) stream: u32,
    /// The request's number on its stream.
    pub(crate) n: u64,
    /// When it was due (paced) or sent (closed loop).
    pub(crate) due_ns: u64,
    /// When its sending started.
    pub(crate) sent_ns: u64,
    /// When the answer was read ([`NEVER`] without one).
    pub(crate) done_ns: u64,
    /// Answered 200.
    pub(crate) ok: bool,
    /// Size of its body.
    pub(crate) body_bytes: usize,
}

/// What every request of the run shares.
pub(crate) struct Shot {
    /// The HTTP client (keep-alive pool, TCP_NODELAY, per-request timeout).
    pub(crate) client: reqwest::Client,
    /// The options.
    pub(crate) args: Arc<LoadArgs>,
    /// This run's tag in every wamid.
    pub(crate) run: String,
    /// Bytes of filler in every message text.
    pub(crate) pad: usize,
    /// The provider timestamp in every webhook.
    pub(crate) at: i64,
}

impl Shot {
    /// The wamid of request `n` on `stream`.
    pub(crate) fn wamid(&self, stream: u32, n: u64) -> String {
        format!("{}s{stream}n{n}", sse::wamid_prefix(&self.run))
    }

    /// Posts request `n` of `stream`, due at `due`; returns its record.
    pub(crate) async fn fire(
        &self,
        timeline: &Timeline,
        stream: u32,
        n: u64,
        due: Instant,
    ) -> Record {
        let customers = u64::from(self.args.customers.max(1));
        let customer = format!("1650{:07}", (u64::from(stream) * 7919 + n) % customers);
        let body = webhook(
            &self.args.phone_number_id,
            &customer,
            &self.wamid(stream, n),
            self.at,
            self.pad,
        );
        let body_bytes = body.len();
        let sent_ns = timeline.now_ns();
        let ok = post(&self.client, &self.args.url, &self.args.app_secret, body).await;
        let done_ns = timeline.now_ns();
        Record {
            stream,
            n,
            due_ns: timeline.ns(due),
            sent_ns,
            done_ns,
            ok,
            body_bytes,
        }
    }
}

/// One text-message webhook as Meta sends it (about 480 bytes), its text extended by `pad`
/// bytes of filler.
pub(crate) fn webhook(
    phone_number_id: &str,
    customer: &str,
    wamid: &str,
    at: i64,
    pad: usize,
) -> Vec<u8> {
    let mut text = String::with_capacity(TEXT.len() + pad);
    text.push_str(TEXT);
    text.extend(FILLER.chars().cycle().take(pad));
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Load Tester"}, "wa_id": customer}],
            "messages": [{"from": customer, "id": wamid, "timestamp": at.to_string(),
                "type": "text", "text": {"body": text}}]}}]}]})
    .to_string()
    .into_bytes()
}

/// Posts one signed webhook; whether it was answered 200 (the answer body is read).
pub(crate) async fn post(client: &reqwest::Client, url: &str, secret: &str, body: Vec<u8>) -> bool {
    let signature = sign(secret.as_bytes(), &body);
    let answer = timeout(
        REQUEST_TIMEOUT,
        client
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send(),
    )
    .await;
    match answer {
        Ok(Ok(response)) => {
            let status = response.status();
            let read = timeout(REQUEST_TIMEOUT, response.bytes()).await;
            status == reqwest::StatusCode::OK && matches!(read, Ok(Ok(_)))
        }
        _ => false,
    }
}

/// The `load` subcommand.
pub(crate) async fn run(args: LoadArgs) -> Result<()> {
    if args.secs <= 0.0 || (args.rate <= 0.0 && args.connections == 0) || args.max_in_flight == 0 {
        bail!("--secs, --max-in-flight and --rate or --connections must be positive");
    }
    let idle = if args.rate > 0.0 {
        args.max_in_flight
    } else {
        args.connections as usize
    };
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(idle)
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let run = format!("{:x}", std::process::id() ^ (unix_seconds() as u32));
    let at = i64::try_from(unix_seconds()).unwrap_or(i64::MAX);
    let unpadded = webhook(&args.phone_number_id, "16500000000", "wamid.x", at, 0).len();
    let pad = args.body_bytes.saturating_sub(unpadded);
    let args = Arc::new(args);
    let shot = Arc::new(Shot {
        client,
        args: args.clone(),
        run,
        pad,
        at,
    });

    let stream = match &args.sse_url {
        Some(url) => Some(sse::open(&shot, url).await?),
        None => None,
    };
    let origin = Instant::now();
    let start = origin + Duration::from_millis(100);
    let warm_end = start + Duration::from_secs_f64(args.warmup_secs.max(0.0));
    let end = warm_end + Duration::from_secs_f64(args.secs);
    let timeline = Timeline {
        origin,
        start,
        warm_end,
        end,
        drain_deadline: end + Duration::from_secs_f64(args.drain_secs.max(0.0)),
    };
    let (expected_tx, expected_rx) = watch::channel(None);
    let consumer = stream.map(|response| {
        let prefix = sse::wamid_prefix(&shot.run);
        tokio::spawn(sse::consume(response, prefix, timeline, expected_rx))
    });

    let records = if args.rate > 0.0 {
        paced::run(shot.clone(), timeline).await?
    } else {
        closed_loop(shot.clone(), timeline).await?
    };
    let acked: HashSet<(u32, u64)> = records
        .iter()
        .filter(|r| r.ok)
        .map(|r| (r.stream, r.n))
        .collect();
    expected_tx.send_replace(Some(acked));
    let arrivals = match consumer {
        Some(task) => Some(task.await.context("the SSE task panicked")??),
        None => None,
    };
    let summary = report::summarize(&args, &timeline, &records, arrivals.as_deref())?;
    println!("{}", serde_json::to_string(&summary)?);
    report::print_table(&summary);
    if summary.requests_ok == 0 {
        bail!("no request was answered 200");
    }
    Ok(())
}

/// `--connections` connections, each sending its next request when the previous one is
/// answered, until the end of the window.
async fn closed_loop(shot: Arc<Shot>, timeline: Timeline) -> Result<Vec<Record>> {
    let mut tasks = Vec::new();
    for connection in 0..shot.args.connections {
        let shot = shot.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(timeline.start.into()).await;
            let mut records = Vec::new();
            for n in 0u64.. {
                let now = Instant::now();
                if now >= timeline.end {
                    break;
                }
                records.push(shot.fire(&timeline, connection, n, now).await);
            }
            records
        }));
    }
    let mut records = Vec::new();
    for task in tasks {
        records.extend(task.await.context("a connection task panicked")?);
    }
    Ok(records)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
