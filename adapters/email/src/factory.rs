//! Registers the email channel with the bridge: `type = "email"` in `[[channels]]`.

use std::sync::Arc;

use omnibridge_sdk::{Channel, ChannelContext, ChannelError, ChannelFactory};

use crate::{EmailChannel, EmailConfig};

/// Builds [`EmailChannel`]s from their `[[channels]]` table; secrets come from the env
/// vars the table names (`*_env`).
#[derive(Clone, Copy, Debug, Default)]
pub struct EmailFactory;

impl ChannelFactory for EmailFactory {
    const KIND: &'static str = crate::KIND;
    type Config = EmailConfig;

    fn build(
        &self,
        config: EmailConfig,
        cx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, ChannelError> {
        let invalid = |error: crate::ConfigError| ChannelError::config("", error.to_string());
        let secrets = config
            .resolve_secrets(&|var| cx.secret_opt(var))
            .map_err(invalid)?;
        let channel = EmailChannel::new(config, secrets, cx)?;
        Ok(Arc::new(channel))
    }
}
