//! Which payment source pays for which customer: entries from
//! `[[payments.linked_sources]]`, changed at run time with
//! `PUT /v1/customers/{channel}/{user_id}/payment-source`, and a default for everyone else
//! (`payments.wallet.default_source`). Links set through the API live in this instance's
//! memory (config entries are the durable way; several instances each keep their own).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::source::{CustomerRef, PaymentSource, SandboxSource};
use super::stripe_source::StripeIssuer;
use crate::config::{LinkedSourceSettings, WalletSettings};
use crate::payments::mpp::Mpp;
use crate::payments::mpp::answers::json_response;
use crate::payments::sandbox::TOKEN_SUCCESS;
use crate::web::auth::ApiCaller;
use crate::web::extract::{parse_body, require_json};
use crate::web::problem::ApiError;

/// A customer's link, as configured or set through the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceLink {
    /// Pays with a sandbox magic token (default `tok_sandbox_success`).
    Sandbox {
        /// The token.
        #[serde(default = "default_token")]
        token: String,
    },
    /// Pays with SPTs issued from a saved Stripe PaymentMethod.
    Stripe {
        /// `pm_…`.
        payment_method: String,
    },
    /// No source: the customer gets a payment link.
    None,
}

fn default_token() -> String {
    TOKEN_SUCCESS.to_owned()
}

impl SourceLink {
    fn from_settings(entry: &LinkedSourceSettings) -> Result<SourceLink, String> {
        match entry.source.as_str() {
            "sandbox" => Ok(SourceLink::Sandbox {
                token: entry.token.clone().unwrap_or_else(default_token),
            }),
            "stripe" => Ok(SourceLink::Stripe {
                payment_method: entry.payment_method.clone().ok_or_else(|| {
                    format!("linked source of {} needs payment_method", entry.user_id)
                })?,
            }),
            "none" => Ok(SourceLink::None),
            other => Err(format!(
                "unknown linked source {other:?} (sandbox, stripe, none)"
            )),
        }
    }
}

/// The registry of linked sources.
#[derive(Debug)]
pub struct LinkedSources {
    links: RwLock<HashMap<CustomerRef, SourceLink>>,
    default: SourceLink,
    stripe: Option<StripeIssuer>,
}

impl LinkedSources {
    /// From `[payments.wallet]` and `[[payments.linked_sources]]`; `stripe` issues SPTs for
    /// Stripe links (none: Stripe links cannot pay).
    pub fn from_settings(
        wallet: &WalletSettings,
        entries: &[LinkedSourceSettings],
        stripe: Option<StripeIssuer>,
    ) -> Result<LinkedSources, String> {
        let default = match wallet.default_source.as_str() {
            "sandbox" => SourceLink::Sandbox {
                token: wallet.sandbox_token.clone(),
            },
            "none" => SourceLink::None,
            other => {
                return Err(format!(
                    "payments.wallet.default_source {other:?}: sandbox or none"
                ));
            }
        };
        let mut links = HashMap::new();
        for entry in entries {
            let customer = CustomerRef {
                channel: entry.channel.clone(),
                user_id: entry.user_id.clone(),
            };
            links.insert(customer, SourceLink::from_settings(entry)?);
        }
        Ok(LinkedSources {
            links: RwLock::new(links),
            default,
            stripe,
        })
    }

    /// The customer's link (the default when not linked).
    pub fn link(&self, customer: &CustomerRef) -> SourceLink {
        let links = self.links.read().unwrap_or_else(|p| p.into_inner());
        links
            .get(customer)
            .cloned()
            .unwrap_or_else(|| self.default.clone())
    }

    /// Links (or unlinks, with [`SourceLink::None`]) a customer.
    pub fn set(&self, customer: CustomerRef, link: SourceLink) {
        let mut links = self.links.write().unwrap_or_else(|p| p.into_inner());
        links.insert(customer, link);
    }

    /// The source paying for `customer`, if any.
    pub fn source_for(&self, customer: &CustomerRef) -> Option<Arc<dyn PaymentSource>> {
        match self.link(customer) {
            SourceLink::Sandbox { token } => Some(Arc::new(SandboxSource::new(token))),
            SourceLink::Stripe { payment_method } => self
                .stripe
                .as_ref()
                .map(|issuer| Arc::new(issuer.source(&payment_method)) as Arc<dyn PaymentSource>),
            SourceLink::None => None,
        }
    }
}

/// Links a customer to a payment source (in this instance's memory).
#[utoipa::path(put, path = "/v1/customers/{channel}/{user_id}/payment-source",
    params(("channel" = String, Path), ("user_id" = String, Path)), request_body = SourceLink,
    responses((status = 200, body = SourceLink), (status = 422, body = crate::web::problem::Problem)),
    security(("api_key" = ["payments"])))]
pub async fn put_source(
    _caller: ApiCaller,
    State(mpp): State<Arc<Mpp>>,
    Path((channel, user_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let link: SourceLink = parse_body(&body)?;
    let customer = CustomerRef { channel, user_id };
    mpp.sources.set(customer.clone(), link.clone());
    tracing::info!(channel = %customer.channel, user_id = %customer.user_id, "payment source linked");
    let body = serde_json::to_value(&link).unwrap_or_else(|_| json!({}));
    Ok(json_response(StatusCode::OK, body))
}
