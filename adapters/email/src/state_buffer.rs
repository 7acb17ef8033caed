//! [`BufferedState`]: the channel's state with writes held back and flushed together, so a
//! batch of mails costs one durable write for its thread-map updates instead of several per
//! mail. Reads see the held-back writes (a reply in the same batch finds its thread).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use omnibridge_sdk::{ChannelState, StateError};

/// Writes held in memory over a [`ChannelState`] until [`flush`](BufferedState::flush).
pub struct BufferedState {
    inner: Arc<dyn ChannelState>,
    pending: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl BufferedState {
    /// A buffer over `inner`.
    pub fn new(inner: Arc<dyn ChannelState>) -> Self {
        Self {
            inner,
            pending: Mutex::new(BTreeMap::new()),
        }
    }

    /// Writes everything held back in one [`ChannelState::put_many`]; on error the writes
    /// stay held (flush again, or drop the buffer to forget them).
    pub async fn flush(&self) -> Result<(), StateError> {
        let entries: Vec<(String, Vec<u8>)> = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if entries.is_empty() {
            return Ok(());
        }
        self.inner.put_many(&entries).await?;
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, value) in entries {
            if pending.get(&key) == Some(&value) {
                pending.remove(&key);
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ChannelState for BufferedState {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let held = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned();
        match held {
            Some(value) => Ok(Some(value)),
            None => self.inner.get(key).await,
        }
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StateError> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StateError> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        self.inner.delete(key).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A map that counts its writes.
    #[derive(Default)]
    struct Counting {
        map: Mutex<HashMap<String, Vec<u8>>>,
        writes: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl ChannelState for Counting {
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
            Ok(self.map.lock().unwrap().get(key).cloned())
        }
        async fn put(&self, key: &str, value: &[u8]) -> Result<(), StateError> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.map.lock().unwrap().insert(key.into(), value.to_vec());
            Ok(())
        }
        async fn delete(&self, key: &str) -> Result<(), StateError> {
            self.map.lock().unwrap().remove(key);
            Ok(())
        }
        async fn put_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StateError> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            let mut map = self.map.lock().unwrap();
            for (key, value) in entries {
                map.insert(key.clone(), value.clone());
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn held_writes_are_read_back_and_flushed_in_one_write() {
        let inner = Arc::new(Counting::default());
        inner.put("old", b"1").await.unwrap();
        let buffer = BufferedState::new(inner.clone());
        buffer.put("a", b"x").await.unwrap();
        buffer.put("b", b"y").await.unwrap();
        buffer.put("a", b"z").await.unwrap();
        assert_eq!(buffer.get("a").await.unwrap().as_deref(), Some(&b"z"[..]));
        assert_eq!(buffer.get("old").await.unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(
            inner.get("a").await.unwrap(),
            None,
            "nothing written before flush"
        );
        buffer.flush().await.unwrap();
        assert_eq!(
            inner.writes.load(Ordering::SeqCst),
            2,
            "one put, then one put_many"
        );
        assert_eq!(inner.get("a").await.unwrap().as_deref(), Some(&b"z"[..]));
        assert_eq!(inner.get("b").await.unwrap().as_deref(), Some(&b"y"[..]));
        buffer.flush().await.unwrap();
        assert_eq!(
            inner.writes.load(Ordering::SeqCst),
            2,
            "nothing left to flush"
        );
    }
}
