use serde_json::json;

use super::*;

const SECRET: &[u8] = b"whsec_test_secret";
const NOW: i64 = 1_700_000_000;

fn v1(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn a_good_signature_verifies() {
    let body = br#"{"id":"evt_1"}"#;
    let header = format!("t={NOW},v1={}", v1(SECRET, NOW, body));
    assert_eq!(
        verify_stripe_signature(body, &header, SECRET, NOW + 10, 300),
        Ok(())
    );
}

#[test]
fn tampered_body_or_wrong_secret_is_a_mismatch() {
    let body = br#"{"id":"evt_1"}"#;
    let header = format!("t={NOW},v1={}", v1(SECRET, NOW, body));
    let tampered = br#"{"id":"evt_2"}"#;
    assert_eq!(
        verify_stripe_signature(tampered, &header, SECRET, NOW, 300),
        Err(WebhookError::Mismatch)
    );
    assert_eq!(
        verify_stripe_signature(body, &header, b"whsec_other", NOW, 300),
        Err(WebhookError::Mismatch)
    );
    // The timestamp is signed too: moving it breaks the signature.
    let moved = format!("t={},v1={}", NOW + 1, v1(SECRET, NOW, body));
    assert_eq!(
        verify_stripe_signature(body, &moved, SECRET, NOW, 300),
        Err(WebhookError::Mismatch)
    );
}

#[test]
fn stale_and_future_timestamps_are_refused() {
    let body = b"{}";
    let old = NOW - 301;
    let header = format!("t={old},v1={}", v1(SECRET, old, body));
    assert_eq!(
        verify_stripe_signature(body, &header, SECRET, NOW, 300),
        Err(WebhookError::Stale)
    );
    let future = NOW + 301;
    let header = format!("t={future},v1={}", v1(SECRET, future, body));
    assert_eq!(
        verify_stripe_signature(body, &header, SECRET, NOW, 300),
        Err(WebhookError::Stale)
    );
}

#[test]
fn any_of_several_v1_signatures_may_match_and_v0_is_ignored() {
    let body = b"{\"a\":1}";
    let good = v1(SECRET, NOW, body);
    let rolled = v1(b"whsec_old", NOW, body);
    let header = format!("t={NOW},v1={rolled},v1={good},v0={good}");
    assert_eq!(
        verify_stripe_signature(body, &header, SECRET, NOW, 300),
        Ok(())
    );
    let header = format!("t={NOW}, v1={good}");
    assert_eq!(
        verify_stripe_signature(body, &header, SECRET, NOW, 300),
        Ok(())
    );
    let only_v0 = format!("t={NOW},v0={good}");
    assert_eq!(
        verify_stripe_signature(body, &only_v0, SECRET, NOW, 300),
        Err(WebhookError::NoSignature)
    );
}

#[test]
fn malformed_headers_are_refused() {
    for (header, expected) in [
        ("", WebhookError::NoTimestamp),
        ("garbage", WebhookError::NoTimestamp),
        ("t=abc,v1=00", WebhookError::NoTimestamp),
        ("t=1700000000", WebhookError::NoSignature),
        ("t=1700000000,v1=zz", WebhookError::NoSignature),
        ("t=1700000000,v1=00ff", WebhookError::Mismatch),
    ] {
        assert_eq!(
            verify_stripe_signature(b"{}", header, SECRET, NOW, 300),
            Err(expected),
            "{header}"
        );
    }
}

fn event(kind: &str, object: Value) -> Value {
    json!({"id": "evt_9", "object": "event", "type": kind, "created": NOW,
           "data": {"object": object}})
}

#[test]
fn the_four_events_become_updates() {
    let metadata = json!({"intent_id": "payint_1", "challenge_id": "ch_1"});
    let update = reconcile(&event(
        "payment_intent.succeeded",
        json!({"id": "pi_1", "object": "payment_intent", "status": "succeeded", "metadata": metadata}),
    ))
    .unwrap();
    assert_eq!(update.intent_id.as_deref(), Some("payint_1"));
    assert_eq!(
        update.kind,
        UpdateKind::Succeeded {
            reference: "pi_1".into()
        }
    );
    assert_eq!((update.event_id.as_str(), update.created), ("evt_9", NOW));

    let failed = reconcile(&event(
        "payment_intent.payment_failed",
        json!({"id": "pi_2", "metadata": metadata,
               "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds",
                                      "message": "Your card has insufficient funds."}}),
    ))
    .unwrap();
    let UpdateKind::Failed { code, message } = failed.kind else {
        panic!("not failed")
    };
    assert_eq!(code, "insufficient_funds");
    assert!(message.contains("insufficient funds"));

    let refunded = reconcile(&event(
        "charge.refunded",
        json!({"id": "ch_1", "object": "charge", "amount": 1000, "amount_refunded": 400,
               "payment_intent": "pi_1", "metadata": metadata}),
    ))
    .unwrap();
    assert_eq!(
        refunded.kind,
        UpdateKind::Refunded {
            amount_refunded_total: 400
        }
    );
    assert_eq!(refunded.payment_intent.as_deref(), Some("pi_1"));

    let disputed = reconcile(&event(
        "charge.dispute.created",
        json!({"id": "dp_1", "object": "dispute", "charge": "ch_1",
               "payment_intent": {"id": "pi_1"}, "reason": "fraudulent"}),
    ))
    .unwrap();
    assert_eq!(disputed.intent_id, None);
    assert_eq!(disputed.payment_intent.as_deref(), Some("pi_1"));
    assert_eq!(
        disputed.kind,
        UpdateKind::Disputed {
            reason: "fraudulent".into()
        }
    );
}

#[test]
fn other_events_and_unlinked_objects_are_ignored() {
    assert_eq!(
        reconcile(&event("customer.created", json!({"id": "cus_1"}))),
        None
    );
    assert_eq!(
        reconcile(&json!({"type": "payment_intent.succeeded"})),
        None
    );
    let unlinked = event(
        "charge.refunded",
        json!({"id": "ch_1", "amount_refunded": 5}),
    );
    assert_eq!(reconcile(&unlinked), None);
}
