//! `[payments.wallet]` and `[[payments.linked_sources]]`: the in-channel wallet that turns a
//! customer's "Pay" into an MPP payment, and which payment source pays for whom.

use serde::Deserialize;

/// `[payments.wallet]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletSettings {
    /// Run the wallet (a consumer of `action.invoked` and `message.received`).
    pub enabled: bool,
    /// The source of customers with no entry in `linked_sources`: `"sandbox"` (pays with
    /// `sandbox_token`) or `"none"` (they get the `payment_link` template).
    pub default_source: String,
    /// The sandbox token of the default sandbox source.
    pub sandbox_token: String,
    /// Base URL the wallet fetches pay URLs from (`http://host:port`); empty: the bridge's
    /// own listening address.
    #[serde(default)]
    pub base_url: String,
}

/// One `[[payments.linked_sources]]` entry: a customer and the source that pays for them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkedSourceSettings {
    /// The customer's channel kind (`webchat`, `whatsapp`).
    pub channel: String,
    /// The customer's user id on that channel.
    pub user_id: String,
    /// `"sandbox"`, `"stripe"` or `"none"`.
    pub source: String,
    /// Sandbox: the token to pay with (default `tok_sandbox_success`).
    #[serde(default)]
    pub token: Option<String>,
    /// Stripe: the customer's saved PaymentMethod (`pm_…`) SPTs are issued from.
    #[serde(default)]
    pub payment_method: Option<String>,
    /// Stripe: the Stripe customer (`cus_…`), for the record.
    #[serde(default)]
    pub customer: Option<String>,
}
