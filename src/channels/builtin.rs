//! The channel kinds the stock bridge ships with. Each adapter crate exports its factory;
//! this list is the only place the bridge names them (a business's own kinds are added with
//! [`crate::Bridge::with_channel_factory`], touching no bridge file).

use super::factories::ChannelFactories;

/// Registers every built-in kind.
pub(super) fn register_all(factories: ChannelFactories) -> ChannelFactories {
    factories
        .with(omnibridge_whatsapp::WhatsAppFactory)
        .with(omnibridge_email::EmailFactory)
        .with(omnibridge_telegram::TelegramFactory)
        .with(omnibridge_http_channel::HttpChannelFactory)
        .with(omnibridge_webchat::WebChatFactory)
}
