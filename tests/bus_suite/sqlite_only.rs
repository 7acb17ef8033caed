//! SQLite-only bus tests: durability across reopen, two processes on one file.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use omnibridge::bus::sqlite::SqliteBus;
use omnibridge::bus::{EventLog, Seq};
use omnibridge::sqlite::{Database, Durability};

use crate::cases::{event, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_the_file_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.db");
    let (appended, pending_seq) = {
        let bus = SqliteBus::new(Database::open(&path, Durability::Full).unwrap())
            .await
            .unwrap();
        let appended = bus
            .append(vec![
                event("whatsapp", "c", "a", Some("m1")),
                event("whatsapp", "c", "b", Some("m2")),
                event("whatsapp", "d", "c", None),
            ])
            .await
            .unwrap();
        let got = bus.group_read("g", "one", 1).await.unwrap();
        (appended, got[0].seq.unwrap())
    };
    let bus = SqliteBus::new(Database::open(&path, Durability::Normal).unwrap())
        .await
        .unwrap();
    let read = bus.read_after(0, 10).await.unwrap();
    assert_eq!(read.iter().map(text).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(bus.head().await.unwrap(), appended[2].seq);
    assert_eq!(*bus.watch_head().borrow(), appended[2].seq);
    let dup = bus
        .append(vec![event("whatsapp", "c", "again", Some("m2"))])
        .await
        .unwrap();
    assert!(dup[0].duplicate);
    assert_eq!(dup[0].seq, appended[1].seq);
    assert_eq!(bus.pending_count("g").await.unwrap(), 1);
    let claimed = bus
        .claim_stale("g", "two", Duration::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(claimed[0].seq, Some(pending_seq));
    // The group cursor survived: the next read continues after the first event.
    assert_eq!(bus.group_read("g", "two", 10).await.unwrap().len(), 2);
    let next = bus
        .append(vec![event("whatsapp", "c", "new", None)])
        .await
        .unwrap();
    assert!(next[0].seq > appended[2].seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_databases_on_one_file_share_seqs_and_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let first: Arc<dyn EventLog> = Arc::new(
        SqliteBus::new(Database::open(&path, Durability::Full).unwrap())
            .await
            .unwrap(),
    );
    let second: Arc<dyn EventLog> = Arc::new(
        SqliteBus::new(Database::open(&path, Durability::Full).unwrap())
            .await
            .unwrap(),
    );

    let mut tasks = Vec::new();
    for (name, bus) in [("p1", first.clone()), ("p2", second.clone())] {
        for worker in 0..4 {
            let bus = bus.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for i in 0..25 {
                    let own = event("webchat", "c", &format!("{name}-{worker}-{i}"), None);
                    // Every worker of both "processes" also redelivers the same 10 keys.
                    let key = format!("shared-{}", i % 10);
                    let shared = event("webchat", "c", "shared", Some(&key));
                    out.extend(bus.append(vec![own, shared]).await.unwrap());
                }
                out
            }));
        }
    }
    let mut fresh: Vec<Seq> = Vec::new();
    let mut shared_seqs: HashSet<Seq> = HashSet::new();
    for task in tasks {
        for (i, appended) in task.await.unwrap().into_iter().enumerate() {
            if i % 2 == 1 {
                shared_seqs.insert(appended.seq);
            }
            if !appended.duplicate {
                fresh.push(appended.seq);
            }
        }
    }
    let unique: HashSet<Seq> = fresh.iter().copied().collect();
    assert_eq!(unique.len(), fresh.len(), "no seq handed out twice");
    assert_eq!(shared_seqs.len(), 10, "one event per shared key");
    let all = first.read_after(0, 1000).await.unwrap();
    assert_eq!(all.len(), 2 * 4 * 25 + 10);
    assert_eq!(second.read_after(0, 1000).await.unwrap().len(), all.len());

    // The other "process" notices appends through its poller.
    let mut head = second.watch_head();
    let appended = first
        .append(vec![event("webchat", "c", "late", None)])
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(3),
        head.wait_for(|s| *s >= appended[0].seq),
    )
    .await
    .expect("second instance saw the append")
    .unwrap();
}

fn pragma(path: &std::path::Path, name: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, name, |row| row.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_gives_the_space_back_to_the_file_system() {
    use omnibridge::bus::LogTrim;
    use omnibridge::store::Store;
    use omnibridge::store::sqlite::SqliteStore;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.db");
    let db = Database::open(&path, Durability::Normal).unwrap();
    assert_eq!(pragma(&path, "auto_vacuum"), 2, "incremental auto-vacuum");
    let bus = SqliteBus::new(db.clone()).await.unwrap();
    let store = SqliteStore::new(db);
    let body = "x".repeat(4000);
    for batch in 0..20 {
        let events = (0..50)
            .map(|i| event("webchat", "c", &format!("{batch}-{i}-{body}"), None))
            .collect();
        bus.append(events).await.unwrap();
    }
    let full = pragma(&path, "page_count");
    assert!(full > 1000, "about 4 MB of events: {full} pages");

    let trimmed = bus
        .trim(LogTrim {
            events_before_ms: chrono::Utc::now().timestamp_millis() + 60_000,
            unacked_before_ms: i64::MIN,
            max_log_bytes: None,
            dedup_before_ms: i64::MIN,
        })
        .await
        .unwrap();
    assert_eq!(trimmed.events, 1000);
    assert!(
        pragma(&path, "freelist_count") > 900,
        "deleted pages are free"
    );
    store.reclaim_space().await.unwrap();
    assert_eq!(pragma(&path, "freelist_count"), 0);
    let after = pragma(&path, "page_count");
    assert!(after < full / 10, "{full} pages before, {after} after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_made_without_auto_vacuum_is_converted_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE legacy (a TEXT); \
             INSERT INTO legacy VALUES ('kept');",
        )
        .unwrap();
    }
    assert_eq!(pragma(&path, "auto_vacuum"), 0);
    let db = Database::open(&path, Durability::Full).unwrap();
    assert_eq!(pragma(&path, "auto_vacuum"), 2);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let kept: String = conn
        .query_row("SELECT a FROM legacy", [], |row| row.get(0))
        .unwrap();
    assert_eq!(kept, "kept");
    let bus = SqliteBus::new(db).await.unwrap();
    bus.append(vec![event("webchat", "c", "a", None)])
        .await
        .unwrap();
    assert_eq!(bus.read_after(0, 10).await.unwrap().len(), 1);
}
