//! An unknown settlement outcome never re-opens the charge. A fake Stripe records the charge
//! and then loses its answer (held past the timeout, a 500, an unreadable body); whatever the
//! payer does next (the same credential again, fresh challenges, 20 concurrent attempts),
//! Stripe ends with at most one succeeded PaymentIntent, and the intent ends `succeeded` once
//! the answers are readable again, with one `payment.succeeded` and one receipt. A definite
//! decline still re-opens at once.

use std::time::Duration;

use futures_util::future::join_all;
use omnibridge::config::Secret;
use serde_json::Value;

use super::stripe::{NETWORK, spt_credential};
use super::{challenge, get_intent, intent, of_type, pay, probe, problem};
use crate::helpers::{TestApp, spawn_app_with};
use crate::support::stripe_fake::{Fault, StripeFake};

/// A Stripe-only bridge with short Stripe timeouts and a fast sweeper.
async fn app(fake: &StripeFake) -> TestApp {
    let (url, key) = (fake.url().to_owned(), fake.secret_key().to_owned());
    spawn_app_with(move |s| {
        s.payments.sandbox = false;
        let stripe = &mut s.payments.stripe;
        stripe.enabled = true;
        stripe.api_base = url;
        stripe.network_id = NETWORK.into();
        stripe.secret_key = Some(Secret::new(key));
        stripe.timeout_ms = 300;
        stripe.max_attempts = 3;
        let reconcile = &mut s.payments.reconcile;
        reconcile.interval_ms = 100;
        reconcile.stale_after_secs = 60;
        reconcile.not_found_grace_secs = 600;
        reconcile.retry_after_secs = 3;
    })
    .await
}

/// The problem code of a non-402 problem answer.
async fn code(response: reqwest::Response) -> (u16, String, Option<String>) {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap_or_default();
    (
        status,
        body["code"].as_str().unwrap_or_default().to_owned(),
        retry_after,
    )
}

async fn wait_for_state(app: &TestApp, id: &str, state: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = get_intent(app, id).await;
        if now["state"] == state {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "intent never reached {state}: {now}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn never_charged_twice(fault: Fault, budget: Option<usize>, name: &str) {
    let fake = StripeFake::start().await;
    let app = app(&fake).await;
    let (conversation, id) = intent(&app, name).await;
    // The payer holds several challenges, as an agent that fetched them earlier would.
    let mut spare = Vec::new();
    for _ in 0..22 {
        spare.push(challenge(&app, &id).await);
    }
    let first = spt_credential(&spare[0], &format!("spt_success_{name}_0"));
    fake.break_answers(fault, budget);

    let answer = pay(&app, &id, &first, None).await;
    let (status, problem_code, retry_after) = code(answer).await;
    assert_eq!(
        (status, problem_code.as_str()),
        (503, "payment_outcome_unknown")
    );
    assert_eq!(retry_after.as_deref(), Some("3"));
    assert_eq!(get_intent(&app, &id).await["state"], "processing");
    assert_eq!(fake.succeeded_for(&id), 1, "the fake did charge once");

    // A fresh challenge is not offered while the outcome is unknown.
    let probed = probe(&app, &id, None).await;
    assert_eq!(probed.status(), 409);
    assert!(probed.headers().get("www-authenticate").is_none());
    assert_eq!(probed.headers()["retry-after"], "3");

    // A fresh credential on a challenge fetched earlier does not charge.
    let fresh = spt_credential(&spare[1], &format!("spt_success_{name}_1"));
    let (status, _, _) = code(pay(&app, &id, &fresh, None).await).await;
    assert_ne!(status, 200);

    // 20 concurrent attempts: the same credential and fresh ones.
    let attempts = (2..22).map(|i| {
        let auth = if i % 2 == 0 {
            first.clone()
        } else {
            spt_credential(&spare[i], &format!("spt_success_{name}_{i}"))
        };
        let app = &app;
        let id = id.clone();
        async move { pay(app, &id, &auth, None).await.status().as_u16() }
    });
    let statuses = join_all(attempts).await;
    assert_eq!(fake.succeeded_for(&id), 1, "statuses {statuses:?}");

    // Answers readable again: the sweeper (or the payer's retry) finds the one charge.
    fake.heal();
    let retried = pay(&app, &id, &first, None).await.status().as_u16();
    assert!(
        [200, 409, 503].contains(&retried),
        "same credential after healing: {retried}"
    );
    wait_for_state(&app, &id, "succeeded").await;
    let paid = get_intent(&app, &id).await;
    assert!(paid["reference"].as_str().unwrap().starts_with("pi_"));
    assert_eq!(fake.succeeded_for(&id), 1);
    assert_eq!(fake.payment_intents_created(), 1);

    app.wait_for_history(&conversation, |e| {
        !of_type(e, "payment.succeeded").is_empty()
    })
    .await;
    // Give a second announcement the chance to appear before counting.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let events = app.history(&conversation).await;
    assert_eq!(of_type(&events, "payment.succeeded").len(), 1);
    assert!(of_type(&events, "payment.failed").is_empty());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let receipts = || {
        app.channel
            .sent()
            .iter()
            .filter(|m| m.template.as_deref() == Some("payment_receipt"))
            .count()
    };
    while receipts() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no receipt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receipts(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_charge_whose_answer_timed_out_is_never_taken_twice() {
    never_charged_twice(Fault::Slow(Duration::from_secs(2)), None, "timeout").await;
}

#[tokio::test]
async fn a_charge_answered_with_three_500s_is_never_taken_twice() {
    never_charged_twice(Fault::ServerError, Some(3), "fivehundred").await;
}

#[tokio::test]
async fn a_charge_answered_unreadably_is_never_taken_twice() {
    never_charged_twice(Fault::Unreadable, None, "unreadable").await;
}

#[tokio::test]
async fn a_definite_decline_reopens_the_intent_at_once() {
    let fake = StripeFake::start().await;
    let app = app(&fake).await;
    let (_, id) = intent(&app, "decline-reopens").await;
    let c = challenge(&app, &id).await;
    let declined = pay(&app, &id, &spt_credential(&c, "spt_decline_reopen"), None).await;
    let (slug, _) = problem(declined).await;
    assert_eq!(slug, "verification-failed");
    assert_eq!(
        get_intent(&app, &id).await["state"],
        "requires_confirmation"
    );
    let c = challenge(&app, &id).await;
    let paid = pay(&app, &id, &spt_credential(&c, "spt_success_after"), None).await;
    assert_eq!(paid.status(), 200);
    app.stop().await;
}
