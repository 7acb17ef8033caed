//! The configured channels, by their config id.

use std::collections::BTreeMap;
use std::sync::Arc;

use omnibridge_sdk::{Channel, ChannelKind};

/// One configured channel.
#[derive(Clone)]
pub struct ChannelHandle {
    /// The config id (`[[channels]] id`), also the webhook path segment.
    pub id: String,
    /// The channel kind.
    pub kind: ChannelKind,
    /// The adapter.
    pub channel: Arc<dyn Channel>,
}

/// Every configured channel, looked up by id.
#[derive(Clone, Default)]
pub struct ChannelRegistry {
    by_id: BTreeMap<String, ChannelHandle>,
}

impl ChannelRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a channel under `id`; a second channel with the same id replaces nothing and is
    /// refused.
    pub fn register(
        &mut self,
        id: impl Into<String>,
        channel: Arc<dyn Channel>,
    ) -> Result<(), String> {
        let id = id.into();
        if self.by_id.contains_key(&id) {
            return Err(format!("channel id {id:?} is configured twice"));
        }
        let kind = channel.kind();
        self.by_id
            .insert(id.clone(), ChannelHandle { id, kind, channel });
        Ok(())
    }

    /// The channel configured as `id`.
    pub fn get(&self, id: &str) -> Option<&ChannelHandle> {
        self.by_id.get(id)
    }

    /// Every channel, by id.
    pub fn iter(&self) -> impl Iterator<Item = &ChannelHandle> {
        self.by_id.values()
    }
}
