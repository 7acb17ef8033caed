//! Telegram's send limits, kept before Telegram has to say 429: about 30 messages a second
//! per bot, and about one a second per chat (short bursts pass). Two token buckets; a send
//! waits for a token from both.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Messages per second per bot.
pub const BOT_RATE: f64 = 30.0;
/// Messages per second per chat.
pub const CHAT_RATE: f64 = 1.0;
/// Messages one chat may get in a burst before the per-chat rate applies.
pub const CHAT_BURST: f64 = 3.0;
/// Chats remembered before idle ones are forgotten.
const CHAT_MEMORY: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            at: now,
        }
    }

    /// Refills to `now`; how long until one token is there.
    fn wait(&mut self, now: Instant, rate: f64, burst: f64) -> Duration {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / rate)
        }
    }
}

/// The per-bot and per-chat buckets of one channel.
#[derive(Debug)]
pub struct Throttle {
    state: Mutex<(Option<Bucket>, HashMap<String, Bucket>)>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new()
    }
}

impl Throttle {
    /// Full buckets.
    pub fn new() -> Self {
        Self {
            state: Mutex::new((None, HashMap::new())),
        }
    }

    /// Waits until one more message may go to `chat`, and takes its tokens.
    pub async fn acquire(&self, chat: &str) {
        loop {
            let wait = {
                let Ok(mut state) = self.state.lock() else {
                    return;
                };
                let now = Instant::now();
                let (bot, chats) = &mut *state;
                let bot = bot.get_or_insert_with(|| Bucket::full(BOT_RATE, now));
                if chats.len() >= CHAT_MEMORY && !chats.contains_key(chat) {
                    let idle = Duration::from_secs_f64(CHAT_BURST / CHAT_RATE);
                    chats.retain(|_, b| now.saturating_duration_since(b.at) < idle);
                }
                let one = chats
                    .entry(chat.to_owned())
                    .or_insert_with(|| Bucket::full(CHAT_BURST, now));
                let wait = bot
                    .wait(now, BOT_RATE, BOT_RATE)
                    .max(one.wait(now, CHAT_RATE, CHAT_BURST));
                if wait.is_zero() {
                    bot.tokens -= 1.0;
                    one.tokens -= 1.0;
                    return;
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_chat_gets_a_short_burst_then_one_a_second() {
        let throttle = Throttle::new();
        let start = Instant::now();
        for _ in 0..3 {
            throttle.acquire("42").await;
        }
        assert!(start.elapsed() < Duration::from_millis(10));
        throttle.acquire("42").await;
        let fourth = start.elapsed();
        assert!(fourth >= Duration::from_millis(990), "{fourth:?}");
        throttle.acquire("43").await;
        assert!(
            start.elapsed() - fourth < Duration::from_millis(10),
            "other chats wait not"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_bot_sends_at_most_30_a_second() {
        let throttle = Throttle::new();
        let start = Instant::now();
        for chat in 0..90 {
            throttle.acquire(&chat.to_string()).await;
        }
        let elapsed = start.elapsed();
        // 30 at once, then 60 more at 30/s.
        assert!(elapsed >= Duration::from_millis(1990), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(2100), "{elapsed:?}");
    }
}
