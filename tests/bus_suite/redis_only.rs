//! Redis-only bus tests: two bridge instances on one namespace.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use omnibridge::bus::redis_streams::RedisBus;
use omnibridge::bus::{EventLog, Seq};

use crate::cases::event;
use crate::support::redis_server::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_seqs_dedup_and_head() {
    let server = RedisServer::start();
    let first: Arc<dyn EventLog> = Arc::new(RedisBus::connect(&server.url(), "ns").await.unwrap());
    let second: Arc<dyn EventLog> = Arc::new(RedisBus::connect(&server.url(), "ns").await.unwrap());
    let elsewhere = RedisBus::connect(&server.url(), "other").await.unwrap();

    let mut tasks = Vec::new();
    for (name, bus) in [("i1", first.clone()), ("i2", second.clone())] {
        for worker in 0..4 {
            let bus = bus.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for i in 0..25 {
                    let own = event("webchat", "c", &format!("{name}-{worker}-{i}"), None);
                    let key = format!("shared-{}", i % 10);
                    let shared = event("webchat", "c", "shared", Some(&key));
                    out.extend(bus.append(vec![own, shared]).await.unwrap());
                }
                out
            }));
        }
    }
    let (mut fresh, mut shared): (Vec<Seq>, HashSet<Seq>) = (Vec::new(), HashSet::new());
    for task in tasks {
        for (i, appended) in task.await.unwrap().into_iter().enumerate() {
            if i % 2 == 1 {
                shared.insert(appended.seq);
            }
            if !appended.duplicate {
                fresh.push(appended.seq);
            }
        }
    }
    assert_eq!(
        fresh.iter().copied().collect::<HashSet<_>>().len(),
        fresh.len()
    );
    assert_eq!(shared.len(), 10, "one event per shared key");
    assert_eq!(
        first.read_after(0, 1000).await.unwrap().len(),
        2 * 4 * 25 + 10
    );
    assert!(
        elsewhere.read_after(0, 10).await.unwrap().is_empty(),
        "namespaces are separate"
    );

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

/// Another instance's append reaches this instance's head watch through the follower's
/// blocking read, well before the fallback re-read of the counter (1 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instances_append_moves_the_head_watch_at_once() {
    let server = RedisServer::start();
    let writer = RedisBus::connect(&server.url(), "ns").await.unwrap();
    let reader = RedisBus::connect(&server.url(), "ns").await.unwrap();
    let mut head = reader.watch_head();
    // Let the follower block in its read first.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waits = Vec::new();
    for i in 0..20 {
        head.borrow_and_update();
        let appended = writer
            .append(vec![event("webchat", "c", &format!("e{i}"), None)])
            .await
            .unwrap();
        let started = std::time::Instant::now();
        tokio::time::timeout(Duration::from_millis(900), async {
            while *head.borrow_and_update() < appended[0].seq {
                head.changed().await.unwrap();
            }
        })
        .await
        .expect("the reader's head follows within 900 ms");
        waits.push(started.elapsed());
    }
    waits.sort();
    // A poll every 100 ms would give a median of about 50 ms; a push, a millisecond or two.
    let median = waits[10];
    assert!(
        median < Duration::from_millis(30),
        "the head follows another instance's appends by push, not by polling: median {median:?}"
    );
}

/// A process that dies leaves its read events pending; another instance takes them over
/// once its consumer's alive key ran out (`ALIVE_TTL`), long before the caller's `min_idle`.
/// A live instance's pending events stay its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instances_pending_events_move_on_within_seconds_a_live_ones_stay() {
    use omnibridge::bus::redis_streams::ALIVE_TTL;

    let server = RedisServer::start();
    let dying = RedisBus::connect(&server.url(), "ns").await.unwrap();
    let live = RedisBus::connect(&server.url(), "ns").await.unwrap();
    let taker = RedisBus::connect(&server.url(), "ns").await.unwrap();
    for i in 0..5 {
        dying
            .append(vec![event("webchat", "c", &format!("m{i}"), None)])
            .await
            .unwrap();
    }
    let orphaned = dying.group_read("hooks", "dying-1", 3).await.unwrap();
    let kept = live.group_read("hooks", "live-2", 2).await.unwrap();
    assert_eq!((orphaned.len(), kept.len()), (3, 2));
    drop(dying); // its heartbeat stops with it; nothing is acked

    let long = Duration::from_secs(600);
    let dropped = tokio::time::Instant::now();
    let mut taken = Vec::new();
    while taken.len() < 3 {
        assert!(
            dropped.elapsed() < ALIVE_TTL * 2 + Duration::from_secs(2),
            "the dead consumer's events were not taken over: {taken:?}"
        );
        let claimed = taker
            .claim_stale("hooks", "taker-3", long, 10)
            .await
            .unwrap();
        taken.extend(claimed.into_iter().map(|e| e.seq.unwrap()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        dropped.elapsed() >= ALIVE_TTL,
        "taken over before the consumer's alive key ran out"
    );
    let orphaned: Vec<Seq> = orphaned.iter().map(|e| e.seq.unwrap()).collect();
    taken.sort_unstable();
    assert_eq!(taken, orphaned, "exactly the dead consumer's events");
    // The live instance renews its key: however long, its events are not taken.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let claimed = taker
        .claim_stale("hooks", "taker-3", long, 10)
        .await
        .unwrap();
    assert!(claimed.is_empty(), "a live consumer's events were taken");
    assert_eq!(live.pending_count("hooks").await.unwrap(), 5);
}
