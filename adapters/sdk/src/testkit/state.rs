//! [`MemoryState`]: the bridge's per-channel key-value state, in memory, for tests.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::channel::{ChannelState, StateError};

/// A [`ChannelState`] in a map, for tests of channels that keep state (thread maps, cursors)
/// without a bridge. Hand it to a channel with
/// [`ChannelContext::with_state`](crate::ChannelContext::with_state).
#[derive(Debug, Default)]
pub struct MemoryState {
    entries: Mutex<Entries>,
}

/// Each key's value and when it was written.
type Entries = BTreeMap<String, (Vec<u8>, Instant)>;

impl MemoryState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key held, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.entries
            .lock()
            .map(|entries| entries.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn entries(&self) -> Result<MutexGuard<'_, Entries>, StateError> {
        self.entries
            .lock()
            .map_err(|_| StateError("a test panicked while holding the state".into()))
    }
}

#[async_trait::async_trait]
impl ChannelState for MemoryState {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.entries()?.get(key).map(|(value, _)| value.clone()))
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StateError> {
        self.entries()?
            .insert(key.to_owned(), (value.to_vec(), Instant::now()));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StateError> {
        self.entries()?.remove(key);
        Ok(())
    }

    /// Removes the keys starting with `prefix` written at least `age` ago (so
    /// `Duration::ZERO` removes them all).
    async fn prune(&self, prefix: &str, age: Duration) -> Result<u64, StateError> {
        let mut entries = self.entries()?;
        let before = entries.len();
        entries.retain(|key, (_, written)| !(key.starts_with(prefix) && written.elapsed() >= age));
        Ok((before - entries.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn keeps_deletes_and_prunes_by_prefix() {
        let state = MemoryState::new();
        state.put("raw:1", b"a").await.unwrap();
        state.put("thread:1", b"b").await.unwrap();
        assert_eq!(
            state.get("raw:1").await.unwrap().as_deref(),
            Some(&b"a"[..])
        );
        assert_eq!(
            state
                .prune("raw:", Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
        assert_eq!(state.prune("raw:", Duration::ZERO).await.unwrap(), 1);
        assert_eq!(state.keys(), vec!["thread:1".to_owned()]);
        state.delete("thread:1").await.unwrap();
        state.delete("absent").await.unwrap();
        assert!(state.get("thread:1").await.unwrap().is_none());
    }
}
