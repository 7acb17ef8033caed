//! Web chat across the cluster: a visitor connected to instance A gets the replies posted
//! through instance C pushed through the bus (C's append moves A's head watch at once), not
//! found by a poll; within 100 ms at p99 under light load. Also end to end through HAProxy,
//! where the socket and the posts land on whichever instances it picks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Cluster, KEY, Options};
use crate::visitor::Visitor;

/// Replies measured per visitor; the 99th slowest is the p99.
const REPLIES: usize = 100;
const LIMIT: Duration = Duration::from_millis(100);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_on_one_instance_gets_replies_posted_through_another_within_100_ms() {
    let cluster = Cluster::start(Options::default()).await;
    // Light load: other visitors chatting through the balancer, 20 messages a second.
    let stop = Arc::new(AtomicBool::new(false));
    let chatter = tokio::spawn({
        let (base, stop) = (cluster.base(), stop.clone());
        async move {
            let mut others = Vec::new();
            for _ in 0..4 {
                others.push(Visitor::open(&base).await);
            }
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                others[n % 4].say(&format!("background {n}")).await;
                n += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });

    let (a, c) = (&cluster.instances[0], &cluster.instances[2]);
    let mut on_a = Visitor::open(&a.base).await;
    on_a.say("Hello from instance A").await;
    let direct = replies_reach_the_socket(&mut on_a, &c.base, KEY, REPLIES).await;

    let mut behind = Visitor::open(&cluster.base()).await;
    behind.say("Hello through the balancer").await;
    let balanced = replies_reach_the_socket(&mut behind, &cluster.base(), KEY, REPLIES).await;
    stop.store(true, Ordering::SeqCst);
    chatter.await.unwrap();

    for (path, waits) in [("A <- C", &direct), ("through HAProxy", &balanced)] {
        let p99 = waits[REPLIES * 99 / 100 - 1];
        eprintln!(
            "{path}: p50 {:?}, p99 {p99:?}, max {:?}",
            waits[REPLIES / 2 - 1],
            waits[REPLIES - 1]
        );
        assert!(
            p99 < LIMIT,
            "{path}: replies reach the socket within {LIMIT:?} at p99: {waits:?}\n{}",
            cluster.logs()
        );
    }
}

/// Posts `count` replies to the visitor's conversation through `poster` (with `key`), one
/// after the other, and returns how long each took from the API's answer to its frame on
/// the visitor's socket, sorted. Asserts they arrive once each, in order.
pub async fn replies_reach_the_socket(
    visitor: &mut Visitor,
    poster: &str,
    key: &str,
    count: usize,
) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let url = format!(
        "{poster}/v1/conversations/{}/messages",
        visitor.conversation
    );
    let mut waits = Vec::new();
    for i in 0..count {
        let text = format!("reply {i} through {poster}");
        let answer = client
            .post(&url)
            .bearer_auth(key)
            .json(&json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202, "{}", answer.text().await.unwrap());
        let posted = Instant::now();
        let frame = visitor.next("message").await;
        waits.push(posted.elapsed());
        assert_eq!(
            frame["text"],
            text.as_str(),
            "replies arrive once, in order"
        );
    }
    waits.sort();
    waits
}
