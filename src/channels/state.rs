//! [`StoreChannelState`]: the SDK's [`ChannelState`] for one channel, kept in the bridge's
//! store under the channel's config id.

use std::sync::Arc;

use omnibridge_sdk::{ChannelState, StateError};

use crate::store::Store;

/// One channel's key-value state in the store.
pub struct StoreChannelState {
    store: Arc<dyn Store>,
    channel_id: String,
}

impl StoreChannelState {
    /// The state of the channel configured as `channel_id`.
    pub fn new(store: Arc<dyn Store>, channel_id: impl Into<String>) -> Self {
        Self {
            store,
            channel_id: channel_id.into(),
        }
    }
}

#[async_trait::async_trait]
impl ChannelState for StoreChannelState {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.store
            .channel_state(&self.channel_id, key)
            .await
            .map_err(|e| StateError(e.to_string()))
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StateError> {
        self.store
            .set_channel_state(&self.channel_id, key, Some(value))
            .await
            .map_err(|e| StateError(e.to_string()))
    }

    async fn put_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StateError> {
        self.store
            .set_channel_states(&self.channel_id, entries)
            .await
            .map_err(|e| StateError(e.to_string()))
    }

    async fn prune(&self, prefix: &str, age: std::time::Duration) -> Result<u64, StateError> {
        let age = chrono::Duration::from_std(age).map_err(|e| StateError(e.to_string()))?;
        self.store
            .prune_channel_state(&self.channel_id, prefix, chrono::Utc::now() - age)
            .await
            .map_err(|e| StateError(e.to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), StateError> {
        self.store
            .set_channel_state(&self.channel_id, key, None)
            .await
            .map_err(|e| StateError(e.to_string()))
    }
}
