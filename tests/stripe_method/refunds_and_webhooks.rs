//! Refunds, signed webhooks and their reconciliation, and what reaches the logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use omnibridge::payments::method::{PaymentMethod, SettleError};
use omnibridge::payments::stripe::{
    IntentPhase, IntentStateSnapshot, Transition, UpdateKind, WebhookError, apply, reconcile,
};
use serde_json::{Value, json};

use super::support::stripe_fake::StripeFake;
use super::{charge, method};

#[tokio::test]
async fn partial_then_full_refund_then_refusals() {
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    let paid = stripe
        .settle(&charge(1250), "ch_1", &json!({"spt": "spt_success_r"}))
        .await
        .unwrap();

    let partial = stripe
        .refund(&paid.reference, Some(500), "refund-1")
        .await
        .unwrap();
    assert!(partial.reference.starts_with("re_"));
    assert_eq!(partial.amount_minor, 500);
    // The same idempotency key replays the first refund.
    let replay = stripe
        .refund(&paid.reference, Some(500), "refund-1")
        .await
        .unwrap();
    assert_eq!(replay, partial);
    assert_eq!(fake.refunds_created(), 1);

    let over = stripe.refund(&paid.reference, Some(5000), "refund-2").await;
    let Err(SettleError::Refused { code, .. }) = over else {
        panic!("{over:?}")
    };
    assert_eq!(code, "amount_too_large");

    let rest = stripe
        .refund(&paid.reference, None, "refund-3")
        .await
        .unwrap();
    assert_eq!(rest.amount_minor, 750);
    let again = stripe.refund(&paid.reference, Some(1), "refund-4").await;
    let Err(SettleError::Refused { code, .. }) = again else {
        panic!("{again:?}")
    };
    assert_eq!(code, "charge_already_refunded");
    assert_eq!(fake.refunds_created(), 2);
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.path, "/v1/refunds");
    assert_eq!(last.param("payment_intent"), Some(paid.reference.as_str()));
    assert_eq!(last.idempotency_key.as_deref(), Some("refund-4"));
}

#[tokio::test]
async fn signed_webhooks_verify_and_tampered_or_stale_ones_do_not() {
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    let now = chrono::Utc::now().timestamp();
    let object = json!({"id": "pi_1", "object": "payment_intent", "status": "succeeded",
                        "metadata": {"intent_id": "payint_1", "challenge_id": "ch_1"}});
    let (body, header) = fake.signed_event("payment_intent.succeeded", object.clone());
    assert_eq!(
        stripe.verify_webhook(body.as_bytes(), &header, now, 300),
        Ok(())
    );
    let tampered = body.replace("pi_1", "pi_2");
    assert_eq!(
        stripe.verify_webhook(tampered.as_bytes(), &header, now, 300),
        Err(WebhookError::Mismatch)
    );
    let (old_body, old_header) =
        fake.signed_event_at(now - 3600, "payment_intent.succeeded", object);
    assert_eq!(
        stripe.verify_webhook(old_body.as_bytes(), &old_header, now, 300),
        Err(WebhookError::Stale)
    );
    let update = reconcile(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    assert_eq!(
        update.kind,
        UpdateKind::Succeeded {
            reference: "pi_1".into()
        }
    );
    assert_eq!(update.intent_id.as_deref(), Some("payint_1"));
}

#[tokio::test]
async fn webhooks_from_a_real_settlement_converge_in_any_order() {
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    let paid = stripe
        .settle(&charge(1000), "ch_1", &json!({"spt": "spt_success_w"}))
        .await
        .unwrap();
    stripe
        .refund(&paid.reference, Some(400), "r-1")
        .await
        .unwrap();
    let intent = fake.payment_intent(&paid.reference).unwrap();
    let charge_object = json!({"id": intent["latest_charge"], "object": "charge", "amount": 1000,
        "amount_refunded": 400, "payment_intent": paid.reference, "metadata": intent["metadata"]});
    let events: Vec<_> = [
        fake.signed_event("payment_intent.succeeded", intent.clone()),
        fake.signed_event("charge.refunded", charge_object),
        fake.signed_event("payment_intent.succeeded", intent),
    ]
    .into_iter()
    .map(|(body, _)| reconcile(&serde_json::from_str(&body).unwrap()).unwrap())
    .collect();
    let start = IntentStateSnapshot {
        phase: IntentPhase::Processing,
        amount_minor: 1000,
        refunded_minor: 0,
        reference: None,
        disputed: false,
        processing_challenge_id: Some("ch_1".into()),
    };
    let fold = |order: &[usize]| {
        order
            .iter()
            .fold(start.clone(), |state, i| match apply(&state, &events[*i]) {
                Some(transition) => state.after(&transition),
                None => state,
            })
    };
    let expected = fold(&[0, 1, 2]);
    assert_eq!(expected.phase, IntentPhase::PartiallyRefunded);
    assert_eq!(expected.reference.as_deref(), Some(paid.reference.as_str()));
    for order in [[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
        assert_eq!(fold(&order), expected, "{order:?}");
    }
    assert!(matches!(
        apply(&start, &events[1]),
        Some(Transition::Refunded { full: false, .. })
    ));
}

/// A `Write` that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_token_or_key_reaches_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let fake = StripeFake::start().await;
    let stripe = method(&fake);
    for (challenge, spt) in [
        ("ch_1", "spt_success_log"),
        ("ch_2", "spt_decline_log"),
        ("ch_3", "spt_unknown_log"),
        ("ch_4", "spt_fail_5xx_once_log"),
        ("ch_5", "spt_success_log"),
    ] {
        let _ = stripe
            .settle(&charge(300), challenge, &json!({"spt": spt}))
            .await;
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("stripe"), "logging was captured: {logs}");
    for secret in ["_log", fake.secret_key(), fake.webhook_secret()] {
        assert!(!logs.contains(secret), "{secret} in logs:\n{logs}");
    }
}
