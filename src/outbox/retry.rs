//! When to try again: exponential backoff with jitter, never sooner than a provider's
//! `Retry-After`, and a last attempt after which the message is dead-lettered.

use std::time::Duration;

use rand::Rng;

/// How often and how patiently to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in total, the first included; after the last failure the message is dead.
    pub max_attempts: u32,
    /// Delay after the first failure.
    pub initial_backoff: Duration,
    /// Longest delay between tries.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The delay before try `attempts + 1`, given `attempts` failures so far (≥ 1): the
    /// exponential delay with ±20% jitter, capped, and at least `retry_after`. `None` when no
    /// try is left.
    pub fn next_delay(&self, attempts: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exponent = attempts.saturating_sub(1).min(30);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let jitter = rand::rng().random_range(0.8..=1.2);
        let delay = base.mul_f64(jitter).min(self.max_backoff);
        Some(retry_after.map_or(delay, |wait| delay.max(wait)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        }
    }

    #[test]
    fn delays_grow_and_are_capped() {
        let first = policy().next_delay(1, None).unwrap();
        assert!(first >= Duration::from_millis(80) && first <= Duration::from_millis(120));
        let third = policy().next_delay(3, None).unwrap();
        assert!(third <= Duration::from_millis(300) && third >= Duration::from_millis(240));
    }

    #[test]
    fn retry_after_is_honoured_and_attempts_run_out() {
        let wait = Duration::from_secs(5);
        assert_eq!(policy().next_delay(1, Some(wait)), Some(wait));
        assert_eq!(policy().next_delay(4, None), None);
    }
}
