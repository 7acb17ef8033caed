//! Payment events: what the bridge's payment engine tells the bus about a payment intent.
//!
//! These bodies are **bridge-only**: the bridge refuses them from channels (an adapter can
//! never claim that a payment succeeded); only the payment engine appends them.

use serde::{Deserialize, Serialize};

/// The payload of every `payment.*` event. Amounts are integer minor units, never floats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentUpdate {
    /// The bridge's payment-intent id (`payint_…`).
    pub intent_id: String,
    /// The amount of the intent, in minor units of `currency`.
    pub amount_minor: i64,
    /// The ISO 4217 code, upper case (`EUR`).
    pub currency: String,
    /// The intent's state after this event (`requires_confirmation`, `processing`,
    /// `succeeded`, `failed`, `canceled`, `expired`, `refunded`, `partially_refunded`).
    pub state: String,
    /// Why it failed or was canceled, in words the customer can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Minor units refunded so far (refund events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_minor: Option<i64>,
    /// The settlement method's reference (a Stripe `pi_…`, a refund `re_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl PaymentUpdate {
    /// An update for an intent in `state`.
    pub fn new(
        intent_id: impl Into<String>,
        amount_minor: i64,
        currency: impl Into<String>,
        state: impl Into<String>,
    ) -> Self {
        Self {
            intent_id: intent_id.into(),
            amount_minor,
            currency: currency.into(),
            state: state.into(),
            reason: None,
            refunded_minor: None,
            reference: None,
        }
    }

    /// Sets the reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the refunded total.
    pub fn with_refunded_minor(mut self, refunded_minor: i64) -> Self {
        self.refunded_minor = Some(refunded_minor);
        self
    }

    /// Sets the method's reference.
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }
}

/// The payload of an `agent.action` event: what an API key's agent changed through the agent
/// (MCP) interface. An audit record: it never carries message bodies, credentials or secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AgentAction {
    /// The API key's configured name.
    pub key_name: String,
    /// The tool that was called (`send_message`, `request_payment`, `cancel_payment`,
    /// `refund_payment`).
    pub tool: String,
    /// `ok`, `refused` (a guardrail or a rule said no) or `failed`.
    pub outcome: String,
    /// The machine-readable problem code when the outcome is not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The payment intent the call created or acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent_id: Option<String>,
    /// The outbound message the call queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_id: Option<String>,
    /// Minor units involved (a requested or refunded amount), with `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    /// The ISO 4217 code of `amount_minor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

impl AgentAction {
    /// A record of `tool` called with key `key_name`, ending in `outcome`.
    pub fn new(
        key_name: impl Into<String>,
        tool: impl Into<String>,
        outcome: impl Into<String>,
    ) -> Self {
        Self {
            key_name: key_name.into(),
            tool: tool.into(),
            outcome: outcome.into(),
            code: None,
            payment_intent_id: None,
            outbound_id: None,
            amount_minor: None,
            currency: None,
        }
    }

    /// Sets the problem code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the payment intent.
    pub fn with_payment_intent(mut self, id: impl Into<String>) -> Self {
        self.payment_intent_id = Some(id.into());
        self
    }

    /// Sets the outbound message.
    pub fn with_outbound(mut self, id: impl Into<String>) -> Self {
        self.outbound_id = Some(id.into());
        self
    }

    /// Sets the amount involved.
    pub fn with_amount(mut self, amount_minor: i64, currency: impl Into<String>) -> Self {
        self.amount_minor = Some(amount_minor);
        self.currency = Some(currency.into());
        self
    }
}
