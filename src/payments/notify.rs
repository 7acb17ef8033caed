//! Messages about a payment in its conversation: the templates `payment_request` (with
//! "Pay <amount>" / "Cancel" buttons), `payment_receipt`, `payment_failed`,
//! `payment_refunded` and `payment_link`, rendered for the conversation's channel and the
//! intent's locale and queued through the outbox. The outbox fits the buttons to the
//! channel's capabilities (numbered text where it has none): no channel-specific code here.
//!
//! Template data: `amount` (minor units), `currency`, `description`, `pay_url`,
//! `confirm_url` (the confirmation page, for channels without buttons), `intent_id`,
//! plus `reason` (failed), `reference` (receipt), `refund_amount` (refunded). Format amounts
//! with `{{money amount currency}}`.

use std::sync::Arc;

use omnibridge_sdk::{Button, OutboundMessage};
use serde_json::{Value, json};

use super::intent::PaymentIntent;
use crate::channels::ChannelRegistry;
use crate::outbox::Outbox;
use crate::render::Renderer;
use crate::store::{Conversation, Store};

/// The payload of the "Pay" button: `pay:<intent_id>`.
pub const PAY_ACTION_PREFIX: &str = "pay:";
/// The payload of the "Cancel" button: `cancel:<intent_id>`.
pub const CANCEL_ACTION_PREFIX: &str = "cancel:";

/// The buttons of a `payment_request`: `pay` (payload `pay:<intent_id>`) and `cancel`
/// (`cancel:<intent_id>`), labelled from the `payment_pay_button` / `payment_cancel_button`
/// templates. Template previews show the same buttons.
pub fn payment_request_buttons(pay: String, cancel: String, intent_id: &str) -> Vec<Button> {
    vec![
        Button::payload(pay, format!("{PAY_ACTION_PREFIX}{intent_id}")),
        Button::payload(cancel, format!("{CANCEL_ACTION_PREFIX}{intent_id}")),
    ]
}

/// A payment message as the customer sees it (before the channel fits the buttons).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ShownMessage {
    /// The template it was rendered from.
    pub template: String,
    /// The text.
    pub text: String,
    /// The buttons' labels.
    pub buttons: Vec<String>,
}

/// Sends payment messages to conversations.
#[derive(Clone)]
pub struct Notifier {
    conversations: Arc<dyn Store>,
    channels: Arc<ChannelRegistry>,
    outbox: Outbox,
    renderer: Arc<dyn Renderer>,
    public_url: String,
    confirm_keys: Option<super::mpp::keys::ChallengeKeys>,
}

impl Notifier {
    /// A notifier; `public_url` is `server.public_url` (pay URLs are `<public_url>/pay/<id>`).
    pub fn new(
        conversations: Arc<dyn Store>,
        channels: Arc<ChannelRegistry>,
        outbox: Outbox,
        renderer: Arc<dyn Renderer>,
        public_url: &str,
    ) -> Self {
        Self {
            conversations,
            channels,
            outbox,
            renderer,
            public_url: public_url.trim_end_matches('/').to_owned(),
            confirm_keys: None,
        }
    }

    /// Signs confirmation links (`confirm_url` in template data) with these keys.
    pub fn with_confirm_keys(mut self, keys: super::mpp::keys::ChallengeKeys) -> Self {
        self.confirm_keys = Some(keys);
        self
    }

    /// The confirmation page of an intent (`<public_url>/confirm/<token>`), for channels
    /// without buttons; `None` before keys are set.
    pub fn confirm_url(&self, intent_id: &str) -> Option<String> {
        let keys = self.confirm_keys.as_ref()?;
        Some(format!(
            "{}{}{}",
            self.public_url,
            super::confirm_link::PATH,
            super::confirm_link::token(keys, intent_id)
        ))
    }

    /// The MPP pay URL of an intent.
    pub fn pay_url(&self, intent_id: &str) -> String {
        format!("{}/pay/{intent_id}", self.public_url)
    }

    /// The locale used when a request names none.
    pub fn default_locale(&self) -> &str {
        self.renderer.default_locale()
    }

    fn data(&self, intent: &PaymentIntent) -> Value {
        json!({
            "intent_id": intent.id,
            "amount": intent.amount,
            "currency": intent.currency,
            "description": intent.description,
            "pay_url": self.pay_url(&intent.id),
            "confirm_url": self.confirm_url(&intent.id),
            "reference": intent.reference,
            "external_id": intent.external_id,
        })
    }

    /// `payment_request` with "Pay <amount>" (`pay:<id>`) and "Cancel" (`cancel:<id>`).
    pub async fn payment_request(&self, intent: &PaymentIntent) {
        let (data, buttons) = self.request_parts(intent);
        self.send(intent, "payment_request", data, buttons).await;
    }

    /// What [`Notifier::payment_request`] shows the customer for `intent`, rendered the same
    /// way for the conversation's channel (nothing is sent): the text and the buttons.
    pub async fn payment_request_preview(
        &self,
        intent: &PaymentIntent,
    ) -> Result<ShownMessage, String> {
        let (data, buttons) = self.request_parts(intent);
        let (_, message) = self
            .compose(intent, "payment_request", data, buttons)
            .await?;
        Ok(ShownMessage {
            template: "payment_request".to_owned(),
            text: message.text.clone(),
            buttons: message.buttons.iter().map(|b| b.label.clone()).collect(),
        })
    }

    fn request_parts(&self, intent: &PaymentIntent) -> (Value, Vec<Button>) {
        let data = self.data(intent);
        let pay = self.label(intent, "payment_pay_button", &data);
        let cancel = self.label(intent, "payment_cancel_button", &data);
        (data, payment_request_buttons(pay, cancel, &intent.id))
    }

    /// `payment_receipt`.
    pub async fn payment_receipt(&self, intent: &PaymentIntent) {
        self.send(intent, "payment_receipt", self.data(intent), Vec::new())
            .await;
    }

    /// The `payment_receipt` message for `intent` on `conversation` (nothing is sent).
    pub fn receipt_message(
        &self,
        intent: &PaymentIntent,
        conversation: &Conversation,
    ) -> Result<OutboundMessage, String> {
        self.compose_for(
            intent,
            conversation,
            "payment_receipt",
            self.data(intent),
            Vec::new(),
        )
    }

    /// The `payment_failed` message for `intent` on `conversation` (nothing is sent).
    pub fn failed_message(
        &self,
        intent: &PaymentIntent,
        conversation: &Conversation,
        reason: &str,
    ) -> Result<OutboundMessage, String> {
        let mut data = self.data(intent);
        data["reason"] = json!(reason);
        self.compose_for(intent, conversation, "payment_failed", data, Vec::new())
    }

    /// The outbox, for messages recorded with an intent's move.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// `payment_failed` with the reason in the customer's words.
    pub async fn payment_failed(&self, intent: &PaymentIntent, reason: &str) {
        let mut data = self.data(intent);
        data["reason"] = json!(reason);
        self.send(intent, "payment_failed", data, Vec::new()).await;
    }

    /// `payment_refunded` for a refund of `refund_amount` minor units.
    pub async fn payment_refunded(&self, intent: &PaymentIntent, refund_amount: i64) {
        let mut data = self.data(intent);
        data["refund_amount"] = json!(refund_amount);
        data["refunded_total"] = json!(intent.refunded_minor);
        self.send(intent, "payment_refunded", data, Vec::new())
            .await;
    }

    /// `payment_reply_refused`: a reply that tried to confirm by keyword could not be trusted
    /// (`reason`); says how to pay safely (the confirmation link).
    pub async fn payment_reply_refused(&self, intent: &PaymentIntent, reason: &str) {
        let mut data = self.data(intent);
        data["reason"] = json!(reason);
        self.send(intent, "payment_reply_refused", data, Vec::new())
            .await;
    }

    /// `payment_already_paid`: a Pay tap on an intent that already succeeded; nothing more
    /// is charged.
    pub async fn payment_already_paid(&self, intent: &PaymentIntent) {
        self.send(
            intent,
            "payment_already_paid",
            self.data(intent),
            Vec::new(),
        )
        .await;
    }

    /// `payment_link`: the pay URL only, for a customer with no linked payment source.
    pub async fn payment_link(&self, intent: &PaymentIntent) {
        self.send(intent, "payment_link", self.data(intent), Vec::new())
            .await;
    }

    fn label(&self, intent: &PaymentIntent, name: &str, data: &Value) -> String {
        let fallback = match name {
            "payment_pay_button" => intent
                .money()
                .map(|money| format!("Pay {}", money.format(&intent.locale)))
                .unwrap_or_else(|_| "Pay".to_owned()),
            _ => "Cancel".to_owned(),
        };
        // Labels render like any template (per channel and locale), without the channel:
        // a button is the same on every channel that has buttons.
        self.renderer
            .render("default", &intent.locale, name, data)
            .ok()
            .filter(|label| !label.trim().is_empty())
            .unwrap_or(fallback)
    }

    /// Renders `template` for the conversation's channel and queues it. Failures are
    /// logged: the intent's state does not depend on the message.
    async fn send(
        &self,
        intent: &PaymentIntent,
        template: &str,
        data: Value,
        buttons: Vec<Button>,
    ) {
        if let Err(error) = self.try_send(intent, template, data, buttons).await {
            tracing::warn!(payment_intent_id = %intent.id, template, %error, "payment message not sent");
        }
    }

    async fn try_send(
        &self,
        intent: &PaymentIntent,
        template: &str,
        data: Value,
        buttons: Vec<Button>,
    ) -> Result<(), String> {
        let (conversation, message) = self.compose(intent, template, data, buttons).await?;
        self.outbox
            .enqueue(&conversation, &message)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Renders `template` for the intent's conversation and channel: the conversation and
    /// the message to queue.
    async fn compose(
        &self,
        intent: &PaymentIntent,
        template: &str,
        data: Value,
        buttons: Vec<Button>,
    ) -> Result<(omnibridge_sdk::ConversationId, OutboundMessage), String> {
        let conversation = self
            .conversations
            .conversation(&intent.conversation_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the conversation is gone")?;
        let message = self.compose_for(intent, &conversation, template, data, buttons)?;
        Ok((conversation.id, message))
    }

    /// Renders `template` for the intent on `conversation` (read by the caller).
    fn compose_for(
        &self,
        intent: &PaymentIntent,
        conversation: &Conversation,
        template: &str,
        data: Value,
        buttons: Vec<Button>,
    ) -> Result<OutboundMessage, String> {
        let handle = self
            .channels
            .get(&conversation.channel_id)
            .ok_or("the conversation's channel is not configured")?;
        let text = self
            .renderer
            .render(handle.kind.as_str(), &intent.locale, template, &data)?;
        let message =
            OutboundMessage::text(Outbox::new_id(), conversation.conversation.clone(), text)
                .with_buttons(buttons);
        let mut message = message;
        crate::render::apply_variants(
            self.renderer.as_ref(),
            handle.channel.capabilities(),
            handle.kind.as_str(),
            &intent.locale,
            template,
            &data,
            &mut message,
        )?;
        message.automatic = true;
        message.template = Some(template.to_owned());
        message.locale = Some(intent.locale.clone());
        message.template_data = Some(data);
        Ok(message)
    }
}
