//! The `stripe` method end to end against the Stripe fake: an SPT credential pays, a replay
//! never charges again, a refund reaches the fake; the `mpp` crate's own client pays our
//! endpoint; Stripe webhooks are verified and converge; the wallet pays from a linked card.

use std::time::Duration;

use mpp::protocol::core::{PaymentCredential, Receipt, format_authorization};
use omnibridge::config::Secret;
use serde_json::{Value, json};

use super::{challenge, get_intent, intent, of_type, pay};
use crate::helpers::{API_KEY, TestApp, spawn_app_with};
use crate::support::stripe_fake::StripeFake;

pub const NETWORK: &str = "profile_test_omnibridge";

/// A bridge whose only method is Stripe, against `fake`.
pub async fn stripe_app(fake: &StripeFake) -> TestApp {
    let (url, key, hook) = (
        fake.url().to_owned(),
        fake.secret_key().to_owned(),
        fake.webhook_secret().to_owned(),
    );
    spawn_app_with(move |s| {
        s.payments.sandbox = false;
        let stripe = &mut s.payments.stripe;
        stripe.enabled = true;
        stripe.api_base = url;
        stripe.network_id = NETWORK.into();
        stripe.secret_key = Some(Secret::new(key));
        stripe.webhook_secret = Some(Secret::new(hook));
    })
    .await
}

/// The `Authorization` value paying `challenge` with `spt`.
pub fn spt_credential(challenge: &mpp::protocol::core::PaymentChallenge, spt: &str) -> String {
    format_authorization(&PaymentCredential::new(
        challenge.to_echo(),
        json!({ "spt": spt }),
    ))
    .unwrap()
}

async fn refund(app: &TestApp, id: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/payment-intents/{id}/refund")))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_spt_pays_once_and_the_refund_reaches_the_fake() {
    let fake = StripeFake::start().await;
    let app = stripe_app(&fake).await;
    let (conversation, id) = intent(&app, "stripe-pay").await;
    let c = challenge(&app, &id).await;
    assert_eq!(c.method.as_str(), "stripe");
    let request = c.request.decode_value().unwrap();
    assert_eq!(request["methodDetails"]["networkId"], NETWORK);
    assert_eq!(
        request["methodDetails"]["paymentMethodTypes"],
        json!(["card"])
    );
    let auth = spt_credential(&c, "spt_success_e2e_pay");
    let response = pay(&app, &id, &auth, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "private");
    let receipt =
        Receipt::from_header(response.headers()["payment-receipt"].to_str().unwrap()).unwrap();
    assert!(receipt.is_success());
    assert_eq!(receipt.method.as_str(), "stripe");
    assert!(
        receipt.reference.starts_with("pi_"),
        "{}",
        receipt.reference
    );
    assert_eq!(fake.payment_intents_created(), 1);

    let replay = pay(&app, &id, &auth, None).await;
    assert_ne!(replay.status(), 200);
    assert!(replay.headers().get("payment-receipt").is_none());
    assert_eq!(fake.payment_intents_created(), 1);

    let refunded = refund(&app, &id).await;
    assert_eq!(refunded.status(), 200);
    assert_eq!(fake.refunds_created(), 1);
    assert_eq!(get_intent(&app, &id).await["state"], "refunded");
    let events = app
        .wait_for_history(&conversation, |e| {
            !of_type(e, "payment.refunded").is_empty()
        })
        .await;
    let event = of_type(&events, "payment.refunded")[0];
    assert_eq!(event["data"]["intent_id"], id.as_str());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app
        .channel
        .sent()
        .iter()
        .any(|m| m.template.as_deref() == Some("payment_refunded"))
    {
        assert!(tokio::time::Instant::now() < deadline, "no refund message");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn the_mpp_crates_own_client_pays_our_endpoint() {
    use mpp::client::{ChargeClient, StripeProvider};
    use mpp::protocol::methods::stripe::CreateTokenResult;
    let fake = StripeFake::start().await;
    let app = stripe_app(&fake).await;
    let (_, id) = intent(&app, "stripe-interop").await;
    let provider = StripeProvider::new(|params| {
        Box::pin(async move {
            assert_eq!(params.network_id, NETWORK);
            assert_eq!(params.amount, "1250");
            Ok(CreateTokenResult {
                spt: format!("spt_success_interop_{}", params.expires_at),
                external_id: None,
            })
        })
    });
    let client = ChargeClient::new(reqwest13::Client::builder()).unwrap();
    let request = client
        .request(reqwest13::Method::POST, app.url(&format!("/pay/{id}")))
        .header("accept-payment", "stripe/charge");
    let response = client.send_with_payment(request, &provider).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let header = response.headers()["payment-receipt"].to_str().unwrap();
    let receipt = Receipt::from_header(header).unwrap();
    assert!(receipt.is_success());
    assert_eq!(receipt.method.as_str(), "stripe");
    assert!(receipt.reference.starts_with("pi_"));
    assert_eq!(fake.payment_intents_created(), 1);
    assert_eq!(get_intent(&app, &id).await["state"], "succeeded");
    app.stop().await;
}

async fn webhook(app: &TestApp, body: &str, signature: &str) -> reqwest::Response {
    app.client
        .post(app.url("/payments/stripe/webhook"))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

fn succeeded(id: &str, pi: &str) -> Value {
    json!({"id": pi, "object": "payment_intent", "status": "succeeded", "amount": 1250,
        "currency": "eur", "metadata": {"intent_id": id, "challenge_id": "ch_x"}})
}

fn refunded(id: &str, pi: &str, total: i64) -> Value {
    json!({"id": pi.replacen("pi_", "ch_", 1), "object": "charge", "amount": 1250,
        "amount_refunded": total, "payment_intent": pi, "metadata": {"intent_id": id}})
}

#[tokio::test]
async fn a_webhook_with_a_bad_signature_is_refused_and_changes_nothing() {
    let fake = StripeFake::start().await;
    let app = stripe_app(&fake).await;
    let (_, id) = intent(&app, "stripe-hook-bad").await;
    let (body, header) = fake.signed_event("payment_intent.succeeded", succeeded(&id, "pi_bad"));
    let tampered = body.replace("1250", "1");
    for (body, header) in [
        (tampered.as_str(), header.as_str()),
        (body.as_str(), "t=1,v1=00"),
        (body.as_str(), ""),
    ] {
        assert_eq!(webhook(&app, body, header).await.status(), 400);
    }
    let intent = get_intent(&app, &id).await;
    assert_eq!(intent["state"], "requires_confirmation");
    assert!(intent.get("reference").is_none());
    app.stop().await;
}

#[tokio::test]
async fn duplicated_and_out_of_order_webhooks_converge() {
    let fake = StripeFake::start().await;
    let app = stripe_app(&fake).await;
    let deliver = async |event: &str, object: Value| {
        let (body, header) = fake.signed_event(event, object);
        let response = webhook(&app, &body, &header).await;
        assert_eq!(response.status(), 200);
    };
    // Succeeded twice: one success, one receipt event.
    let (conversation, a) = intent(&app, "stripe-hook-twice").await;
    deliver("payment_intent.succeeded", succeeded(&a, "pi_twice")).await;
    deliver("payment_intent.succeeded", succeeded(&a, "pi_twice")).await;
    let a_now = get_intent(&app, &a).await;
    assert_eq!(a_now["state"], "succeeded");
    assert_eq!(a_now["reference"], "pi_twice");
    // Failed after succeeded: still succeeded.
    let failed = json!({"id": "pi_twice", "object": "payment_intent",
        "status": "requires_payment_method", "metadata": {"intent_id": a, "challenge_id": "ch_x"},
        "last_payment_error": {"code": "card_declined", "decline_code": "generic_decline"}});
    deliver("payment_intent.payment_failed", failed).await;
    assert_eq!(get_intent(&app, &a).await["state"], "succeeded");
    // Refunded before succeeded, each twice: refunded, whatever the order.
    let (_, b) = intent(&app, "stripe-hook-order").await;
    deliver("charge.refunded", refunded(&b, "pi_order", 1250)).await;
    deliver("payment_intent.succeeded", succeeded(&b, "pi_order")).await;
    deliver("charge.refunded", refunded(&b, "pi_order", 1250)).await;
    let b_now = get_intent(&app, &b).await;
    assert_eq!(b_now["state"], "refunded");
    assert_eq!(b_now["refunded_minor"], 1250);
    assert_eq!(b_now["reference"], "pi_order");
    // A dispute (by PaymentIntent id only) is announced once, for an operator.
    let dispute = json!({"id": "dp_1", "object": "dispute", "payment_intent": "pi_twice",
        "reason": "fraudulent", "amount": 1250});
    deliver("charge.dispute.created", dispute.clone()).await;
    deliver("charge.dispute.created", dispute).await;
    let events = app
        .wait_for_history(&conversation, |e| {
            !of_type(e, "payment.disputed").is_empty()
        })
        .await;
    assert_eq!(of_type(&events, "payment.succeeded").len(), 1);
    assert_eq!(of_type(&events, "payment.failed").len(), 0);
    let disputed = of_type(&events, "payment.disputed");
    assert_eq!(disputed.len(), 1);
    assert_eq!(disputed[0]["data"]["reason"], "fraudulent");
    app.stop().await;
}

#[tokio::test]
async fn the_wallet_pays_with_an_spt_issued_from_the_linked_card() {
    let fake = StripeFake::start().await;
    let app = stripe_app(&fake).await;
    let (conversation, id) = intent(&app, "stripe-wallet").await;
    let linked = app
        .client
        .put(app.url("/v1/customers/testchan/stripe-wallet/payment-source"))
        .bearer_auth(API_KEY)
        .json(&json!({"source": "stripe", "payment_method": "pm_card_visa"}))
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), 200);
    // The confirm keyword, as the customer's message.
    assert_eq!(
        app.inbound("stripe-wallet", "kw-1", " pay \nthanks")
            .await
            .status(),
        200
    );
    let events = app
        .wait_for_history(&conversation, |e| {
            !of_type(e, "payment.succeeded").is_empty()
        })
        .await;
    let paid = of_type(&events, "payment.succeeded")[0];
    assert_eq!(paid["data"]["intent_id"], id.as_str());
    assert_eq!(fake.state().issued_tokens, 1);
    assert_eq!(fake.payment_intents_created(), 1);
    let issued = fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/shared_payment/issued_tokens")
        .unwrap();
    assert_eq!(issued.param("usage_limits[max_amount]"), Some("1250"));
    assert_eq!(issued.param("usage_limits[currency]"), Some("eur"));
    assert_eq!(
        issued.param("seller_details[network_business_profile]"),
        Some(NETWORK)
    );
    assert!(issued.param("usage_limits[expires_at]").is_some());
    app.stop().await;
}

#[tokio::test]
async fn one_spt_credential_submitted_100_times_at_once_makes_one_payment_intent() {
    let fake = StripeFake::start().await;
    let app = stripe_app(&fake).await;
    let (_, id) = intent(&app, "stripe-conc").await;
    let auth = spt_credential(&challenge(&app, &id).await, "spt_success_conc100");
    let url = app.url(&format!("/pay/{id}"));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(100));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (client, url, auth, barrier) = (
                app.client.clone(),
                url.clone(),
                auth.clone(),
                barrier.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client.post(url).header("authorization", auth).send().await;
                response.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let rejected = statuses.iter().filter(|s| matches!(s, 402 | 409)).count();
    assert_eq!((ok, rejected), (1, 99), "{statuses:?}");
    assert_eq!(fake.payment_intents_created(), 1);
    app.stop().await;
}
