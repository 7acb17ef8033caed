//! Registers the telegram channel with the bridge: `type = "telegram"` in `[[channels]]`.

use std::sync::Arc;

use omnibridge_sdk::{Channel, ChannelContext, ChannelError, ChannelFactory};

use crate::{TelegramChannel, TelegramConfig};

/// Builds [`TelegramChannel`]s from their `[[channels]]` table; secrets come from the env
/// vars the table names (`*_env`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TelegramFactory;

impl ChannelFactory for TelegramFactory {
    const KIND: &'static str = crate::KIND;
    type Config = TelegramConfig;

    fn build(
        &self,
        config: TelegramConfig,
        cx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, ChannelError> {
        let invalid = |error: crate::ConfigError| ChannelError::config("", error.to_string());
        let secrets = config
            .resolve_secrets(|var| cx.secret_opt(var))
            .map_err(invalid)?;
        let channel = TelegramChannel::new(config, secrets, cx).map_err(invalid)?;
        Ok(Arc::new(channel))
    }
}
