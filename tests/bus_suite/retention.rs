//! Retention, on every bus backend: [`EventLog::trim`] contract cases (taking a fresh bus,
//! listed in `all_backends!`), and the whole [`RetentionJob`] over a bus and the SQLite
//! store, with time moved through `run_once(now)` instead of waited for.

use std::sync::Arc;
use std::time::Duration;

use omnibridge::bus::{EventLog, LogTrim};
use omnibridge::metrics::Metrics;
use omnibridge::retention::{RetentionJob, RetentionPolicy};
use omnibridge::sqlite::{Database, Durability};
use omnibridge::store::sqlite::SqliteStore;
use omnibridge::store::{IdempotentResponse, OutboxOutcome, OutboxRecord, OutboxState, Store};
use omnibridge_sdk::{ConversationId, OutboundId, Timestamp};

use crate::cases::{event, text};

const NEVER: i64 = i64::MIN;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Trims nothing.
fn keep_all() -> LogTrim {
    LogTrim {
        events_before_ms: NEVER,
        unacked_before_ms: NEVER,
        max_log_bytes: None,
        dedup_before_ms: NEVER,
    }
}

/// Everything appended so far is "old" by this cut-off.
fn future_ms() -> i64 {
    now_ms() + 60_000
}

pub(crate) async fn trim_removes_old_events_and_dedup_records(bus: Arc<dyn EventLog>) {
    let first = bus
        .append(vec![
            event("whatsapp", "c1", "one", Some("wamid.1")),
            event("whatsapp", "c1", "two", Some("wamid.2")),
            event("whatsapp", "c2", "three", None),
        ])
        .await
        .unwrap();
    let head = bus.head().await.unwrap();

    let nothing = bus.trim(keep_all()).await.unwrap();
    assert_eq!((nothing.events, nothing.dedup), (0, 0));
    assert_eq!(bus.read_after(0, 10).await.unwrap().len(), 3);

    // Events old enough go, de-dup records (kept longer) stay: a redelivery is still one.
    let trimmed = bus
        .trim(LogTrim {
            events_before_ms: future_ms(),
            ..keep_all()
        })
        .await
        .unwrap();
    assert_eq!((trimmed.events, trimmed.dedup), (3, 0));
    assert!(bus.read_after(0, 10).await.unwrap().is_empty());
    assert!(
        bus.read_conversation(&ConversationId::new("c1"), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(bus.head().await.unwrap(), head, "the head never moves back");
    let again = bus
        .append(vec![event("whatsapp", "c1", "one again", Some("wamid.1"))])
        .await
        .unwrap();
    assert!(again[0].duplicate, "redelivery inside the de-dup window");
    assert_eq!(again[0].seq, first[0].seq);

    // Once the de-dup records are old enough they go too, and the key is new again.
    let trimmed = bus
        .trim(LogTrim {
            dedup_before_ms: future_ms(),
            ..keep_all()
        })
        .await
        .unwrap();
    assert_eq!((trimmed.events, trimmed.dedup), (0, 2));
    let fresh = bus
        .append(vec![event("whatsapp", "c1", "one late", Some("wamid.1"))])
        .await
        .unwrap();
    assert!(!fresh[0].duplicate);
    assert!(fresh[0].seq > head, "seqs are never reused");
    let read = bus.read_after(0, 10).await.unwrap();
    assert_eq!(read.iter().map(text).collect::<Vec<_>>(), ["one late"]);
    let conv = bus
        .read_conversation(&ConversationId::new("c1"), 0, 10)
        .await
        .unwrap();
    assert_eq!(conv.iter().map(text).collect::<Vec<_>>(), ["one late"]);
}

pub(crate) async fn trim_keeps_what_a_group_has_not_acked_until_the_hard_limit(
    bus: Arc<dyn EventLog>,
) {
    bus.append(vec![
        event("webchat", "c", "a", None),
        event("webchat", "c", "b", None),
    ])
    .await
    .unwrap();
    let got = bus.group_read("g", "one", 1).await.unwrap();
    assert_eq!(text(&got[0]), "a");
    bus.append(vec![event("webchat", "c", "c", None)])
        .await
        .unwrap();

    // "a" is pending in g, "b" and "c" not read by g yet: nothing may go before the hard
    // limit, however old.
    let old = LogTrim {
        events_before_ms: future_ms(),
        max_log_bytes: Some(1),
        ..keep_all()
    };
    assert_eq!(bus.trim(old).await.unwrap().events, 0);
    assert_eq!(bus.read_after(0, 10).await.unwrap().len(), 3);

    // Acking "a" frees it, and only it.
    bus.group_ack("g", &[got[0].seq.unwrap()]).await.unwrap();
    assert_eq!(bus.trim(old).await.unwrap().events, 1);
    let left = bus.read_after(0, 10).await.unwrap();
    assert_eq!(left.iter().map(text).collect::<Vec<_>>(), ["b", "c"]);

    // "b" read and pending; past the hard limit it goes anyway, with its pending entry.
    let b = bus.group_read("g", "one", 1).await.unwrap();
    assert_eq!(text(&b[0]), "b");
    assert_eq!(bus.pending_count("g").await.unwrap(), 1);
    let hard = LogTrim {
        unacked_before_ms: future_ms(),
        ..keep_all()
    };
    assert_eq!(bus.trim(hard).await.unwrap().events, 2);
    assert!(bus.read_after(0, 10).await.unwrap().is_empty());
    assert_eq!(bus.pending_count("g").await.unwrap(), 0);

    // The group goes on with new events.
    bus.append(vec![event("webchat", "c", "d", None)])
        .await
        .unwrap();
    let next = bus.group_read("g", "one", 10).await.unwrap();
    assert_eq!(next.iter().map(text).collect::<Vec<_>>(), ["d"]);
}

pub(crate) async fn trim_keeps_the_log_within_its_size_budget(bus: Arc<dyn EventLog>) {
    for i in 0..10 {
        bus.append(vec![event("webchat", "c", &format!("m{i}"), None)])
            .await
            .unwrap();
    }
    let one = serde_json::to_string(&bus.read_after(0, 1).await.unwrap()[0])
        .unwrap()
        .len() as u64;
    let trimmed = bus
        .trim(LogTrim {
            max_log_bytes: Some(one * 3),
            ..keep_all()
        })
        .await
        .unwrap();
    let left = bus.read_after(0, 100).await.unwrap();
    assert_eq!(trimmed.events as usize + left.len(), 10);
    assert!(
        (2..=4).contains(&left.len()),
        "about three events fit: {}",
        left.len()
    );
    assert_eq!(text(left.last().unwrap()), "m9", "the newest are kept");
}

/// A bus backend plus the SQLite store, for the whole job.
async fn job_parts(bus: Arc<dyn EventLog>) -> (SqliteStore, tempfile::TempDir, Arc<dyn EventLog>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("store.db"), Durability::Normal).unwrap();
    (SqliteStore::new(db), dir, bus)
}

fn policy() -> RetentionPolicy {
    RetentionPolicy {
        max_age: Duration::from_secs(3600),
        max_log_bytes: None,
        unacked_max_age: Duration::from_secs(3 * 3600),
        dedup_max_age: Duration::from_secs(7 * 24 * 3600),
        idempotency_max_age: Duration::from_secs(24 * 3600),
        interval: Duration::from_secs(60),
    }
}

fn outbox(id: &str, created: Timestamp) -> OutboxRecord {
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

fn trimmed_metric(metrics: &Metrics, kind: &str) -> u64 {
    let text = metrics.render();
    let prefix = format!("omnibridge_retention_trimmed_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {kind} series in\n{text}"))
        .parse()
        .unwrap()
}

pub(crate) async fn retention_job_trims_every_kind_and_counts(bus: Arc<dyn EventLog>) {
    let (store, _dir, bus) = job_parts(bus).await;
    let store: Arc<dyn Store> = Arc::new(store);
    let metrics = Arc::new(Metrics::new());
    let job = RetentionJob::new(bus.clone(), store.clone(), metrics.clone(), policy());
    let now = chrono::Utc::now();

    bus.append(vec![
        event("whatsapp", "c", "hello", Some("wamid.A")),
        event("whatsapp", "c", "again", Some("wamid.B")),
    ])
    .await
    .unwrap();
    bus.group_read("media", "m1", 1).await.unwrap(); // "hello" pending, "again" unread
    let (sent, dead, pending) = (
        outbox("o-sent", now),
        outbox("o-dead", now),
        outbox("o-pending", now),
    );
    for record in [&sent, &dead, &pending] {
        store.enqueue_outbound(record).await.unwrap();
    }
    store
        .finish_outbound(&sent.id, OutboxOutcome::Sent)
        .await
        .unwrap();
    store
        .finish_outbound(
            &dead.id,
            OutboxOutcome::Dead {
                error: "gone".into(),
            },
        )
        .await
        .unwrap();
    let response = IdempotentResponse {
        fingerprint: "f".into(),
        status: 201,
        body: serde_json::json!({"id": 1}),
    };
    store
        .save_idempotent_response("api", "k1", &response)
        .await
        .unwrap();
    store
        .set_channel_state("mail", "thread:t1", Some(b"c"))
        .await
        .unwrap();
    store
        .set_channel_state("mail", "imap:cursor", Some(b"42"))
        .await
        .unwrap();

    // A run now trims nothing, but every series shows.
    let report = job.run_once(now).await.unwrap();
    assert_eq!(report, Default::default());
    assert_eq!(trimmed_metric(&metrics, "events"), 0);

    // Two hours on: past max_age, before the hard limit. Events stay (a group has not
    // acked them); finished outbox rows and channel state go; idempotency (24 h floor) and
    // de-dup records (7 days) stay.
    let report = job
        .run_once(now + chrono::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(report.events, 0);
    assert_eq!(report.outbox, 2);
    assert_eq!(report.channel_state, 1);
    assert_eq!((report.idempotency, report.dedup), (0, 0));
    assert_eq!(bus.read_after(0, 10).await.unwrap().len(), 2);
    assert!(store.outbound(&sent.id).await.unwrap().is_none());
    assert!(store.outbound(&dead.id).await.unwrap().is_none());
    assert!(
        store.outbound(&pending.id).await.unwrap().is_some(),
        "unfinished kept"
    );
    assert!(
        store
            .channel_state("mail", "thread:t1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .channel_state("mail", "imap:cursor")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"42"[..]),
        "cursors are kept"
    );
    assert!(
        store
            .idempotent_response("api", "k1")
            .await
            .unwrap()
            .is_some()
    );

    // Past the hard limit the unacked events go; a redelivery is still a duplicate.
    let report = job
        .run_once(now + chrono::Duration::hours(4))
        .await
        .unwrap();
    assert_eq!(report.events, 2);
    assert!(bus.read_after(0, 10).await.unwrap().is_empty());
    let redelivery = bus
        .append(vec![event("whatsapp", "c", "hello", Some("wamid.A"))])
        .await
        .unwrap();
    assert!(
        redelivery[0].duplicate,
        "no second event inside the de-dup window"
    );

    // Two days on: idempotency records go; eight days on: de-dup records.
    let report = job
        .run_once(now + chrono::Duration::hours(48))
        .await
        .unwrap();
    assert_eq!(report.idempotency, 1);
    assert!(
        store
            .idempotent_response("api", "k1")
            .await
            .unwrap()
            .is_none()
    );
    let report = job.run_once(now + chrono::Duration::days(8)).await.unwrap();
    assert_eq!(report.dedup, 2);

    assert_eq!(trimmed_metric(&metrics, "events"), 2);
    assert_eq!(trimmed_metric(&metrics, "outbox"), 2);
    assert_eq!(trimmed_metric(&metrics, "channel_state"), 1);
    assert_eq!(trimmed_metric(&metrics, "idempotency"), 1);
    assert_eq!(trimmed_metric(&metrics, "dedup"), 2);
}
