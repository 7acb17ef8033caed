//! The in-channel wallet: turns a customer's "yes, charge me" into an MPP payment, in any
//! channel, through the same endpoint outside agents use.
//!
//! It consumes the bus (consumer group `wallet`, at least once) and reacts to:
//! - `action.invoked` with payload `pay:<intent_id>` (the Pay button of `payment_request`):
//!   confirms that intent; `cancel:<intent_id>` cancels it;
//! - `message.received` whose stripped first line is one of `payments.confirm_keywords`
//!   (any case): confirms the conversation's only open intent (none or several: nothing), or
//!   the intent the channel named in `confirmation`. Channels whose senders can be forged
//!   (email) set `confirmation`; when it says `allowed: false` nothing is charged and the
//!   customer gets `payment_reply_refused`. Automated messages never confirm.
//!
//! Confirming ([`pay`]): the customer (channel kind + sender id) is looked up in
//! [`LinkedSources`]; with no source the customer gets the `payment_link` template; with one,
//! the wallet fetches the challenge from the pay URL, gets a credential from the source and
//! posts it back. Each (intent, event id) is handled once: a redelivered event is skipped.
//! There is no channel-specific code: buttons and keywords arrive as canonical events.
//!
//! # Layout
//! - [`source`]: [`PaymentSource`] and the [`SandboxSource`]; [`stripe_source`]: SPTs.
//! - [`linked`]: [`LinkedSources`] and `PUT /v1/customers/{channel}/{user_id}/payment-source`.
//! - `pay`: the HTTP exchange with the pay URL.
//! - `from_link`: confirming from the confirmation page (`/confirm/{token}`).
//! - `refused`: answering a keyword reply the channel could not trust.

use std::sync::Arc;
use std::time::Duration;

use omnibridge_sdk::{Content, Envelope, EventBody};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::bus::{BusError, EventLog};
use crate::payments::engine::PaymentEngine;
use crate::payments::intent::IntentState;
use crate::payments::notify::{CANCEL_ACTION_PREFIX, PAY_ACTION_PREFIX};
use crate::store::{IdempotentResponse, Store};

mod from_link;
pub mod linked;
mod pay;
mod refused;
pub mod source;
pub mod stripe_source;

pub use from_link::LinkOutcome;
pub use linked::{LinkedSources, SourceLink};
pub use source::{CustomerRef, ParsedChallenge, PaymentSource, SandboxSource, SourceError};
pub use stripe_source::{StripeIssuer, StripeSource};

/// The wallet's consumer group.
pub const GROUP: &str = "wallet";
/// Events per read.
const BATCH: usize = 32;
/// The event types the wallet acts on (a button press, a customer's keyword); the group
/// moves past the others without handing them out.
const WANTED: &[&str] = &["action.invoked", "message.received"];
/// A pending event idle this long is taken over from a wallet that died.
const TAKEOVER_AFTER: Duration = Duration::from_secs(60);
/// The store scope marking handled (intent, event) pairs.
const DONE_SCOPE: &str = "wallet:done";

/// The wallet. Cheap to clone.
#[derive(Clone)]
pub struct Wallet {
    engine: PaymentEngine,
    sources: Arc<LinkedSources>,
    bus: Arc<dyn EventLog>,
    store: Arc<dyn Store>,
    client: reqwest::Client,
    base_url: String,
    keywords: Vec<String>,
    consumer: String,
}

/// Everything [`Wallet::new`] needs.
pub struct WalletParts {
    /// The payment engine (intents, messages).
    pub engine: PaymentEngine,
    /// Who pays for whom.
    pub sources: Arc<LinkedSources>,
    /// The bus to consume.
    pub bus: Arc<dyn EventLog>,
    /// Where handled events are marked.
    pub store: Arc<dyn Store>,
    /// Base URL of the pay URLs (`http://127.0.0.1:8080`).
    pub base_url: String,
    /// Confirm keywords.
    pub keywords: Vec<String>,
    /// This instance's consumer name.
    pub consumer: String,
}

impl Wallet {
    /// A wallet.
    pub fn new(parts: WalletParts) -> Result<Wallet, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Wallet {
            engine: parts.engine,
            sources: parts.sources,
            bus: parts.bus,
            store: parts.store,
            client,
            base_url: parts.base_url.trim_end_matches('/').to_owned(),
            keywords: parts
                .keywords
                .iter()
                .map(|k| k.trim().to_uppercase())
                .collect(),
            consumer: parts.consumer,
        })
    }

    /// Consumes the bus until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut head = self.bus.watch_head();
        while !stop.is_cancelled() {
            let handled = match self.step().await {
                Ok(count) => count,
                Err(error) => {
                    tracing::warn!(%error, "wallet step failed; retrying");
                    0
                }
            };
            if handled == 0 {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = crate::bus::head_moved(&mut head) => {}
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            crate::bus::linger_after(handled, BATCH, &stop).await;
        }
    }

    /// Takes over stale events, reads new ones, handles and acks them; returns how many.
    pub async fn step(&self) -> Result<usize, BusError> {
        let mut events = self
            .bus
            .claim_stale(GROUP, &self.consumer, TAKEOVER_AFTER, BATCH)
            .await?;
        let mut count = events.len();
        if events.is_empty() {
            let batch = self
                .bus
                .group_read_of(GROUP, &self.consumer, BATCH, WANTED)
                .await?;
            count = batch.read;
            events = batch.events;
        }
        // Most events ask nothing of the wallet: their acks wait and go in one call with the
        // next event it acted on (or at the end of the batch), not one write each.
        let mut done = Vec::with_capacity(events.len());
        for event in events {
            let acted = self.handle(&event).await;
            done.extend(event.seq);
            if acted {
                self.bus.group_ack(GROUP, &done).await?;
                done.clear();
            }
        }
        if !done.is_empty() {
            self.bus.group_ack(GROUP, &done).await?;
        }
        Ok(count)
    }

    /// Reacts to one event (errors are logged: the customer can press again); `false` when
    /// the event asks nothing of the wallet.
    async fn handle(&self, event: &Envelope) -> bool {
        match &event.body {
            EventBody::ActionInvoked(action) => {
                if let Some(id) = action.payload.strip_prefix(PAY_ACTION_PREFIX) {
                    self.pay_once(event, id).await;
                } else if let Some(id) = action.payload.strip_prefix(CANCEL_ACTION_PREFIX) {
                    self.cancel(event, id).await;
                } else {
                    return false;
                }
            }
            EventBody::MessageReceived(message) => {
                let Content::Text { body, .. } = &message.content else {
                    return false;
                };
                if !self.is_keyword(body) || message.automated.is_some() {
                    return false;
                }
                match &message.confirmation {
                    None => self.pay_only_open(event).await,
                    Some(check) if check.allowed => match &check.intent_id {
                        Some(intent_id) => self.pay_once(event, intent_id).await,
                        None => self.pay_only_open(event).await,
                    },
                    Some(check) => self.refuse_reply(event, check).await,
                }
            }
            _ => return false,
        }
        true
    }

    fn is_keyword(&self, body: &str) -> bool {
        let first = body.lines().next().unwrap_or_default().trim();
        !first.is_empty() && self.keywords.iter().any(|k| k == &first.to_uppercase())
    }

    async fn pay_only_open(&self, event: &Envelope) {
        let now = chrono::Utc::now();
        let open: Vec<_> = match self.engine.list(&event.conversation_id, 50).await {
            Ok(intents) => intents
                .into_iter()
                .filter(|i| i.state == IntentState::RequiresConfirmation && !i.is_expired_at(now))
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "wallet could not list the conversation's intents");
                return;
            }
        };
        match open.as_slice() {
            [only] => self.pay_once(event, &only.id).await,
            _ => tracing::debug!(
                open = open.len(),
                "confirm keyword without exactly one open intent"
            ),
        }
    }

    /// Confirms `intent_id` for the event's sender, once per (intent, event).
    async fn pay_once(&self, event: &Envelope, intent_id: &str) {
        let key = format!("{intent_id}:{}", event.id);
        match self.store.idempotent_response(DONE_SCOPE, &key).await {
            Ok(Some(_)) => return,
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "wallet could not check a handled event");
                return;
            }
        }
        let span = tracing::info_span!("wallet.pay", payment_intent_id = %intent_id);
        self.pay(event, intent_id).instrument(span).await;
        let done = IdempotentResponse {
            fingerprint: String::new(),
            status: 200,
            body: serde_json::Value::Null,
        };
        if let Err(error) = self
            .store
            .save_idempotent_response(DONE_SCOPE, &key, &done)
            .await
        {
            tracing::warn!(%error, "wallet could not mark a handled event");
        }
    }

    async fn pay(&self, event: &Envelope, intent_id: &str) {
        let intent = match self.engine.get(intent_id).await {
            Ok(intent) if intent.conversation_id == event.conversation_id => intent,
            Ok(_) => {
                tracing::warn!("a Pay action for an intent of another conversation; ignored");
                return;
            }
            Err(error) => {
                tracing::info!(%error, "a Pay action for an unknown intent; ignored");
                return;
            }
        };
        let customer = event
            .sender
            .as_ref()
            .and_then(|sender| sender.id.clone())
            .map(|user_id| CustomerRef {
                channel: event.channel.as_str().to_owned(),
                user_id,
            });
        if intent.state == IntentState::RequiresConfirmation {
            match self.confirm(&intent, customer.as_ref()).await {
                Ok(outcome) => tracing::info!(?outcome, "wallet confirmation done"),
                Err(error) => {
                    tracing::warn!(%error, "wallet could not confirm; sending the payment link");
                    self.engine.notifier().payment_link(&intent).await;
                }
            }
        } else if intent.state == IntentState::Succeeded {
            // A second tap on a paid request: nothing is charged, and the customer hears so.
            self.engine.notifier().payment_already_paid(&intent).await;
        }
    }

    async fn cancel(&self, event: &Envelope, intent_id: &str) {
        match self.engine.get(intent_id).await {
            Ok(intent) if intent.conversation_id == event.conversation_id => {
                if intent.state == IntentState::RequiresConfirmation
                    && let Err(error) = self.engine.cancel(intent_id).await
                {
                    tracing::info!(payment_intent_id = %intent_id, %error, "cancel refused");
                }
            }
            _ => {
                tracing::info!(payment_intent_id = %intent_id, "a Cancel action for an unknown intent; ignored")
            }
        }
    }
}
