//! The tools: what an agent may read and do, each a thin call into the same code the REST API
//! uses (the outbox, the payment engine with the key's guardrails), answered as structured
//! content plus a short text. Errors are tool errors carrying our problem `code`.

use omnibridge_sdk::{ConversationId, EventBody};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{ErrorData, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::caller::Call;
use super::server::AgentServer;
use super::{reply, transcript, wait};
use crate::http::api::messages::{ButtonSpec, SendMessage};
use crate::payments::engine::NewIntent;
use crate::payments::intent::{IntentState, PaymentIntent};
use crate::payments::mpp::answers::{engine_error, intent_json};
use crate::payments::store::IntentKey;
use crate::store::IdempotentResponse;
use crate::web::auth::Scope;
use crate::web::problem::ApiError;

/// Default number of conversations listed.
const DEFAULT_LIST: usize = 20;
/// Most conversations listed at once.
const MAX_LIST: usize = 100;
/// Default number of events shown by `get_conversation`.
const DEFAULT_LAST: usize = 20;
/// Most events shown by `get_conversation`.
const MAX_LAST: usize = 200;
/// Events read to judge whether a reply is possible (blocked bots, automated mail).
const REPLY_LOOKBACK: usize = 20;
/// Pages of conversations scanned for one filtered `list_conversations` answer.
const MAX_SCANNED_PAGES: usize = 20;
/// Default lifetime of an intent requested by an agent: 24 hours.
const INTENT_EXPIRES_IN_SECS: u64 = 24 * 3600;

/// `list_conversations` arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ListConversationsArgs {
    /// How many conversations to return, newest activity first (1-100, default 20).
    pub(super) limit: Option<usize>,
    /// The `next_cursor` of a previous answer, for the next page.
    pub(super) cursor: Option<String>,
    /// Only conversations on this channel kind (`webchat`, `whatsapp`, `telegram`, `email`, ...).
    pub(super) channel: Option<String>,
}

/// `get_conversation` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct GetConversationArgs {
    /// The conversation id (`cv_...`), from `list_conversations` or an event.
    pub(super) conversation_id: String,
    /// How many of the latest events to show (1-200, default 20).
    pub(super) last: Option<usize>,
}

/// One button of `send_message`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ButtonArg {
    /// What the customer sees (1-100 characters).
    pub(super) label: String,
    /// Comes back in an `action.invoked` event when pressed (exactly one of `payload`, `url`).
    pub(super) payload: Option<String>,
    /// Opened when pressed (exactly one of `payload`, `url`).
    pub(super) url: Option<String>,
}

/// `send_message` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SendMessageArgs {
    /// The conversation to answer in.
    pub(super) conversation_id: String,
    /// The text to send (exactly one of `text` and `template`).
    pub(super) text: Option<String>,
    /// Buttons under the text (at most 10); channels without buttons show numbered options
    /// and a reply with the number comes back as `action.invoked`.
    #[serde(default)]
    pub(super) buttons: Vec<ButtonArg>,
    /// A message template's name, rendered for the conversation's channel.
    pub(super) template: Option<String>,
    /// The template's variables.
    pub(super) data: Option<Value>,
    /// The locale to render the template in (default: the bridge's default locale).
    pub(super) locale: Option<String>,
    /// Any unique string: retrying with the same key sends the message once and returns the
    /// first answer.
    pub(super) idempotency_key: Option<String>,
}

/// `request_payment` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestPaymentArgs {
    /// The conversation whose customer pays.
    pub(super) conversation_id: String,
    /// The amount in integer minor units of `currency` (1250 = 12.50 EUR; 1200 = 1,200 JPY).
    pub(super) amount: i64,
    /// ISO 4217 currency code (`EUR`, `USD`, `JPY`).
    pub(super) currency: String,
    /// What the customer pays for, shown to them (1-500 characters).
    pub(super) description: String,
    /// Your own reference (an order id), returned with the intent.
    pub(super) external_id: Option<String>,
    /// The locale of the payment messages (default: the bridge's default locale).
    pub(super) locale: Option<String>,
    /// Any unique string: retrying with the same key creates one intent and returns it.
    pub(super) idempotency_key: Option<String>,
}

/// Arguments naming one payment intent.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PaymentArgs {
    /// The payment intent id (`payint_...`).
    pub(super) payment_intent_id: String,
}

/// `refund_payment` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RefundArgs {
    /// The payment intent id (`payint_...`) of a paid intent.
    pub(super) payment_intent_id: String,
    /// Minor units to refund; everything still refundable when absent.
    pub(super) amount: Option<i64>,
    /// Any unique string: retrying with the same key refunds once.
    pub(super) idempotency_key: Option<String>,
}

/// `wait_for_events` arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct WaitArgs {
    /// Only events of this conversation (default: every conversation).
    pub(super) conversation_id: Option<String>,
    /// Only these event types, e.g. `["message.received", "action.invoked",
    /// "payment.succeeded", "payment.failed"]` (default: all).
    #[serde(default)]
    pub(super) types: Vec<String>,
    /// Return events after this position: the `cursor` of any earlier answer. Absent: only
    /// events from now on.
    pub(super) cursor: Option<u64>,
    /// Longest wait in seconds when nothing matches yet (1-60, default 30).
    pub(super) timeout_secs: Option<u64>,
    /// Most events returned (1-100, default 20).
    pub(super) limit: Option<usize>,
}

#[tool_router(router = tool_router, vis = "pub(super)")]
impl AgentServer {
    #[tool(
        description = "List the business's conversations, newest activity first. For each: its id, channel (webchat, whatsapp, telegram, email, ...), the customer, when it was last active and when the customer last wrote, and `reply`: whether a free-form reply reaches the customer now (`possible`), how it would go out (`via`: free_form, template when WhatsApp's 24 h window is closed, none when nothing can be delivered, e.g. the customer blocked the Telegram bot) and a `note` (e.g. the last email was an automatic reply). Page with `next_cursor`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_conversations(
        &self,
        Parameters(args): Parameters<ListConversationsArgs>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let call = Call::start(&context, "list_conversations")?;
        let result = self.list(args).await;
        Ok(call.finish(result, |v| {
            let count = v["conversations"].as_array().map_or(0, Vec::len);
            format!("{count} conversation(s)")
        }))
    }

    #[tool(
        description = "Read one conversation: the customer, the channel, whether a reply is possible now, the latest messages and events as readable lines (buttons and media described in words, payments with their state) plus a `transcript` text, the open payment intents, and a `cursor` to pass to wait_for_events to wait for what comes next.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_conversation(
        &self,
        Parameters(args): Parameters<GetConversationArgs>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let call = Call::start(&context, "get_conversation")?;
        let with_payments = call.caller.has(Scope::Agent) || call.caller.has(Scope::Payments);
        let result = self.conversation(&args, with_payments).await;
        Ok(call.finish(result, |v| {
            format!(
                "conversation {} on {} ({} event(s) shown)",
                v["id"].as_str().unwrap_or_default(),
                v["channel"].as_str().unwrap_or_default(),
                v["events"].as_array().map_or(0, Vec::len)
            )
        }))
    }

    #[tool(
        description = "Send a message to the customer in their channel: `text` (optionally with `buttons`, each with a `payload` that comes back as an action.invoked event, or a `url`), or a message `template` with `data` and `locale`. Queued through the outbox and delivered with retries; the answer has the `outbound_id` and says `via: template` when WhatsApp's window is closed and the approved template goes out instead. Fails with code reply_window_closed when nothing can be delivered. Pass an `idempotency_key` to retry safely.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn send_message(
        &self,
        Parameters(args): Parameters<SendMessageArgs>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let call = Call::start(&context, "send_message")?;
        let conversation = args.conversation_id.clone();
        let result = self.send(&call, args).await;
        self.audit(&call, &conversation, &result, |action, v| {
            action.with_outbound(v["outbound_id"].as_str().unwrap_or_default())
        })
        .await;
        Ok(call.finish(result, |v| {
            let via = match v["via"].as_str() {
                Some("template") => " as the approved template (window closed)",
                _ => "",
            };
            format!(
                "queued {}{via}",
                v["outbound_id"].as_str().unwrap_or_default()
            )
        }))
    }

    #[tool(
        description = "Ask the customer to pay, in their channel: creates a payment intent (amount in integer minor units, ISO 4217 currency, a description the customer sees) and sends the payment request with a Pay button (or a link where the channel has no buttons). The customer always confirms themselves; no tool pays for them. Returns the intent (`state` requires_confirmation, or requires_approval when the amount is above this key's approval limit: then nothing is sent until a person approves it), what the customer was shown, and a `cursor` for wait_for_events (wait for payment.succeeded / payment.failed). Refused with code guardrail_exceeded when over this key's limits, naming the limit and the room left.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn request_payment(
        &self,
        Parameters(args): Parameters<RequestPaymentArgs>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let call = Call::start(&context, "request_payment")?;
        let conversation = args.conversation_id.clone();
        let (amount, currency) = (args.amount, args.currency.to_ascii_uppercase());
        let result = self.request(&call, args).await;
        self.audit(&call, &conversation, &result, |action, v| {
            action
                .with_payment_intent(v["intent"]["id"].as_str().unwrap_or_default())
                .with_amount(amount, currency.clone())
        })
        .await;
        Ok(call.finish(result, |v| {
            format!(
                "payment intent {} is {}",
                v["intent"]["id"].as_str().unwrap_or_default(),
                v["intent"]["state"].as_str().unwrap_or_default()
            )
        }))
    }

    #[tool(
        description = "Look at a payment intent: its state (requires_approval, requires_confirmation, processing, succeeded, failed, canceled, rejected, expired, refunded, partially_refunded), amount, currency, refunded total and pay URL.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_payment(
        &self,
        Parameters(args): Parameters<PaymentArgs>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let call = Call::start(&context, "get_payment")?;
        let engine = &self.state.payments.mpp.engine;
        let result = engine
            .get(&args.payment_intent_id)
            .await
            .map(|intent| json!({ "intent": intent_json(engine, &intent) }))
            .map_err(engine_error);
        Ok(call.finish(result, intent_summary))
    }

    #[tool(
        description = "Cancel an unpaid payment intent (requires_confirmation or requires_approval): the customer can no longer pay it. Fails with invalid_payment_intent_state once it is paid or settling.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn cancel_payment(
        &self,
        Parameters(args): Parameters<PaymentArgs>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let call = Call::start(&context, "cancel_payment")?;
        let engine = &self.state.payments.mpp.engine;
        let id = args.payment_intent_id;
        let before = engine.get(&id).await;
        let result = engine
            .cancel(&id)
            .await
            .map(|intent| json!({ "intent": intent_json(engine, &intent) }))
            .map_err(engine_error);
        if let Ok(intent) = &before {
            let conversation = intent.conversation_id.to_string();
            self.audit(&call, &conversation, &result, |action, _| {
                action.with_payment_intent(&id)
            })
            .await;
        }
        Ok(call.finish(result, intent_summary))
    }

    #[tool(
        description = "Refund a paid payment intent, in full or in part (`amount` in minor units), through the method that settled it; the customer is told. Only within this key's refund rights (code guardrail_exceeded otherwise). Pass an `idempotency_key` to retry safely.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    async fn refund_payment(
        &self,
        Parameters(args): Parameters<RefundArgs>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let call = Call::start(&context, "refund_payment")?;
        let engine = &self.state.payments.mpp.engine;
        let id = args.payment_intent_id;
        let before = engine.get(&id).await;
        let guard = call.caller.spend_guard();
        let result = engine
            .refund(
                &id,
                args.amount,
                args.idempotency_key.as_deref(),
                guard.as_ref(),
            )
            .await
            .map(|intent| json!({ "intent": intent_json(engine, &intent) }))
            .map_err(engine_error);
        if let Ok(intent) = &before {
            let conversation = intent.conversation_id.to_string();
            let refund = args.amount.unwrap_or_else(|| intent.refundable());
            let currency = intent.currency.clone();
            self.audit(&call, &conversation, &result, |action, _| {
                action
                    .with_payment_intent(&id)
                    .with_amount(refund, currency.clone())
            })
            .await;
        }
        Ok(call.finish(result, intent_summary))
    }

    #[tool(
        description = "Wait for what happens next instead of polling: returns as soon as there are events after `cursor` (of one conversation or all, optionally only some `types`), or an empty list after `timeout_secs` (at most 60). Each event comes with a readable line; the answer's `cursor` is where to continue. Typical use after request_payment: types [\"payment.succeeded\", \"payment.failed\", \"payment.canceled\"] with the cursor it returned; after send_message: types [\"message.received\", \"action.invoked\"].",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn wait_for_events(
        &self,
        Parameters(args): Parameters<WaitArgs>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let call = Call::start(&context, "wait_for_events")?;
        let result = wait::wait(&self.state, args, context.ct.clone()).await;
        Ok(call.finish(result, |v| {
            let count = v["events"].as_array().map_or(0, Vec::len);
            match count {
                0 => "no new events before the timeout".to_owned(),
                n => format!("{n} new event(s)"),
            }
        }))
    }
}

fn intent_summary(v: &Value) -> String {
    format!(
        "payment intent {} is {}",
        v["intent"]["id"].as_str().unwrap_or_default(),
        v["intent"]["state"].as_str().unwrap_or_default()
    )
}

impl AgentServer {
    async fn list(&self, args: ListConversationsArgs) -> Result<Value, ApiError> {
        let limit = args.limit.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST);
        let mut before = args
            .cursor
            .as_deref()
            .map(crate::http::api::conversations::decode_cursor)
            .transpose()?;
        let mut out = Vec::new();
        let mut next_cursor = None;
        // With a channel filter, read on until the page is full, the list ends, or enough
        // pages were scanned (the cursor then continues where this answer stopped).
        for _ in 0..MAX_SCANNED_PAGES {
            let page = self
                .state
                .store
                .list_conversations(before.clone(), limit)
                .await?;
            let full = page.len() == limit;
            for conversation in page {
                before = Some((conversation.last_event_at, conversation.id.clone()));
                if args
                    .channel
                    .as_deref()
                    .is_some_and(|c| c != conversation.channel.as_str())
                {
                    continue;
                }
                out.push(self.summary(&conversation).await?);
                if out.len() == limit {
                    break;
                }
            }
            next_cursor = (full || out.len() == limit)
                .then_some(before.as_ref())
                .flatten()
                .map(|(at, id)| crate::http::api::conversations::encode_cursor(at, id));
            if out.len() == limit || !full {
                break;
            }
        }
        Ok(json!({ "conversations": out, "next_cursor": next_cursor }))
    }

    /// A conversation's list entry: who, where, when, and whether a reply is possible.
    async fn summary(&self, conversation: &crate::store::Conversation) -> Result<Value, ApiError> {
        let recent = self
            .state
            .bus
            .read_conversation_latest(&conversation.id, REPLY_LOOKBACK)
            .await?;
        self.summary_of(conversation, &recent).await
    }

    /// [`Self::summary`] judged from `recent`, the conversation's latest events oldest first.
    async fn summary_of(
        &self,
        conversation: &crate::store::Conversation,
        recent: &[omnibridge_sdk::Envelope],
    ) -> Result<Value, ApiError> {
        let participants = self.state.store.participants(&conversation.id).await?;
        let customer = participants
            .iter()
            .find(|p| p.role == omnibridge_sdk::Role::Customer)
            .map(|p| json!({ "id": p.id, "display_name": p.display_name }));
        let channel = self.state.channels.get(&conversation.channel_id);
        let reply = reply::status(
            conversation,
            channel.map(|h| h.channel.as_ref()),
            recent,
            chrono::Utc::now(),
        );
        Ok(json!({
            "id": conversation.id,
            "channel": conversation.channel.as_str(),
            "channel_id": conversation.channel_id,
            "customer": customer,
            "last_activity_at": conversation.last_event_at,
            "last_customer_message_at": conversation.last_inbound_at,
            "reply": reply,
        }))
    }

    async fn conversation(
        &self,
        args: &GetConversationArgs,
        with_payments: bool,
    ) -> Result<Value, ApiError> {
        let conversation = self.find(&args.conversation_id).await?;
        let last = args.last.unwrap_or(DEFAULT_LAST).clamp(1, MAX_LAST);
        // One read serves both the reply status and the shown events.
        let events = self
            .state
            .bus
            .read_conversation_latest(&conversation.id, last.max(REPLY_LOOKBACK))
            .await?;
        let mut summary = self.summary_of(&conversation, &events).await?;
        let shown = &events[events.len().saturating_sub(last)..];
        let lines: Vec<_> = shown.iter().filter_map(transcript::line).collect();
        summary["events"] = json!(lines);
        summary["transcript"] = json!(transcript::render(&lines));
        summary["cursor"] = json!(self.state.bus.head().await?);
        if with_payments {
            let engine = &self.state.payments.mpp.engine;
            let intents = engine
                .list(&conversation.id, 50)
                .await
                .map_err(engine_error)?;
            let open: Vec<_> = intents
                .iter()
                .filter(|i| is_open(i))
                .map(|i| intent_json(engine, i))
                .collect();
            summary["open_payments"] = json!(open);
        }
        Ok(summary)
    }

    async fn send(&self, call: &Call, args: SendMessageArgs) -> Result<Value, ApiError> {
        let fingerprint = fingerprint(
            "send_message",
            &args.conversation_id,
            &json!({
                "text": args.text, "template": args.template, "data": args.data,
                "locale": args.locale,
                "buttons": args.buttons.iter().map(|b| json!([b.label, b.payload, b.url])).collect::<Vec<_>>(),
            }),
        );
        let scope = format!("{}:mcp:send_message", call.caller.key_name);
        if let Some(key) = &args.idempotency_key
            && let Some(stored) = self.state.store.idempotent_response(&scope, key).await?
        {
            return replayed(stored, &fingerprint);
        }
        let request = SendMessage {
            text: args.text,
            template: args.template,
            locale: args.locale,
            data: args.data,
            buttons: args
                .buttons
                .into_iter()
                .map(|b| ButtonSpec {
                    label: b.label,
                    payload: b.payload,
                    url: b.url,
                })
                .collect(),
            reply_to: None,
            attachments: Vec::new(),
        };
        let outbound_id = match &args.idempotency_key {
            Some(key) => crate::http::api::messages::derived_id(&scope, key),
            None => crate::outbox::Outbox::new_id(),
        };
        let accepted = crate::http::api::messages::queue(
            &self.state,
            self.state.renderer.as_ref(),
            &args.conversation_id,
            &request,
            outbound_id,
        )
        .await?;
        let mut body = json!(accepted);
        body["cursor"] = json!(self.state.bus.head().await?);
        if let Some(key) = &args.idempotency_key {
            let response = IdempotentResponse {
                fingerprint: fingerprint.clone(),
                status: 202,
                body,
            };
            let saved = self
                .state
                .store
                .save_idempotent_response(&scope, key, &response)
                .await?;
            return replayed(saved, &fingerprint);
        }
        Ok(body)
    }

    async fn request(&self, call: &Call, args: RequestPaymentArgs) -> Result<Value, ApiError> {
        let engine = &self.state.payments.mpp.engine;
        let key = args.idempotency_key.as_ref().map(|key| IntentKey {
            scope: format!("{}:mcp:request_payment", call.caller.key_name),
            key: key.clone(),
            fingerprint: fingerprint(
                "request_payment",
                &args.conversation_id,
                &json!([
                    args.amount,
                    args.currency,
                    args.description,
                    args.external_id,
                    args.locale
                ]),
            ),
        });
        let cursor = self.state.bus.head().await?;
        let (intent, _) = engine
            .create(NewIntent {
                id: PaymentIntent::new_id(),
                key,
                conversation_id: ConversationId::new(args.conversation_id),
                amount: args.amount,
                currency: args.currency,
                description: args.description,
                external_id: args.external_id,
                expires_in_secs: INTENT_EXPIRES_IN_SECS,
                metadata: None,
                locale: args.locale,
                guard: call.caller.spend_guard(),
            })
            .await
            .map_err(engine_error)?;
        let shown = if intent.state == IntentState::RequiresApproval {
            Value::Null
        } else {
            match engine.notifier().payment_request_preview(&intent).await {
                Ok(mut shown) => {
                    shown.text = super::redact::confirmation_links(&shown.text).into_owned();
                    json!(shown)
                }
                Err(reason) => json!({ "error": reason }),
            }
        };
        let note = match intent.state {
            IntentState::RequiresApproval => {
                "above this key's approval limit: nothing was sent to the customer; a person must approve it (POST /v1/payment-intents/{id}/approve) before the customer is asked"
            }
            _ => {
                "the customer was asked to pay in their channel; wait for payment.succeeded or payment.failed with wait_for_events"
            }
        };
        Ok(json!({
            "intent": intent_json(engine, &intent),
            "shown_to_customer": shown,
            "note": note,
            "cursor": cursor,
        }))
    }

    async fn find(&self, id: &str) -> Result<crate::store::Conversation, ApiError> {
        self.state
            .store
            .conversation(&ConversationId::new(id))
            .await?
            .ok_or_else(|| {
                ApiError::not_found("unknown_conversation", format!("no conversation {id:?}"))
            })
    }

    /// Appends `agent.action` for a call that changed (or tried to change) something on
    /// `conversation`. Failures are logged: the audit never undoes the action.
    async fn audit(
        &self,
        call: &Call,
        conversation: &str,
        result: &Result<Value, ApiError>,
        detail: impl FnOnce(omnibridge_sdk::AgentAction, &Value) -> omnibridge_sdk::AgentAction,
    ) {
        let Ok(Some(record)) = self
            .state
            .store
            .conversation(&ConversationId::new(conversation))
            .await
        else {
            return;
        };
        let action = match result {
            Ok(value) => detail(
                omnibridge_sdk::AgentAction::new(&call.caller.key_name, call.tool, "ok"),
                value,
            ),
            Err(error) => {
                let outcome = if error.status.is_client_error() {
                    "refused"
                } else {
                    "failed"
                };
                detail(
                    omnibridge_sdk::AgentAction::new(&call.caller.key_name, call.tool, outcome),
                    &Value::Null,
                )
                .with_code(error.code)
            }
        };
        let action = clean(action);
        let event = omnibridge_sdk::InboundEvent::new(
            record.conversation.clone(),
            EventBody::AgentAction(action),
        );
        if let Err(error) = self
            .state
            .ingest
            .emit_payment(&record.channel_id, &record.channel, event)
            .await
        {
            tracing::error!(tool = call.tool, %error, "agent.action could not be appended");
        }
    }
}

/// Drops empty ids a failed call could not fill in.
fn clean(mut action: omnibridge_sdk::AgentAction) -> omnibridge_sdk::AgentAction {
    if action.payment_intent_id.as_deref() == Some("") {
        action.payment_intent_id = None;
    }
    if action.outbound_id.as_deref() == Some("") {
        action.outbound_id = None;
    }
    action
}

/// Whether an intent may still be paid, settled or approved.
fn is_open(intent: &PaymentIntent) -> bool {
    matches!(
        intent.state,
        IntentState::RequiresApproval | IntentState::RequiresConfirmation | IntentState::Processing
    )
}

fn fingerprint(tool: &str, conversation: &str, args: &Value) -> String {
    hex::encode(Sha256::digest(
        format!("{tool}\0{conversation}\0{args}").as_bytes(),
    ))
}

fn replayed(stored: IdempotentResponse, fingerprint: &str) -> Result<Value, ApiError> {
    if stored.fingerprint != fingerprint {
        return Err(crate::store::StoreError::IdempotencyConflict.into());
    }
    Ok(stored.body)
}

/// The `content` text of a tool error: `code: detail`.
pub(super) fn error_result(error: &ApiError) -> CallToolResult {
    let detail = if error.status.is_server_error() {
        "the bridge could not complete this call; try again shortly".to_owned()
    } else {
        error.detail.clone()
    };
    let mut body = json!({
        "code": error.code,
        "status": error.status.as_u16(),
        "detail": detail,
    });
    // Structured details of the refusal (a guardrail's limit and the room left).
    if let (Some(extra), Some(object)) = (&error.extra, body.as_object_mut()) {
        for (name, value) in extra.iter() {
            object.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
    let mut result = CallToolResult::structured_error(body);
    result.content = vec![ContentBlock::text(format!("{}: {detail}", error.code))];
    result
}
