//! Two bridge processes behind one store and one Redis Streams bus: a web-chat visitor on one
//! instance receives the replies posted through the other, pushed through the bus (the other
//! instance's append moves this one's head watch at once), not found by a poll.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::process::{free_port, start_bridge};
use crate::support::redis_server::RedisServer;
use crate::visitor::Visitor;

const KEY: &str = "instances-test-key-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_on_one_instance_gets_replies_posted_through_another_at_once() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("OMNIBRIDGE_API_KEYS", KEY.to_owned()),
        ("OMNIBRIDGE__STORAGE__BUS", redis.url()),
    ];
    let mut a = start_bridge(dir.path(), free_port(), "a", &env).await;
    let mut c = start_bridge(dir.path(), free_port(), "c", &env).await;

    let mut visitor = Visitor::open(&a.base).await;
    visitor.say("Hello from instance A").await;
    let client = reqwest::Client::new();
    let url = format!(
        "{}/v1/conversations/{}/messages",
        c.base, visitor.conversation
    );
    let mut waits = Vec::new();
    for i in 0..20 {
        let text = format!("reply {i} through instance C");
        let answer = client
            .post(&url)
            .bearer_auth(KEY)
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
    // Light load, 20 replies: the slowest stands for the p99. Without the push, a reply that
    // instance C sends waits for A's next poll of the log (every second).
    let slowest = waits[waits.len() - 1];
    if slowest >= Duration::from_millis(100) {
        for name in ["a", "c"] {
            let log =
                std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap_or_default();
            eprintln!("--- {name}.log\n{log}");
        }
    }
    assert!(
        slowest < Duration::from_millis(100),
        "replies through another instance reach the socket within 100 ms: {waits:?}"
    );
    for bridge in [&mut a, &mut c] {
        bridge.child.kill().unwrap();
        bridge.child.wait().unwrap();
    }
}
