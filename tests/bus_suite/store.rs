//! Store tests: the same cases against the embedded SQLite store and the PostgreSQL store
//! (a fresh database per test on the machine's server), each with two handles on one
//! database (two SQLite connections to one file, two PostgreSQL pools) standing for two
//! instances.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use omnibridge::payments::intent::{IntentState, PaymentIntent, TransitionPatch};
use omnibridge::payments::store::{
    BeginOutcome, Companions, InsertOutcome, IntentKey, PaymentStore, SpendCheck,
};
use omnibridge::sqlite::{Database, Durability};
use omnibridge::store::postgres::{PgOptions, PgStore};
use omnibridge::store::sqlite::SqliteStore;
use omnibridge::store::{IdempotentResponse, OutboxOutcome, OutboxRecord, OutboxState, Store};
use omnibridge::templates::versions::{TemplateKey, TemplateStore};
use omnibridge_sdk::{ChannelKind, ConversationId, ConversationRef, OutboundId, Timestamp};

/// Two handles on one store (two instances' view) and what must outlive them.
pub(crate) struct Stores {
    pub(crate) one: Arc<dyn Store>,
    pub(crate) two: Arc<dyn Store>,
    pub(crate) payments: [Arc<dyn PaymentStore>; 2],
    pub(crate) templates: [Arc<dyn TemplateStore>; 2],
    _guard: Box<dyn std::any::Any + Send>,
}

/// Two SQLite connections to one file.
pub(crate) async fn sqlite_stores() -> Stores {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Arc::new(SqliteStore::new(
            Database::open(dir.path().join("store.db"), Durability::Normal).unwrap(),
        ))
    };
    let (one, two) = (open(), open());
    Stores {
        one: one.clone(),
        two: two.clone(),
        payments: [one.clone(), two.clone()],
        templates: [one, two],
        _guard: Box::new(dir),
    }
}

/// Two pools on one fresh PostgreSQL database (migrated by the first).
pub(crate) async fn postgres_stores() -> Stores {
    let database = crate::support::postgres::PgDatabase::create();
    let options = PgOptions {
        max_connections: 8,
        connect_timeout: Duration::from_secs(10),
    };
    let one = Arc::new(PgStore::connect(&database.url(), &options).await.unwrap());
    assert_eq!(
        one.migrate().await.unwrap(),
        1,
        "a fresh database takes every migration"
    );
    let two = Arc::new(PgStore::connect(&database.url(), &options).await.unwrap());
    assert_eq!(two.migrate().await.unwrap(), 0, "and a migrated one none");
    Stores {
        one: one.clone(),
        two: two.clone(),
        payments: [one.clone(), two.clone()],
        templates: [one, two],
        _guard: Box::new(database),
    }
}

fn at(secs: i64) -> Timestamp {
    Utc.timestamp_opt(1_700_000_000 + secs, 123_456_789)
        .unwrap()
}

async fn touch(store: &dyn Store, id: &str, secs: i64, inbound: bool) {
    store
        .touch_conversation(
            &ConversationId::new(id),
            "wa-main",
            &ChannelKind::new("whatsapp").unwrap(),
            &ConversationRef::new("acct", id),
            at(secs),
            inbound.then(|| at(secs)),
        )
        .await
        .unwrap();
}

fn record(id: &str, created: Timestamp) -> OutboxRecord {
    OutboxRecord {
        id: OutboundId::new(id),
        conversation_id: ConversationId::new("c"),
        message: serde_json::json!({"text": id}),
        attempts: 0,
        state: OutboxState::Pending,
        last_error: None,
        created_at: created,
    }
}

pub(crate) async fn touch_conversation_never_moves_times_backwards(s: Stores) {
    let store = s.one.clone();
    let id = ConversationId::new("c1");
    assert!(store.conversation(&id).await.unwrap().is_none());
    touch(&*store, "c1", 20, true).await;
    touch(&*store, "c1", 10, true).await;
    let c = store.conversation(&id).await.unwrap().unwrap();
    assert_eq!(
        (c.created_at, c.last_event_at, c.last_inbound_at),
        (at(20), at(20), Some(at(20)))
    );
    assert_eq!(c.channel_id, "wa-main");
    assert_eq!(c.conversation, ConversationRef::new("acct", "c1"));
    touch(&*store, "c1", 30, false).await;
    let c = store.conversation(&id).await.unwrap().unwrap();
    assert_eq!((c.last_event_at, c.last_inbound_at), (at(30), Some(at(20))));
    touch(&*store, "c2", 5, false).await;
    let c2 = store
        .conversation(&ConversationId::new("c2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c2.last_inbound_at, None);
}

pub(crate) async fn activity_times_are_kept_to_the_second(s: Stores) {
    let store = s.one.clone();
    let id = ConversationId::new("busy");
    let kind = ChannelKind::new("whatsapp").unwrap();
    let touch_at = |offset_ms: i64, inbound: bool| {
        let store = store.clone();
        let id = id.clone();
        let kind = kind.clone();
        async move {
            let when = at(10) + chrono::Duration::milliseconds(offset_ms);
            store
                .touch_conversation(
                    &id,
                    "wa-main",
                    &kind,
                    &ConversationRef::new("acct", "busy"),
                    when,
                    inbound.then_some(when),
                )
                .await
                .unwrap();
            let c = store.conversation(&id).await.unwrap().unwrap();
            (c.last_event_at, c.last_inbound_at)
        }
    };
    let ms = |offset_ms: i64| at(10) + chrono::Duration::milliseconds(offset_ms);
    assert_eq!(touch_at(0, false).await, (ms(0), None));
    // A customer's first message is written at once, whatever the resolution.
    assert_eq!(touch_at(300, true).await, (ms(300), Some(ms(300))));
    // Within a second of the stored times: not rewritten.
    assert_eq!(touch_at(900, true).await, (ms(300), Some(ms(300))));
    // A second after them: both move.
    assert_eq!(touch_at(1_300, true).await, (ms(1_300), Some(ms(1_300))));
    assert_eq!(touch_at(2_299, false).await, (ms(1_300), Some(ms(1_300))));
    assert_eq!(touch_at(2_300, false).await, (ms(2_300), Some(ms(1_300))));

    let t0 = at(100);
    let seen = |offset_ms: i64, name: Option<&str>| {
        let store = store.clone();
        let id = id.clone();
        let mut person = omnibridge_sdk::Participant::customer("u1");
        if let Some(name) = name {
            person = person.named(name);
        }
        async move {
            store
                .touch_participants(
                    &id,
                    &[person],
                    t0 + chrono::Duration::milliseconds(offset_ms),
                )
                .await
                .unwrap();
            let people = store.participants(&id).await.unwrap();
            assert_eq!(people.len(), 1);
            let p = &people[0];
            (
                (p.last_seen_at - t0).num_milliseconds(),
                p.display_name.clone(),
            )
        }
    };
    assert_eq!(seen(0, None).await, (0, None));
    assert_eq!(seen(500, None).await, (0, None));
    // A new name is written at once (with the time it came).
    assert_eq!(seen(600, Some("Ada")).await, (600, Some("Ada".to_owned())));
    assert_eq!(seen(700, Some("Ada")).await, (600, Some("Ada".to_owned())));
    assert_eq!(seen(1_600, None).await, (1_600, Some("Ada".to_owned())));
}

pub(crate) async fn list_conversations_pages_newest_first(s: Stores) {
    let store = s.one.clone();
    for (id, secs) in [("a", 1), ("b", 2), ("c", 3), ("d", 3), ("e", 5)] {
        touch(&*store, id, secs, true).await;
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_conversations(cursor.clone(), 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        let last = page.last().unwrap();
        cursor = Some((last.last_event_at, last.id.clone()));
        seen.extend(page.into_iter().map(|c| c.id.as_str().to_owned()));
    }
    assert_eq!(seen, ["e", "d", "c", "b", "a"]);
}

pub(crate) async fn outbox_lease_retry_and_finish(s: Stores) {
    let store = s.one.clone();
    let now = Utc::now();
    let lease = Duration::from_secs(30);
    store.enqueue_outbound(&record("o1", now)).await.unwrap();
    assert_eq!(store.outbox_depth().await.unwrap(), 1);

    let leased = store.lease_due_outbound(now, lease, 10).await.unwrap();
    assert_eq!(leased, vec![record("o1", now)]);
    assert!(
        store
            .lease_due_outbound(now, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased once"
    );
    let later = now + chrono::Duration::seconds(29);
    assert!(
        store
            .lease_due_outbound(later, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The worker died: after the lease runs out the record is due again.
    let expired = now + chrono::Duration::seconds(31);
    assert_eq!(
        store
            .lease_due_outbound(expired, lease, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let retry_at = now + chrono::Duration::seconds(120);
    let outcome = OutboxOutcome::Retry {
        at: retry_at,
        error: "429".to_owned(),
    };
    store
        .finish_outbound(&OutboundId::new("o1"), outcome)
        .await
        .unwrap();
    let r = store
        .outbound(&OutboundId::new("o1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.attempts, r.state, r.last_error.as_deref()),
        (1, OutboxState::Pending, Some("429"))
    );
    let before = now + chrono::Duration::seconds(119);
    assert!(
        store
            .lease_due_outbound(before, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "retry moves due"
    );
    assert_eq!(
        store
            .lease_due_outbound(retry_at, lease, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    store
        .finish_outbound(&OutboundId::new("o1"), OutboxOutcome::Sent)
        .await
        .unwrap();
    let r = store
        .outbound(&OutboundId::new("o1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.attempts, r.state), (2, OutboxState::Sent));
    assert_eq!(store.outbox_depth().await.unwrap(), 0);
    let far = now + chrono::Duration::days(1);
    assert!(
        store
            .lease_due_outbound(far, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );

    store.enqueue_outbound(&record("o2", now)).await.unwrap();
    let dead = OutboxOutcome::Dead {
        error: "blocked".to_owned(),
    };
    store
        .finish_outbound(&OutboundId::new("o2"), dead)
        .await
        .unwrap();
    let r = store
        .outbound(&OutboundId::new("o2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.attempts, r.state), (1, OutboxState::Dead));
    assert!(
        store
            .outbound(&OutboundId::new("nope"))
            .await
            .unwrap()
            .is_none()
    );
}

pub(crate) async fn concurrent_leases_never_overlap_across_databases(s: Stores) {
    let (store, other) = (s.one.clone(), s.two.clone());
    let now = Utc::now();
    for i in 0..40 {
        store
            .enqueue_outbound(&record(&format!("o{i:02}"), now))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let s = if worker % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            s.lease_due_outbound(now, Duration::from_secs(60), 7)
                .await
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap().into_iter().map(|r| r.id));
    }
    let unique: HashSet<_> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "a record leased twice");
    assert_eq!(ids.len(), 40);
}

pub(crate) async fn idempotency_first_writer_wins(s: Stores) {
    let store = s.one.clone();
    assert!(
        store
            .idempotent_response("key-a", "k1")
            .await
            .unwrap()
            .is_none()
    );
    let response = |n: u16| IdempotentResponse {
        fingerprint: format!("POST /v1/messages {n}"),
        status: 200 + n,
        body: serde_json::json!({"n": n}),
    };
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let store = store.clone();
            let r = response(n);
            tokio::spawn(async move { store.save_idempotent_response("key-a", "k1", &r).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "concurrent retries agree"
    );
    assert_eq!(
        store
            .idempotent_response("key-a", "k1")
            .await
            .unwrap()
            .as_ref(),
        Some(&answers[0])
    );
    let other_scope = store
        .save_idempotent_response("key-b", "k1", &response(7))
        .await
        .unwrap();
    assert_eq!(other_scope, response(7));
}

pub(crate) async fn dead_letters_are_kept_by_kind(s: Stores) {
    let store = s.one.clone();
    let payload = serde_json::json!({"seq": 1});
    store
        .record_dead_letter("webhook", "ev_1", &payload, "HTTP 500")
        .await
        .unwrap();
    store
        .record_dead_letter("webhook", "ev_2", &payload, "timeout")
        .await
        .unwrap();
    store
        .record_dead_letter("other", "x", &payload, "nope")
        .await
        .unwrap();
    let letters = store.dead_letters("webhook").await.unwrap();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0]["reference"], "ev_1");
    assert_eq!(letters[0]["payload"], payload);
    assert_eq!(letters[1]["error"], "timeout");
    assert!(store.dead_letters("none").await.unwrap().is_empty());
    store.ping().await.unwrap();
}

pub(crate) async fn participants_are_kept_once_with_the_newest_name(s: Stores) {
    let store = s.one.clone();
    let conv = ConversationId::new("cv_people");
    let t0 = chrono::Utc::now();
    let anon = omnibridge_sdk::Participant::with_role(omnibridge_sdk::Role::Customer);
    store
        .touch_participants(
            &conv,
            &[omnibridge_sdk::Participant::customer("u1"), anon],
            t0,
        )
        .await
        .unwrap();
    let named = omnibridge_sdk::Participant::customer("u1").named("Ada");
    store
        .touch_participants(&conv, &[named], t0 + chrono::Duration::seconds(5))
        .await
        .unwrap();
    store
        .touch_participants(
            &conv,
            &[omnibridge_sdk::Participant::customer("u1")],
            t0 - chrono::Duration::seconds(5),
        )
        .await
        .unwrap();
    let people = store.participants(&conv).await.unwrap();
    assert_eq!(
        people.len(),
        1,
        "participants without an id are not recorded"
    );
    assert_eq!(people[0].id, "u1");
    assert_eq!(people[0].display_name.as_deref(), Some("Ada"));
    assert_eq!(people[0].first_seen_at, t0);
    assert_eq!(people[0].last_seen_at, t0 + chrono::Duration::seconds(5));
}

pub(crate) async fn channel_state_is_per_channel_batched_and_pruned_by_prefix_and_age(s: Stores) {
    let store = s.one.clone();
    store
        .set_channel_states(
            "mail",
            &[
                ("raw:a".to_owned(), b"1".to_vec()),
                ("raw:b".to_owned(), b"2".to_vec()),
                ("thread:x".to_owned(), b"3".to_vec()),
            ],
        )
        .await
        .unwrap();
    store
        .set_channel_state("other", "raw:a", Some(b"9"))
        .await
        .unwrap();
    assert_eq!(
        store
            .channel_state("mail", "raw:b")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(
        store
            .channel_state("other", "raw:a")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"9"[..])
    );
    let an_hour_ago = Utc::now() - chrono::Duration::hours(1);
    assert_eq!(
        store
            .prune_channel_state("mail", "raw:", an_hour_ago)
            .await
            .unwrap(),
        0,
        "nothing that old"
    );
    let soon = Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(
        store
            .prune_channel_state("mail", "raw:", soon)
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.channel_state("mail", "raw:a").await.unwrap(), None);
    assert!(
        store
            .channel_state("mail", "thread:x")
            .await
            .unwrap()
            .is_some(),
        "other prefix kept"
    );
    assert!(
        store
            .channel_state("other", "raw:a")
            .await
            .unwrap()
            .is_some(),
        "other channel kept"
    );
    store
        .set_channel_state("mail", "thread:x", None)
        .await
        .unwrap();
    assert_eq!(store.channel_state("mail", "thread:x").await.unwrap(), None);
}

pub(crate) async fn a_lease_has_one_holder_across_databases_until_given_up_or_run_out(s: Stores) {
    let (one, two) = (s.one.clone(), s.two.clone());
    let long = Duration::from_secs(60);
    assert!(one.acquire_lease("listen:tg", "a", long).await.unwrap());
    assert!(!two.acquire_lease("listen:tg", "b", long).await.unwrap());
    assert!(
        one.acquire_lease("listen:tg", "a", long).await.unwrap(),
        "renewed"
    );
    assert!(
        two.acquire_lease("listen:imap", "b", long).await.unwrap(),
        "per name"
    );
    // Giving up frees it at once; only the holder can.
    two.release_lease("listen:tg", "b").await.unwrap();
    assert!(!two.acquire_lease("listen:tg", "b", long).await.unwrap());
    one.release_lease("listen:tg", "a").await.unwrap();
    assert!(two.acquire_lease("listen:tg", "b", long).await.unwrap());
    // A holder that stops renewing loses it when it runs out.
    assert!(
        one.acquire_lease("listen:x", "a", Duration::from_millis(50))
            .await
            .unwrap()
    );
    assert!(!two.acquire_lease("listen:x", "b", long).await.unwrap());
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(two.acquire_lease("listen:x", "b", long).await.unwrap());
    assert!(!one.acquire_lease("listen:x", "a", long).await.unwrap());
}

fn intent(id: &str, conversation: &str, amount: i64) -> PaymentIntent {
    let now = Utc::now();
    PaymentIntent {
        id: id.to_owned(),
        conversation_id: ConversationId::new(conversation),
        amount,
        currency: "EUR".to_owned(),
        description: "Order".to_owned(),
        external_id: None,
        locale: "en".to_owned(),
        expires_at: now + chrono::Duration::hours(1),
        metadata: Some(serde_json::json!({"order": id})),
        state: IntentState::RequiresConfirmation,
        refunded_minor: 0,
        method: None,
        reference: None,
        settled_at: None,
        created_at: now,
        updated_at: now,
    }
}

pub(crate) async fn racing_payers_on_one_intent_start_one_confirmation(s: Stores) {
    let [one, two] = s.payments.clone();
    let created = one
        .insert_intent(&intent("pi_race", "c", 1250), None, None)
        .await
        .unwrap();
    assert!(matches!(created, InsertOutcome::Created(_)), "{created:?}");
    let expires = Utc::now() + chrono::Duration::minutes(5);
    let mut tasks = Vec::new();
    for payer in 0..50 {
        let store = if payer % 2 == 0 {
            one.clone()
        } else {
            two.clone()
        };
        tasks.push(tokio::spawn(async move {
            let challenge = format!("ch-{payer}");
            store
                .begin_confirmation("pi_race", &challenge, expires, &Companions::default())
                .await
                .unwrap()
                .0
        }));
    }
    let mut started = 0;
    for task in tasks {
        match task.await.unwrap() {
            BeginOutcome::Started(intent) => {
                started += 1;
                assert_eq!(intent.state, IntentState::Processing);
            }
            BeginOutcome::NotConfirmable(IntentState::Processing) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, 1, "one of 50 racing payers settles");
    let stored = two.intent("pi_race").await.unwrap().unwrap();
    assert_eq!(
        (stored.state, stored.amount),
        (IntentState::Processing, 1250)
    );
    assert_eq!(
        stored.metadata,
        Some(serde_json::json!({"order": "pi_race"}))
    );
}

pub(crate) async fn a_challenge_is_consumed_once_across_instances(s: Stores) {
    let [one, two] = s.payments.clone();
    for id in ["pi_a", "pi_b"] {
        one.insert_intent(&intent(id, "c", 500), None, None)
            .await
            .unwrap();
    }
    let expires = Utc::now() + chrono::Duration::minutes(5);
    let mut tasks = Vec::new();
    for submission in 0..40 {
        let store = if submission % 2 == 0 {
            one.clone()
        } else {
            two.clone()
        };
        let target = if submission % 3 == 0 { "pi_b" } else { "pi_a" };
        tasks.push(tokio::spawn(async move {
            store
                .begin_confirmation(target, "ch-shared", expires, &Companions::default())
                .await
                .unwrap()
                .0
        }));
    }
    let mut started = 0;
    for task in tasks {
        match task.await.unwrap() {
            BeginOutcome::Started(_) => started += 1,
            BeginOutcome::ChallengeUsed | BeginOutcome::NotConfirmable(IntentState::Processing) => {
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        started, 1,
        "one credential settles once, whichever intent it names"
    );
    let moved = two
        .transition(
            "pi_a",
            IntentState::Processing,
            IntentState::Succeeded,
            TransitionPatch {
                method: Some("stripe".to_owned()),
                reference: Some("pi_ref_1".to_owned()),
                settled_at: Some(Utc::now()),
            },
        )
        .await
        .unwrap();
    let processing = [
        one.intent("pi_a").await.unwrap(),
        one.intent("pi_b").await.unwrap(),
    ];
    let in_processing = processing
        .iter()
        .flatten()
        .filter(|i| i.state == IntentState::Processing)
        .count();
    assert_eq!(in_processing + usize::from(moved.is_some()), 1);
    if moved.is_some() {
        let found = one.intent_by_reference("pi_ref_1").await.unwrap().unwrap();
        assert_eq!(found.id, "pi_a");
        assert!(one.mark_disputed("pi_a").await.unwrap());
        assert!(!two.mark_disputed("pi_a").await.unwrap(), "announced once");
        let refunded = two.record_refund("pi_a", 0, 200).await.unwrap().unwrap();
        assert_eq!(
            (refunded.state, refunded.refunded_minor),
            (IntentState::PartiallyRefunded, 200)
        );
        assert!(
            one.record_refund("pi_a", 0, 200).await.unwrap().is_none(),
            "stale total"
        );
    }
}

pub(crate) async fn concurrent_creates_under_one_key_create_once_within_the_daily_limit(s: Stores) {
    let [one, two] = s.payments.clone();
    let key = IntentKey {
        scope: "ops:/v1/payment_intents".to_owned(),
        key: "order-7".to_owned(),
        fingerprint: "fp-1".to_owned(),
    };
    let mut tasks = Vec::new();
    for attempt in 0..20 {
        let store = if attempt % 2 == 0 {
            one.clone()
        } else {
            two.clone()
        };
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            store
                .insert_intent(
                    &intent(&format!("pi_k{attempt}"), "c", 100),
                    Some(&key),
                    None,
                )
                .await
                .unwrap()
        }));
    }
    let mut created = Vec::new();
    let mut existing = HashSet::new();
    for task in tasks {
        match task.await.unwrap() {
            InsertOutcome::Created(intent) => created.push(intent.id),
            InsertOutcome::Existing(intent) => {
                existing.insert(intent.id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created.len(), 1, "one intent per idempotency key");
    assert!(existing.iter().all(|id| *id == created[0]), "{existing:?}");
    let conflict = KeyConflict(
        one.insert_intent(
            &intent("pi_other", "c", 100),
            Some(&IntentKey {
                fingerprint: "fp-2".to_owned(),
                ..key
            }),
            None,
        )
        .await,
    );
    assert!(conflict.is_conflict(), "same key, another request");

    let check = SpendCheck {
        key_name: "agent".to_owned(),
        currency: "EUR".to_owned(),
        per_key_limit: Some(1000),
        per_conversation_limit: None,
        since: Utc::now() - chrono::Duration::hours(24),
    };
    let mut tasks = Vec::new();
    for attempt in 0..10 {
        let store = if attempt % 2 == 0 {
            one.clone()
        } else {
            two.clone()
        };
        let check = check.clone();
        tasks.push(tokio::spawn(async move {
            store
                .insert_intent(
                    &intent(&format!("pi_s{attempt}"), "c2", 300),
                    None,
                    Some(&check),
                )
                .await
                .unwrap()
        }));
    }
    let (mut made, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            InsertOutcome::Created(_) => made += 1,
            InsertOutcome::OverLimit(refusal) => {
                refused += 1;
                assert_eq!(
                    (refusal.limit, refusal.remaining_minor),
                    ("daily_limit.per_key", 100)
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        (made, refused),
        (3, 7),
        "concurrent creates never exceed the daily limit"
    );
    let listed = two
        .intents_for(&ConversationId::new("c2"), 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
}

/// The outcome of a create expected to conflict.
struct KeyConflict(Result<InsertOutcome, omnibridge::store::StoreError>);

impl KeyConflict {
    fn is_conflict(&self) -> bool {
        matches!(
            self.0,
            Err(omnibridge::store::StoreError::IdempotencyConflict)
        )
    }
}

pub(crate) async fn overdue_and_processing_intents_are_found_for_the_sweeps(s: Stores) {
    let [one, two] = s.payments.clone();
    let mut late = intent("pi_late", "c", 100);
    late.expires_at = Utc::now() - chrono::Duration::minutes(1);
    one.insert_intent(&late, None, None).await.unwrap();
    one.insert_intent(&intent("pi_fresh", "c", 100), None, None)
        .await
        .unwrap();
    assert_eq!(
        two.overdue_intents(Utc::now(), 10).await.unwrap(),
        vec!["pi_late".to_owned()]
    );
    let expires = Utc::now() + chrono::Duration::minutes(5);
    one.begin_confirmation("pi_fresh", "ch-x", expires, &Companions::default())
        .await
        .unwrap();
    let soon = Utc::now() + chrono::Duration::seconds(1);
    let processing = two.processing_intents(soon, 10).await.unwrap();
    assert_eq!(processing.len(), 1);
    assert_eq!(processing[0].id, "pi_fresh");
    let past = Utc::now() - chrono::Duration::minutes(1);
    assert!(two.processing_intents(past, 10).await.unwrap().is_empty());
}

pub(crate) async fn template_versions_are_numbered_once_and_publishing_moves_the_generation(
    s: Stores,
) {
    let [one, two] = s.templates.clone();
    let key = TemplateKey::parse("default", "en", "payment_request").unwrap();
    let mut tasks = Vec::new();
    for edit in 0..10 {
        let store = if edit % 2 == 0 {
            one.clone()
        } else {
            two.clone()
        };
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let parts = [(String::new(), format!("Pay {{{{amount}}}} ({edit})"))].into();
            store
                .add_template_version(&key, &parts, "lead", "edit")
                .await
                .unwrap()
                .version
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=10).collect::<Vec<u32>>(),
        "distinct numbers under concurrency"
    );
    assert_eq!(two.template_versions(&key).await.unwrap().len(), 10);
    let start = one.templates_generation().await.unwrap();
    assert!(
        one.publish_template(&key, 99, "lead")
            .await
            .unwrap()
            .is_none(),
        "no such version"
    );
    let published = one
        .publish_template(&key, 3, "lead")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(published.version, 3);
    let after_publish = two.templates_generation().await.unwrap();
    assert!(after_publish > start, "{start} -> {after_publish}");
    let live = two.published_templates().await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(
        live[0],
        one.template_version(&key, 3).await.unwrap().unwrap()
    );
    let stored = two.stored_templates().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].1.as_ref().map(|p| p.version), stored[0].2),
        (Some(3), 10)
    );
    assert!(two.unpublish_template(&key, "lead").await.unwrap());
    assert!(
        !one.unpublish_template(&key, "lead").await.unwrap(),
        "already the file"
    );
    assert!(one.templates_generation().await.unwrap() > after_publish);
    assert!(one.published_templates().await.unwrap().is_empty());
    assert_eq!(one.stored_templates().await.unwrap()[0].1, None);
}

/// Runs every case against one backend's [`Stores`].
macro_rules! store_suite {
    ($backend:ident, $make:path) => {
        mod $backend {
            store_suite!(@cases $make,
                touch_conversation_never_moves_times_backwards,
                activity_times_are_kept_to_the_second,
                list_conversations_pages_newest_first,
                outbox_lease_retry_and_finish,
                concurrent_leases_never_overlap_across_databases,
                idempotency_first_writer_wins,
                dead_letters_are_kept_by_kind,
                participants_are_kept_once_with_the_newest_name,
                channel_state_is_per_channel_batched_and_pruned_by_prefix_and_age,
                a_lease_has_one_holder_across_databases_until_given_up_or_run_out,
                racing_payers_on_one_intent_start_one_confirmation,
                a_challenge_is_consumed_once_across_instances,
                concurrent_creates_under_one_key_create_once_within_the_daily_limit,
                overdue_and_processing_intents_are_found_for_the_sweeps,
                template_versions_are_numbered_once_and_publishing_moves_the_generation,
            );
        }
    };
    (@cases $make:path, $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case($make().await).await;
            }
        )*
    };
}

store_suite!(sqlite, super::sqlite_stores);
store_suite!(postgres, super::postgres_stores);
