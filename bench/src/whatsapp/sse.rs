//! The SSE consumer: one `GET /v1/events` stream that records when each of this run's
//! messages arrived, matched on `provider_message_id` (the wamid).
//!
//! Before the load starts, a probe webhook (its own customer, its own wamid) is posted and its
//! seq looked up through the API; the stream starts after it (`Last-Event-ID`), so events of
//! earlier runs on the same bridge are not replayed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout};

use crate::load::{Shot, Timeline, post, webhook};

/// Time allowed for the probe and for opening the stream.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the consumer keeps reading once every acknowledged message arrived, to catch a
/// late duplicate.
const LINGER: Duration = Duration::from_millis(500);

/// One of this run's messages on the stream: `(stream, n, arrival in ns)`.
pub(crate) type Arrival = (u32, u64, u64);

/// The start of every wamid of the run tagged `run`.
pub(crate) fn wamid_prefix(run: &str) -> String {
    format!("wamid.LOAD{run}")
}

/// `<prefix>s<stream>n<n>` → `(stream, n)`.
pub(crate) fn parse_wamid(prefix: &str, wamid: &str) -> Option<(u32, u64)> {
    let (stream, n) = wamid
        .strip_prefix(prefix)?
        .strip_prefix('s')?
        .split_once('n')?;
    Some((stream.parse().ok()?, n.parse().ok()?))
}

/// Posts the probe, finds its seq, and opens `url` after it.
pub(crate) async fn open(shot: &Shot, url: &str) -> Result<reqwest::Response> {
    let key = shot
        .args
        .api_key
        .as_deref()
        .ok_or_else(|| anyhow!("--sse-url needs --api-key (or BENCH_API_KEY)"))?;
    let parsed = reqwest::Url::parse(url).with_context(|| format!("bad --sse-url {url}"))?;
    let base = parsed.origin().ascii_serialization();
    let after = timeout(SETUP_TIMEOUT, probe_seq(shot, &base, key))
        .await
        .context("the probe timed out")??;
    // No overall timeout on the stream: the shared client's would cut it.
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("building the SSE client")?;
    timeout(
        SETUP_TIMEOUT,
        client
            .get(url)
            .bearer_auth(key)
            .header("last-event-id", after.to_string())
            .send(),
    )
    .await
    .context("opening the SSE stream timed out")?
    .context("opening the SSE stream")?
    .error_for_status()
    .context("opening the SSE stream")
}

/// Posts one webhook from a customer of its own and returns its event's seq.
async fn probe_seq(shot: &Shot, base: &str, key: &str) -> Result<u64> {
    let customer = format!("1999{:07}", std::process::id() % 10_000_000);
    let wamid = format!("{}probe", wamid_prefix(&shot.run));
    let body = webhook(&shot.args.phone_number_id, &customer, &wamid, shot.at, 0);
    if !post(&shot.client, &shot.args.url, &shot.args.app_secret, body).await {
        bail!("the probe webhook was not answered 200 (is --url right?)");
    }
    let page = get_json(shot, &format!("{base}/v1/conversations?limit=500"), key).await?;
    let conversation = page["data"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .find(|c| c["conversation"]["thread"].as_str() == Some(customer.as_str()))
        })
        .and_then(|c| c["id"].as_str())
        .ok_or_else(|| anyhow!("the probe's conversation is not among the newest 500"))?
        .to_owned();
    let events = get_json(
        shot,
        &format!("{base}/v1/conversations/{conversation}/events?limit=500"),
        key,
    )
    .await?;
    events["data"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .find(|e| e["provider_message_id"].as_str() == Some(wamid.as_str()))
        })
        .and_then(|e| e["seq"].as_u64())
        .ok_or_else(|| anyhow!("the probe's event has no seq: {events}"))
}

async fn get_json(shot: &Shot, url: &str, key: &str) -> Result<Value> {
    shot.client
        .get(url)
        .bearer_auth(key)
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("GET {url} (is the API key right?)"))?
        .json()
        .await
        .with_context(|| format!("GET {url}: not JSON"))
}

/// The only envelope field the consumer needs.
#[derive(Deserialize)]
struct EnvelopeId {
    provider_message_id: Option<String>,
}

/// Reads events until every acknowledged request (the set arrives on `expected` when the
/// load is done) arrived, plus [`LINGER`], or the drain deadline passes. Returns every
/// arrival of this run's messages, duplicates included.
pub(crate) async fn consume(
    response: reqwest::Response,
    prefix: String,
    timeline: Timeline,
    mut expected: watch::Receiver<Option<HashSet<(u32, u64)>>>,
) -> Result<Vec<Arrival>> {
    let mut events = response.bytes_stream().eventsource();
    let mut arrivals = Vec::new();
    let mut seen = HashSet::new();
    let mut acked: Option<HashSet<(u32, u64)>> = None;
    let mut left = usize::MAX;
    let mut deadline = timeline.drain_deadline;
    loop {
        if left == 0 {
            deadline = deadline.min(Instant::now() + LINGER);
            left = usize::MAX;
        }
        let event = tokio::select! {
            event = events.next() => event,
            changed = expected.changed(), if acked.is_none() => {
                let set = match changed {
                    Ok(()) => expected.borrow_and_update().clone(),
                    Err(_) => Some(HashSet::new()),
                };
                if let Some(set) = set {
                    left = set.difference(&seen).count();
                    acked = Some(set);
                }
                continue;
            }
            () = sleep_until(deadline.into()) => break,
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
        let Some(key) = envelope
            .provider_message_id
            .as_deref()
            .and_then(|id| parse_wamid(&prefix, id))
        else {
            continue;
        };
        arrivals.push((key.0, key.1, at));
        let awaited = acked.as_ref().is_some_and(|set| set.contains(&key));
        if seen.insert(key) && awaited && left != usize::MAX {
            left -= 1;
        }
    }
    Ok(arrivals)
}

#[cfg(test)]
mod tests {
    use super::{parse_wamid, wamid_prefix};

    #[test]
    fn wamids_round_trip() {
        let prefix = wamid_prefix("ab12");
        assert_eq!(
            parse_wamid(&prefix, &format!("{prefix}s7n123")),
            Some((7, 123))
        );
        assert_eq!(parse_wamid(&prefix, &format!("{prefix}probe")), None);
        assert_eq!(parse_wamid(&prefix, "wamid.LOADzzs7n1"), None);
        assert_eq!(parse_wamid(&prefix, &format!("{prefix}sn1")), None);
    }
}
