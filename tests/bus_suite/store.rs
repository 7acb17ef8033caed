//! SQLite store tests.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use omnibridge::sqlite::{Database, Durability};
use omnibridge::store::sqlite::SqliteStore;
use omnibridge::store::{IdempotentResponse, OutboxOutcome, OutboxRecord, OutboxState, Store};
use omnibridge_sdk::{ChannelKind, ConversationId, ConversationRef, OutboundId, Timestamp};

fn store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("store.db"), Durability::Normal).unwrap();
    (SqliteStore::new(db), dir)
}

fn at(secs: i64) -> Timestamp {
    Utc.timestamp_opt(1_700_000_000 + secs, 123_456_789)
        .unwrap()
}

async fn touch(store: &SqliteStore, id: &str, secs: i64, inbound: bool) {
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

#[tokio::test]
async fn touch_conversation_never_moves_times_backwards() {
    let (store, _dir) = store();
    let id = ConversationId::new("c1");
    assert!(store.conversation(&id).await.unwrap().is_none());
    touch(&store, "c1", 20, true).await;
    touch(&store, "c1", 10, true).await;
    let c = store.conversation(&id).await.unwrap().unwrap();
    assert_eq!(
        (c.created_at, c.last_event_at, c.last_inbound_at),
        (at(20), at(20), Some(at(20)))
    );
    assert_eq!(c.channel_id, "wa-main");
    assert_eq!(c.conversation, ConversationRef::new("acct", "c1"));
    touch(&store, "c1", 30, false).await;
    let c = store.conversation(&id).await.unwrap().unwrap();
    assert_eq!((c.last_event_at, c.last_inbound_at), (at(30), Some(at(20))));
    touch(&store, "c2", 5, false).await;
    let c2 = store
        .conversation(&ConversationId::new("c2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c2.last_inbound_at, None);
}

#[tokio::test]
async fn list_conversations_pages_newest_first() {
    let (store, _dir) = store();
    for (id, secs) in [("a", 1), ("b", 2), ("c", 3), ("d", 3), ("e", 5)] {
        touch(&store, id, secs, true).await;
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

#[tokio::test]
async fn outbox_lease_retry_and_finish() {
    let (store, _dir) = store();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_leases_never_overlap_across_databases() {
    let (store, dir) = store();
    let other =
        SqliteStore::new(Database::open(dir.path().join("store.db"), Durability::Normal).unwrap());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_first_writer_wins() {
    let (store, _dir) = store();
    let store = Arc::new(store);
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

#[tokio::test]
async fn dead_letters_are_kept_by_kind() {
    let (store, _dir) = store();
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

#[tokio::test]
async fn participants_are_kept_once_with_the_newest_name() {
    let (store, _dir) = store();
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

#[tokio::test]
async fn channel_state_is_per_channel_batched_and_pruned_by_prefix_and_age() {
    let (store, _dir) = store();
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

#[tokio::test]
async fn a_lease_has_one_holder_across_databases_until_given_up_or_run_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leases.sqlite");
    let one = SqliteStore::new(Database::open(&path, Durability::Normal).unwrap());
    let two = SqliteStore::new(Database::open(&path, Durability::Normal).unwrap());
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
