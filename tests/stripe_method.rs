//! The Stripe payment method against the local Stripe fake (`support::stripe_fake`):
//! settlement, declines, retries with one idempotency key, SPT single use, refunds, signed
//! webhooks and their reconciliation; the refund path also against localstripe when it is
//! installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "stripe_method/localstripe.rs"]
mod localstripe;
#[path = "stripe_method/refunds_and_webhooks.rs"]
mod refunds_and_webhooks;

use std::time::Duration;

use omnibridge::config::Secret;
use omnibridge::money::Money;
use omnibridge::outbox::retry::RetryPolicy;
use omnibridge::payments::method::{Charge, PaymentMethod, SettleError};
use omnibridge::payments::stripe::{StripeConfig, StripeMethod};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::stripe_fake::StripeFake;

/// A method pointed at `api_base` with fast retries.
pub(crate) fn method_at(api_base: &str, secret_key: &str, timeout: Duration) -> StripeMethod {
    let mut config = StripeConfig::new(Secret::new(secret_key), "profile_test");
    config.api_base = api_base.to_owned();
    config.timeout = timeout;
    config.webhook_secret = Some(Secret::new("whsec_fake"));
    config.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
    };
    StripeMethod::new(config).unwrap()
}

pub(crate) fn method(fake: &StripeFake) -> StripeMethod {
    method_at(fake.url(), fake.secret_key(), Duration::from_secs(5))
}

pub(crate) fn charge(minor: i64) -> Charge {
    Charge {
        intent_id: "payint_1".into(),
        conversation_id: "conv_1".into(),
        amount: Money::new(minor, "USD").unwrap(),
        description: "Order 42".into(),
        external_id: None,
    }
}

fn refusal(result: Result<impl std::fmt::Debug, SettleError>) -> (String, String) {
    match result {
        Err(SettleError::Refused {
            code,
            customer_message,
        }) => (code, customer_message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn success_returns_the_payment_intent_and_sends_the_spec_parameters() {
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    let payload = json!({"spt": "spt_success_1"});
    let settlement = stripe
        .settle(&charge(1250), "ch_1", &payload)
        .await
        .unwrap();
    assert!(settlement.reference.starts_with("pi_"), "{settlement:?}");
    assert_eq!(fake.payment_intents_created(), 1);
    let requests = fake.requests();
    let [request] = requests.as_slice() else {
        panic!("{requests:?}")
    };
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/payment_intents")
    );
    for (name, value) in [
        ("shared_payment_granted_token", "spt_success_1"),
        ("amount", "1250"),
        ("currency", "usd"),
        ("confirm", "true"),
        ("automatic_payment_methods[enabled]", "true"),
        ("automatic_payment_methods[allow_redirects]", "never"),
        ("metadata[challenge_id]", "ch_1"),
        ("metadata[intent_id]", "payint_1"),
        ("metadata[conversation_id]", "conv_1"),
    ] {
        assert_eq!(request.param(name), Some(value), "{name}");
    }
    let key = hex::encode(Sha256::digest(b"ch_1_spt_success_1"));
    assert_eq!(request.idempotency_key.as_deref(), Some(key.as_str()));
    let stored = fake.payment_intent(&settlement.reference).unwrap();
    assert_eq!(stored["status"], "succeeded");
    assert_eq!(stored["metadata"]["challenge_id"], "ch_1");
}

#[tokio::test]
async fn method_details_announce_network_and_payment_method_types() {
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    assert_eq!(stripe.name(), "stripe");
    assert_eq!(
        stripe.method_details(&charge(100)),
        json!({"networkId": "profile_test", "paymentMethodTypes": ["card"]})
    );
}

#[tokio::test]
async fn a_decline_is_refused_with_card_declined_and_a_customer_message() {
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    let (code, message) = refusal(
        stripe
            .settle(&charge(500), "ch_1", &json!({"spt": "spt_decline_1"}))
            .await,
    );
    assert_eq!(code, "card_declined");
    assert!(message.contains("declined"), "{message}");
    let (code, message) = refusal(
        stripe
            .settle(&charge(500), "ch_2", &json!({"spt": "spt_insufficient_1"}))
            .await,
    );
    assert_eq!(code, "card_declined");
    assert!(message.contains("insufficient funds"), "{message}");
    assert_eq!(
        fake.payment_intents_created(),
        2,
        "a declined PaymentIntent still exists"
    );
}

#[tokio::test]
async fn requires_action_is_refused() {
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    let (code, message) = refusal(
        stripe
            .settle(&charge(500), "ch_1", &json!({"spt": "spt_action_1"}))
            .await,
    );
    assert_eq!(code, "requires_action");
    assert!(message.contains("another card"), "{message}");
}

#[tokio::test]
async fn a_5xx_is_retried_with_the_same_idempotency_key_and_charges_once() {
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    let payload = json!({"spt": "spt_fail_5xx_once_1"});
    let settlement = stripe.settle(&charge(700), "ch_1", &payload).await.unwrap();
    assert!(settlement.reference.starts_with("pi_"));
    let requests = fake.requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 200]
    );
    assert_eq!(requests[0].idempotency_key, requests[1].idempotency_key);
    assert_eq!(fake.payment_intents_created(), 1);
}

#[tokio::test]
async fn persistent_5xx_is_an_unknown_outcome_after_bounded_retries() {
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    let result = stripe
        .settle(
            &charge(700),
            "ch_1",
            &json!({"spt": "spt_fail_5xx_always_1"}),
        )
        .await;
    // Stripe may have executed a request that answered 5xx: never a reason to charge anew.
    assert!(matches!(result, Err(SettleError::Unknown(_))), "{result:?}");
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(fake.payment_intents_created(), 0);
}

#[tokio::test]
async fn timeouts_are_retried_with_the_same_key_and_never_charge_twice() {
    let fake = StripeFake::start_with_latency(Duration::from_millis(300)).await;
    let stripe = method_at(fake.url(), fake.secret_key(), Duration::from_millis(100));
    let result = stripe
        .settle(&charge(700), "ch_1", &json!({"spt": "spt_success_slow"}))
        .await;
    assert!(matches!(result, Err(SettleError::Unknown(_))), "{result:?}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "every attempt reached the fake");
    assert!(
        requests
            .iter()
            .all(|r| r.idempotency_key == requests[0].idempotency_key)
    );
    assert_eq!(fake.payment_intents_created(), 1);
}

#[tokio::test]
async fn the_same_spt_with_a_new_challenge_is_refused_by_stripe() {
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    let payload = json!({"spt": "spt_success_reused"});
    stripe.settle(&charge(900), "ch_1", &payload).await.unwrap();
    let result = stripe.settle(&charge(900), "ch_2", &payload).await;
    let error = format!("{result:?}");
    let (code, _) = refusal(result);
    assert_eq!(code, "token_already_used");
    assert!(!error.contains("spt_success_reused"), "{error}");
    assert_eq!(fake.payment_intents_created(), 1);
}

#[tokio::test]
async fn a_retried_settlement_replays_instead_of_charging_again() {
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    let payload = json!({"spt": "spt_success_retry"});
    let first = stripe.settle(&charge(900), "ch_1", &payload).await.unwrap();
    let second = stripe.settle(&charge(900), "ch_1", &payload).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(fake.payment_intents_created(), 1);
    // Same key, other parameters: Stripe's idempotency_error, never a charge; the first
    // request's outcome is what counts, so this one's is unknown (looked up, not re-opened).
    let result = stripe.settle(&charge(901), "ch_1", &payload).await;
    assert!(matches!(result, Err(SettleError::Unknown(_))), "{result:?}");
    assert_eq!(fake.payment_intents_created(), 1);
}

#[tokio::test]
async fn unknown_tokens_bad_keys_and_unreachable_stripe_never_echo_secrets() {
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    let result = stripe
        .settle(&charge(100), "ch_1", &json!({"spt": "spt_unknown_42"}))
        .await;
    let shown = format!("{result:?}");
    assert_eq!(refusal(result).0, "resource_missing");
    assert!(!shown.contains("unknown_42"), "{shown}");

    let wrong_key = method_at(fake.url(), "sk_test_wrong", Duration::from_secs(5));
    let result = wrong_key
        .settle(&charge(100), "ch_2", &json!({"spt": "spt_success_2"}))
        .await;
    let shown = format!("{result:?}");
    assert!(
        matches!(result, Err(SettleError::Unavailable(_))),
        "{shown}"
    );
    assert!(
        !shown.contains("sk_test_wrong") && !shown.contains("spt_success_2"),
        "{shown}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = method_at(
        &format!("http://{closed}"),
        "sk_test_x",
        Duration::from_secs(1),
    );
    let result = unreachable
        .settle(&charge(100), "ch_3", &json!({"spt": "spt_success_3"}))
        .await;
    // A network error cannot tell "never sent" from "sent, answer lost": unknown.
    assert!(matches!(result, Err(SettleError::Unknown(_))), "{result:?}");

    let result = stripe
        .settle(&charge(100), "ch_4", &json!({"token": "spt_x"}))
        .await;
    assert!(
        matches!(result, Err(SettleError::MalformedPayload(_))),
        "{result:?}"
    );
}
