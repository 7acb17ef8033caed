//! Exponential backoff with a little jitter.

use std::time::Duration;

/// Doubles from `first` up to `max`; each delay is jittered by up to ±10 %.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first,
        }
    }

    /// Back to the first delay (after a success).
    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }

    /// The delay to wait now; the following one doubles (capped).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        jitter(base)
    }
}

/// `d` scaled by a factor in [0.9, 1.1), from the clock's nanoseconds (good enough to keep a
/// fleet of followers from reconnecting in lockstep).
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let permille = 900 + u64::from(nanos % 200);
    let millis = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(millis.saturating_mul(permille) / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let delays: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        for (got, want) in delays.iter().zip([1000u128, 2000, 4000, 5000, 5000]) {
            assert!(
                *got >= want * 9 / 10 && *got <= want * 11 / 10,
                "{got} vs {want}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(1100));
    }
}
