//! Crash safety: the real `omnibridge` binary is killed with SIGKILL mid-stream and
//! restarted; every message it had acknowledged (the web chat's `ack` frame is sent only
//! after the durable append, like a webhook's 2xx) is on the bus exactly once.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::process::{BridgeProcess, free_port, start_bridge};
use crate::support::redis_server::RedisServer;

const KEY: &str = "crash-test-key-0123456789";

async fn start(data_dir: &Path, port: u16, bus: &str) -> BridgeProcess {
    let env = [
        ("OMNIBRIDGE_API_KEYS", KEY.to_owned()),
        ("OMNIBRIDGE__STORAGE__BUS", bus.to_owned()),
    ];
    start_bridge(data_dir, port, "bridge", &env).await
}

/// Streams messages over the web chat until `kill_after` acks, SIGKILLs the bridge, and
/// returns the acknowledged client ids and the session's conversation id.
async fn stream_and_kill(
    bridge: &mut BridgeProcess,
    kill_after: usize,
) -> (HashSet<String>, String) {
    let ws_url = bridge.base.replace("http://", "ws://") + "/webchat/ws";
    let mut request = ws_url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", bridge.base.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let (mut write, mut read) = socket.split();
    let welcome: Value = loop {
        if let Some(Ok(Message::Text(text))) = read.next().await {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["type"] == "welcome" {
                break frame;
            }
        }
    };
    let conversation = welcome["conversation_id"].as_str().unwrap().to_owned();
    let writer = tokio::spawn(async move {
        for i in 0..100_000 {
            let frame = json!({ "type": "message", "text": format!("n{i}"), "client_msg_id": format!("c{i}") });
            if write
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
            if i % 20 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let mut acked = HashSet::new();
    while let Some(Ok(message)) = read.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame["type"] == "ack" {
            acked.insert(frame["client_msg_id"].as_str().unwrap().to_owned());
            if acked.len() == kill_after {
                bridge.child.kill().unwrap(); // SIGKILL
                bridge.child.wait().unwrap();
            }
        }
    }
    writer.abort();
    (acked, conversation)
}

/// Every event of `conversation`, oldest first, paged through the history API of `base`.
pub async fn history(base: &str, key: &str, conversation: &str) -> Vec<Value> {
    let client = reqwest::Client::new();
    let mut after = 0u64;
    let mut events = Vec::new();
    loop {
        let page: Value = client
            .get(format!(
                "{base}/v1/conversations/{conversation}/events?after={after}&limit=500"
            ))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        events.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_u64() {
            Some(next) => after = next,
            None => return events,
        }
    }
}

async fn received_ids(base: &str, conversation: &str) -> Vec<String> {
    history(base, KEY, conversation)
        .await
        .iter()
        .filter(|event| event["type"] == "message.received")
        .map(|event| event["provider_message_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn crash_and_check(bus: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut bridge = start(dir.path(), port, bus).await;
    let (acked, conversation) = stream_and_kill(&mut bridge, 300).await;
    assert!(acked.len() >= 300);
    let restarted = start(dir.path(), port, bus).await;
    let ids = received_ids(&restarted.base, &conversation).await;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "duplicated on the bus: {duplicated:?}"
    );
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_and_duplicates_nothing_on_sqlite() {
    crash_and_check("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_and_duplicates_nothing_on_redis() {
    let redis = RedisServer::start();
    crash_and_check(&redis.url()).await;
}
