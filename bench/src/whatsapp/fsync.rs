//! `whatsapp-load fsync`: the disk's own commit latency, the floor under any durable ingest.
//!
//! Appends 4 KiB to a scratch file in `--dir` and `fdatasync`s it, `--count` times back to
//! back (what a SQLite WAL commit at `synchronous = FULL` waits for, once per group commit),
//! and prints the latency percentiles as one JSON line.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::json;

/// Options of the probe.
#[derive(Debug, clap::Args)]
pub(crate) struct FsyncArgs {
    /// A directory on the disk to probe (the bridge's data dir's file system).
    #[arg(long)]
    dir: PathBuf,
    /// Appends (each followed by fdatasync).
    #[arg(long, default_value_t = 500)]
    count: u32,
    /// Free-form label copied into the JSON line.
    #[arg(long, default_value = "")]
    label: String,
}

/// Runs the probe (blocking file I/O; it is the only thing the process does).
pub(crate) fn run(args: &FsyncArgs) -> Result<()> {
    let path = args
        .dir
        .join(format!(".fsync-probe-{}", std::process::id()));
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let block = [0x5au8; 4096];
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let result = (|| -> Result<()> {
        for _ in 0..args.count {
            file.write_all(&block)?;
            let started = Instant::now();
            file.sync_data()?;
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            latency.saturating_record(micros.max(1));
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&path);
    result?;
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1_000.0;
    println!(
        "{}",
        json!({"label": args.label, "fsyncs": latency.len(), "fsync_p50_ms": ms(0.5),
            "fsync_p90_ms": ms(0.9), "fsync_p99_ms": ms(0.99), "fsync_max_ms": ms(1.0)})
    );
    Ok(())
}
