//! The payment routes, as two sub-routers the HTTP server merges: [`api_routes`], the business
//! API (the payment-intent API `/v1/payment-intents…` and linked payment sources
//! `PUT /v1/customers/…/payment-source`, API key with scope `payments`, which the server
//! requires of the whole sub-router), and [`public_routes`], the MPP endpoint
//! (`/pay/{intent_id}`), Stripe's webhook and the confirmation page (`/confirm/{token}`),
//! which authenticate their own way. Handlers take only the state they need, extracted from
//! the server's state with [`FromRef`]: [`PaymentsState`] or just the [`Mpp`].

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post, put};

use super::mpp::Mpp;
use super::wallet::Wallet;
use super::{api, confirm_page, mpp, stripe};
use crate::store::Store;
use crate::web::auth::Authenticator;

/// What the payment handlers need, cheap to clone.
#[derive(Clone)]
pub struct PaymentsState {
    /// Payment intents, the MPP endpoint's keys and methods, linked sources.
    pub mpp: Arc<Mpp>,
    /// Idempotency records of the intent API and of `/pay` answers.
    pub store: Arc<dyn Store>,
    /// The in-channel wallet, when enabled (the confirmation page runs it).
    pub wallet: Option<Arc<Wallet>>,
}

impl FromRef<PaymentsState> for Arc<Mpp> {
    fn from_ref(state: &PaymentsState) -> Self {
        state.mpp.clone()
    }
}

/// The payment business API (API key; the server requires scope `payments` of all of it),
/// for any server state that hands out a [`PaymentsState`], the [`Mpp`] and the API-key
/// [`Authenticator`].
pub fn api_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    PaymentsState: FromRef<S>,
    Arc<Mpp>: FromRef<S>,
    Arc<dyn Authenticator>: FromRef<S>,
{
    Router::new()
        .route("/v1/payment-intents", post(api::create).get(api::list))
        .route("/v1/payment-intents/{id}", get(api::get_one))
        .route("/v1/payment-intents/{id}/cancel", post(api::cancel))
        .route("/v1/payment-intents/{id}/refund", post(api::refund))
        .route("/v1/payment-intents/{id}/approve", post(api::approve))
        .route("/v1/payment-intents/{id}/reject", post(api::reject))
        .route(
            "/v1/customers/{channel}/{user_id}/payment-source",
            put(super::wallet::linked::put_source),
        )
}

/// The payment routes that are not business API (no API key): the MPP endpoint, Stripe's
/// webhook and the confirmation page, for any server state that hands out a
/// [`PaymentsState`] and the [`Mpp`].
pub fn public_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    PaymentsState: FromRef<S>,
    Arc<Mpp>: FromRef<S>,
{
    Router::new()
        .route(
            "/pay/{intent_id}",
            get(mpp::endpoint::pay).post(mpp::endpoint::pay),
        )
        .route(
            stripe::endpoint::STRIPE_WEBHOOK_PATH,
            post(stripe::endpoint::receive),
        )
        .route(
            "/confirm/{token}",
            get(confirm_page::show).post(confirm_page::confirm),
        )
}
