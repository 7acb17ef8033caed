//! Paced (open-loop) sending: request `i` is due at `start + i / rate`, whatever happened to
//! the others.
//!
//! A dedicated OS thread keeps the schedule with `std::thread::sleep` (tens of microseconds
//! of slack, where tokio's timer wheel rounds up to whole milliseconds) and hands each due
//! request to the runtime, which sends it on a task of its own. Latencies are counted from the
//! due instant, so a late sender or a full `--max-in-flight` shows in them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::load::{Record, Shot, Timeline};

/// Sends `--rate` requests per second from `timeline.start` until `timeline.end`; returns
/// every request's record once all are answered (or timed out).
pub(crate) async fn run(shot: Arc<Shot>, timeline: Timeline) -> Result<Vec<Record>> {
    let rate = shot.args.rate;
    let (due_tx, mut due_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let pacer = std::thread::Builder::new()
        .name("pacer".to_owned())
        .spawn(move || {
            for i in 0u64.. {
                let due = timeline.start + Duration::from_secs_f64(i as f64 / rate);
                if due >= timeline.end {
                    break;
                }
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if due_tx.send((i, due)).is_err() {
                    break;
                }
            }
        })
        .context("starting the pacer thread")?;
    let slots = Arc::new(Semaphore::new(shot.args.max_in_flight));
    let mut requests = JoinSet::new();
    while let Some((i, due)) = due_rx.recv().await {
        let slot = slots.clone().acquire_owned().await?;
        let shot = shot.clone();
        requests.spawn(async move {
            let record = shot.fire(&timeline, 0, i, due).await;
            drop(slot);
            record
        });
    }
    pacer
        .join()
        .map_err(|_| anyhow!("the pacer thread panicked"))?;
    let mut records = Vec::with_capacity(requests.len());
    while let Some(record) = requests.join_next().await {
        records.push(record.context("a request task panicked")?);
    }
    Ok(records)
}
