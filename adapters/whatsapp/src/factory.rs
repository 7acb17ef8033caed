//! Registers the whatsapp channel with the bridge: `type = "whatsapp"` in `[[channels]]`.

use std::sync::Arc;

use omnibridge_sdk::{Channel, ChannelContext, ChannelError, ChannelFactory};

use crate::{WhatsAppChannel, WhatsAppConfig};

/// Builds [`WhatsAppChannel`]s from their `[[channels]]` table; secrets come from the env
/// vars the table names (`*_env`).
#[derive(Clone, Copy, Debug, Default)]
pub struct WhatsAppFactory;

impl ChannelFactory for WhatsAppFactory {
    const KIND: &'static str = crate::KIND;
    type Config = WhatsAppConfig;

    fn build(
        &self,
        config: WhatsAppConfig,
        cx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, ChannelError> {
        let invalid = |error: crate::ConfigError| ChannelError::config("", error.to_string());
        let secrets = config
            .resolve_secrets(|var| cx.secret_opt(var))
            .map_err(invalid)?;
        let channel = WhatsAppChannel::new(config, secrets).map_err(invalid)?;
        Ok(Arc::new(channel))
    }
}
