//! One outbound message through its channel: free-form, fitted to the channel's capabilities
//! (split text, buttons), or, outside a closed reply window, once as the channel's stand-in
//! template.

use std::time::Duration;

use omnibridge_sdk::{ChannelError, OutboundMessage, ProviderMessageId, SendReceipt};

use crate::channels::{ChannelHandle, shape};
use crate::metrics::Metrics;

/// Longest a channel's `send` may take before the try counts as a transient failure (well
/// inside the outbox lease, so no other worker takes the record meanwhile).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// What the channel accepted: the last part's receipt and every part's provider id.
#[derive(Debug)]
pub(super) struct Sent {
    /// The receipt of the last part.
    pub(super) receipt: SendReceipt,
    /// The provider ids of all parts, for linking later statuses.
    pub(super) provider_ids: Vec<ProviderMessageId>,
}

/// Sends `message` free-form, fitted to the channel and split into parts.
pub(super) async fn free_form(
    handle: &ChannelHandle,
    message: &OutboundMessage,
    metrics: &Metrics,
) -> Result<Sent, ChannelError> {
    let caps = handle.channel.capabilities();
    let parts = shape::fit(
        &message.id,
        &message.conversation,
        &message.text,
        &message.buttons,
        caps,
    );
    let mut sent = Sent {
        receipt: SendReceipt::sent(None),
        provider_ids: Vec::new(),
    };
    if parts.is_empty() {
        return Err(ChannelError::rejected("empty_message", "nothing to send"));
    }
    for (index, mut part) in parts.into_iter().enumerate() {
        part.reply_to.clone_from(&message.reply_to);
        part.template.clone_from(&message.template);
        part.locale.clone_from(&message.locale);
        part.template_data.clone_from(&message.template_data);
        part.subject.clone_from(&message.subject);
        part.automatic = message.automatic;
        if index == 0 {
            // The HTML rendition stands for the whole message: it goes with the first part.
            part.html.clone_from(&message.html);
            part.attachments.clone_from(&message.attachments);
        }
        sent.receipt = once(handle, &part, metrics).await?;
        sent.provider_ids
            .extend(sent.receipt.provider_message_id.clone());
    }
    Ok(sent)
}

/// Sends `message` whole as the channel's stand-in template (the reply window is closed).
pub(super) async fn as_template(
    handle: &ChannelHandle,
    message: &OutboundMessage,
    metrics: &Metrics,
) -> Result<Sent, ChannelError> {
    let mut message = message.clone();
    message.window_closed = true;
    let receipt = once(handle, &message, metrics).await?;
    Ok(Sent {
        provider_ids: receipt.provider_message_id.clone().into_iter().collect(),
        receipt,
    })
}

async fn once(
    handle: &ChannelHandle,
    message: &OutboundMessage,
    metrics: &Metrics,
) -> Result<SendReceipt, ChannelError> {
    let receipt = tokio::time::timeout(SEND_TIMEOUT, handle.channel.send(message))
        .await
        .map_err(|_| ChannelError::transient("the channel did not answer within 30 s"))??;
    Metrics::count_channel(&metrics.events_out, handle.kind.as_str());
    Ok(receipt)
}
