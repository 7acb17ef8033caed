//! Shared test helpers: an in-memory `ChannelState` and a channel on the fake.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use omnibridge_sdk::{ChannelContext, ChannelState, StateError};
use omnibridge_telegram::fake::{FAKE_TOKEN, FakeBotApi};
use omnibridge_telegram::{TelegramChannel, TelegramConfig, TelegramSecrets};

pub(crate) const SECRET: &str = "s3cret_token-ABC";

/// `ChannelState` in memory.
#[derive(Default)]
pub(crate) struct MemoryState(pub(crate) Mutex<HashMap<String, Vec<u8>>>);

#[async_trait::async_trait]
impl ChannelState for MemoryState {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StateError> {
        self.0.lock().unwrap().insert(key.into(), value.to_vec());
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), StateError> {
        self.0.lock().unwrap().remove(key);
        Ok(())
    }
}

pub(crate) fn channel(
    fake: &FakeBotApi,
    state: Arc<MemoryState>,
    config: impl FnOnce(TelegramConfig) -> TelegramConfig,
) -> TelegramChannel {
    let config = config(TelegramConfig::new().with_api_base(fake.base_url()));
    let cx = ChannelContext::new("acme-tg", "https://bridge.acme.test").with_state(state);
    TelegramChannel::new(
        config,
        TelegramSecrets::new(FAKE_TOKEN, Some(SECRET.into())),
        &cx,
    )
    .unwrap()
}
