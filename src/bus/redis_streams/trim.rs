//! Retention on Redis Streams: the `TRIM_EVENTS` and `TRIM_DEDUP` scripts, run in bounded
//! steps until nothing more is due.

use super::{Inner, scripts, unavailable};
use crate::bus::{BusError, LogTrim, LogTrimmed};

/// Stream entries looked at per `TRIM_EVENTS` call.
const EVENTS_PER_STEP: usize = 1000;
/// De-dup records removed per channel per `TRIM_DEDUP` call (they are passed to `HDEL` as
/// arguments, so this stays well below Lua's stack limit).
const DEDUP_PER_STEP: usize = 500;

impl Inner {
    /// Trims events, then de-dup records, as `trim` allows.
    pub(super) async fn trim(&self, trim: LogTrim) -> Result<LogTrimmed, BusError> {
        let mut trimmed = LogTrimmed::default();
        loop {
            let (removed, more): (u64, u8) = scripts::TRIM_EVENTS
                .prepare_invoke()
                .arg(&self.prefix)
                .arg(trim.events_before_ms)
                .arg(trim.unacked_before_ms)
                .arg(trim.max_log_bytes.unwrap_or(0))
                .arg(EVENTS_PER_STEP)
                .invoke_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            trimmed.events += removed;
            if more == 0 {
                break;
            }
        }
        loop {
            let (removed, more): (u64, u8) = scripts::TRIM_DEDUP
                .prepare_invoke()
                .arg(&self.prefix)
                .arg(trim.dedup_before_ms)
                .arg(DEDUP_PER_STEP)
                .invoke_async(&mut self.con())
                .await
                .map_err(unavailable)?;
            trimmed.dedup += removed;
            if more == 0 {
                break;
            }
        }
        Ok(trimmed)
    }
}
