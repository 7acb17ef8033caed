//! An in-memory [`ChannelState`] for tests of the channel without the bridge.

use std::collections::HashMap;
use std::sync::Mutex;

use omnibridge_sdk::{ChannelState, StateError};

/// Keys and values in a map.
#[derive(Default)]
pub struct MemoryState(Mutex<HashMap<String, Vec<u8>>>);

#[async_trait::async_trait]
impl ChannelState for MemoryState {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StateError> {
        self.0
            .lock()
            .unwrap()
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StateError> {
        self.0.lock().unwrap().remove(key);
        Ok(())
    }
}
