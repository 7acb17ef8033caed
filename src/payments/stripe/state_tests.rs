use super::*;

fn update(kind: UpdateKind, payment_intent: &str, n: u32) -> StripeUpdate {
    StripeUpdate {
        intent_id: Some("payint_1".into()),
        payment_intent: Some(payment_intent.into()),
        challenge_id: Some("ch_1".into()),
        kind,
        event_id: format!("evt_{n}"),
        created: 1_700_000_000 + i64::from(n),
    }
}

fn succeeded(n: u32) -> StripeUpdate {
    update(
        UpdateKind::Succeeded {
            reference: "pi_1".into(),
        },
        "pi_1",
        n,
    )
}

fn failed(n: u32) -> StripeUpdate {
    let kind = UpdateKind::Failed {
        code: "card_declined".into(),
        message: "declined".into(),
    };
    update(kind, "pi_1", n)
}

fn refunded(total: i64, n: u32) -> StripeUpdate {
    update(
        UpdateKind::Refunded {
            amount_refunded_total: total,
        },
        "pi_1",
        n,
    )
}

fn disputed(n: u32) -> StripeUpdate {
    update(
        UpdateKind::Disputed {
            reason: "fraudulent".into(),
        },
        "pi_1",
        n,
    )
}

fn processing() -> IntentStateSnapshot {
    IntentStateSnapshot {
        phase: IntentPhase::Processing,
        amount_minor: 1000,
        refunded_minor: 0,
        reference: None,
        disputed: false,
        processing_challenge_id: Some("ch_1".into()),
    }
}

/// Applies updates in order, as the engine would, and returns the final snapshot.
fn fold(start: &IntentStateSnapshot, updates: &[&StripeUpdate]) -> IntentStateSnapshot {
    updates
        .iter()
        .fold(start.clone(), |state, update| match apply(&state, update) {
            Some(transition) => state.after(&transition),
            None => state,
        })
}

/// Every order of `items` (Heap's algorithm).
fn permutations<'a, T>(items: &[&'a T]) -> Vec<Vec<&'a T>> {
    fn go<'a, T>(k: usize, items: &mut Vec<&'a T>, out: &mut Vec<Vec<&'a T>>) {
        if k <= 1 {
            out.push(items.clone());
            return;
        }
        for i in 0..k {
            go(k - 1, items, out);
            items.swap(if k.is_multiple_of(2) { i } else { 0 }, k - 1);
        }
    }
    let mut out = Vec::new();
    go(items.len(), &mut items.to_vec(), &mut out);
    out
}

fn assert_converges(updates: &[&StripeUpdate], expected: &IntentStateSnapshot) {
    let orders = permutations(updates);
    assert!(orders.len() > 1);
    for order in orders {
        let ids: Vec<&str> = order.iter().map(|u| u.event_id.as_str()).collect();
        assert_eq!(&fold(&processing(), &order), expected, "order {ids:?}");
    }
}

#[test]
fn success_and_failure_of_the_same_attempt_end_succeeded_in_any_order() {
    let expected = IntentStateSnapshot {
        phase: IntentPhase::Succeeded,
        reference: Some("pi_1".into()),
        processing_challenge_id: None,
        ..processing()
    };
    assert_converges(&[&succeeded(1), &failed(2), &succeeded(3)], &expected);
}

#[test]
fn every_order_of_success_failure_refunds_dispute_and_duplicates_converges() {
    let expected = IntentStateSnapshot {
        phase: IntentPhase::Refunded,
        refunded_minor: 1000,
        reference: Some("pi_1".into()),
        disputed: true,
        processing_challenge_id: None,
        ..processing()
    };
    let updates = [
        succeeded(1),
        failed(2),
        refunded(300, 3),
        refunded(1000, 4),
        disputed(5),
        succeeded(6),
        refunded(300, 7),
    ];
    assert_converges(&updates.iter().collect::<Vec<_>>(), &expected);
}

#[test]
fn partial_refunds_converge_to_the_largest_total() {
    let expected = IntentStateSnapshot {
        phase: IntentPhase::PartiallyRefunded,
        refunded_minor: 700,
        reference: Some("pi_1".into()),
        processing_challenge_id: None,
        ..processing()
    };
    let updates = [
        succeeded(1),
        refunded(300, 2),
        refunded(700, 3),
        refunded(700, 4),
        failed(5),
    ];
    assert_converges(&updates.iter().collect::<Vec<_>>(), &expected);
}

#[test]
fn a_failure_reopens_only_the_attempt_under_way() {
    let reopened = fold(&processing(), &[&failed(1)]);
    assert_eq!(reopened.phase, IntentPhase::RequiresConfirmation);
    assert_eq!(reopened.processing_challenge_id, None);
    assert_eq!(apply(&reopened, &failed(2)), None, "duplicate failure");
    let mut next_attempt = processing();
    next_attempt.processing_challenge_id = Some("ch_2".into());
    assert_eq!(
        apply(&next_attempt, &failed(3)),
        None,
        "late failure of an older attempt"
    );
    let done = fold(&processing(), &[&succeeded(4)]);
    assert_eq!(apply(&done, &failed(5)), None, "failure after success");
}

#[test]
fn an_early_refund_settles_and_a_late_success_only_adds_nothing() {
    let state = fold(&processing(), &[&refunded(1000, 1)]);
    assert_eq!(state.phase, IntentPhase::Refunded);
    assert_eq!(state.reference.as_deref(), Some("pi_1"));
    assert_eq!(apply(&state, &succeeded(2)), None);
    let mut no_reference = refunded(400, 3);
    no_reference.payment_intent = None;
    let state = fold(&processing(), &[&no_reference]);
    assert_eq!(state.reference, None);
    assert_eq!(
        apply(&state, &succeeded(4)),
        Some(Transition::Reference {
            reference: "pi_1".into()
        })
    );
}

#[test]
fn a_second_payment_or_money_on_a_closed_intent_is_a_conflict() {
    let paid = fold(&processing(), &[&succeeded(1)]);
    let other = update(
        UpdateKind::Succeeded {
            reference: "pi_2".into(),
        },
        "pi_2",
        2,
    );
    assert!(matches!(
        apply(&paid, &other),
        Some(Transition::Conflict { .. })
    ));
    let refund_other = update(
        UpdateKind::Refunded {
            amount_refunded_total: 5,
        },
        "pi_2",
        3,
    );
    assert!(matches!(
        apply(&paid, &refund_other),
        Some(Transition::Conflict { .. })
    ));
    for phase in [IntentPhase::Canceled, IntentPhase::Expired] {
        let closed = IntentStateSnapshot {
            phase,
            ..processing()
        };
        let Some(Transition::Conflict { reason }) = apply(&closed, &succeeded(4)) else {
            panic!("no conflict for {phase:?}");
        };
        assert!(reason.contains("evt_4"));
        assert_eq!(closed.after(&Transition::Conflict { reason }), closed);
    }
}
