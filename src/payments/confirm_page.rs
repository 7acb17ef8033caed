//! The confirmation page of a payment intent, for channels without buttons (email).
//!
//! `GET /confirm/{token}` shows the charge and a "Pay" button and changes nothing: mail
//! scanners and link previews follow links. The button's `POST` runs the wallet for the
//! conversation's customer, which settles through `/pay/{intent_id}` like every other
//! confirmation. See [`crate::payments::confirm_link`] for the token.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use tracing::Instrument;

use super::confirm_link;
use super::intent::{IntentState, PaymentIntent};
use super::routes::PaymentsState;
use super::wallet::LinkOutcome;

/// `GET /confirm/{token}`: the charge and a button; never pays.
pub async fn show(State(state): State<PaymentsState>, Path(token): Path<String>) -> Response {
    let intent = match intent_for(&state, &token).await {
        Ok(intent) => intent,
        Err(response) => return response,
    };
    let amount = amount_text(&intent);
    let body = if intent.state == IntentState::RequiresConfirmation && state.wallet.is_some() {
        format!(
            "<p class=\"charge\">{description}</p><p class=\"amount\">{amount}</p>\
             <form method=\"post\"><button type=\"submit\">Pay {amount}</button></form>\
             <p class=\"note\">Nothing is charged until you press the button.</p>",
            description = escape(&intent.description),
        )
    } else {
        format!(
            "<p class=\"charge\">{description}</p><p class=\"amount\">{amount}</p>\
             <p class=\"state\">{state}</p>",
            description = escape(&intent.description),
            state = state_text(intent.state),
        )
    };
    page(StatusCode::OK, &body)
}

/// `POST /confirm/{token}`: confirms through the wallet and says how it went.
pub async fn confirm(State(state): State<PaymentsState>, Path(token): Path<String>) -> Response {
    let intent = match intent_for(&state, &token).await {
        Ok(intent) => intent,
        Err(response) => return response,
    };
    let Some(wallet) = state.wallet.clone() else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "<p>Payments from this page are not enabled.</p>",
        );
    };
    let span = tracing::info_span!("confirm_page", payment_intent_id = %intent.id,
        conversation_id = %intent.conversation_id);
    match wallet.confirm_from_link(&intent.id).instrument(span).await {
        Ok(LinkOutcome::Paid) => page(
            StatusCode::OK,
            &format!(
                "<p class=\"state\">Paid: {}. Your receipt is on its way.</p>",
                amount_text(&intent)
            ),
        ),
        Ok(LinkOutcome::Refused) => page(
            StatusCode::PAYMENT_REQUIRED,
            "<p class=\"state\">The payment did not go through. We sent you the reason; \
             you can try again.</p>",
        ),
        Ok(LinkOutcome::LinkSent) => page(
            StatusCode::OK,
            "<p class=\"state\">We sent you a secure payment link to finish paying.</p>",
        ),
        Ok(LinkOutcome::NotPayable(state)) => page(
            StatusCode::CONFLICT,
            &format!("<p class=\"state\">{}</p>", state_text(state)),
        ),
        Err(error) => {
            tracing::warn!(payment_intent_id = %intent.id, %error, "confirmation page failed");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "<p class=\"state\">We could not process the payment right now; please try \
                 again in a minute.</p>",
            )
        }
    }
}

async fn intent_for(state: &PaymentsState, token: &str) -> Result<PaymentIntent, Response> {
    let not_found = || {
        page(
            StatusCode::NOT_FOUND,
            "<p>This payment link is not valid.</p>",
        )
    };
    let intent_id = confirm_link::verify(&state.mpp.keys, token).ok_or_else(not_found)?;
    state
        .mpp
        .engine
        .get(&intent_id)
        .await
        .map_err(|_| not_found())
}

fn amount_text(intent: &PaymentIntent) -> String {
    intent
        .money()
        .map(|money| money.format(&intent.locale))
        .unwrap_or_else(|_| format!("{} {}", intent.amount, intent.currency))
}

fn state_text(state: IntentState) -> &'static str {
    match state {
        IntentState::RequiresConfirmation => "Waiting for your confirmation.",
        IntentState::Processing => "The payment is being processed.",
        IntentState::Succeeded => "This payment is complete.",
        IntentState::Failed => "This payment failed.",
        IntentState::Canceled => "This payment was canceled.",
        IntentState::RequiresApproval => "This payment is not ready yet.",
        IntentState::Rejected => "This payment request was withdrawn.",
        IntentState::Expired => "This payment request has expired.",
        IntentState::Refunded | IntentState::PartiallyRefunded => "This payment was refunded.",
    }
}

fn escape(text: &str) -> String {
    handlebars::html_escape(text)
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>Payment</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;\
         padding:0 1rem}}.amount{{font-size:2rem;font-weight:600}}button{{font-size:1.2rem;\
         padding:.6rem 1.4rem}}</style></head><body>{body}</body></html>"
    );
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
