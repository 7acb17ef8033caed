//! Polling and crashes: the real binary polls the fake Bot API while updates stream in, is
//! SIGKILLed mid-stream and restarted on the same data dir; every update ends on the bus
//! exactly once (the offset is stored only after the durable append, and a re-fetched update
//! is de-duplicated on its `update_id`).

use std::collections::HashMap;
use std::time::Duration;

use omnibridge_telegram::fake::{FAKE_TOKEN, FakeBotApi};
use serde_json::Value;

use super::{CUSTOMER, text_update};
use crate::process::{BridgeProcess, free_port, start_bridge_with_args};

const KEY: &str = "tg-crash-test-key-0123456789";
const UPDATES: u32 = 400;

pub(super) async fn start(
    dir: &std::path::Path,
    port: u16,
    config: &std::path::Path,
    shared: &[(&str, String)],
) -> BridgeProcess {
    let mut env = vec![
        ("OMNIBRIDGE_API_KEYS", KEY.to_owned()),
        ("TG_CRASH_TOKEN", FAKE_TOKEN.to_owned()),
    ];
    env.extend(shared.iter().cloned());
    let args = ["--config", config.to_str().unwrap()];
    start_bridge_with_args(dir, port, "bridge", &env, &args).await
}

async fn get(base: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A config file in `dir` with one Telegram channel `tg` polling `fake` (1 s long polls).
pub(super) fn polling_config(dir: &std::path::Path, fake: &FakeBotApi) -> std::path::PathBuf {
    let config = dir.join("tg.toml");
    std::fs::write(
        &config,
        format!(
            "[[channels]]\nid = \"tg\"\ntype = \"telegram\"\nbot_token_env = \"TG_CRASH_TOKEN\"\n\
             mode = \"polling\"\npoll_timeout_secs = 1\napi_base = \"{}\"\n",
            fake.base_url()
        ),
    )
    .unwrap();
    config
}

/// Every `message.received` id of the customer's chat (none when there is no chat yet).
pub(super) async fn received(base: &str) -> Vec<String> {
    let list = get(base, "/v1/conversations?limit=100").await;
    let Some(conversation) = list["data"].as_array().unwrap().iter().find_map(|c| {
        (c["conversation"]["thread"] == CUSTOMER.to_string().as_str())
            .then(|| c["id"].as_str().unwrap().to_owned())
    }) else {
        return Vec::new();
    };
    let mut after = 0u64;
    let mut ids = Vec::new();
    loop {
        let page = get(
            base,
            &format!("/v1/conversations/{conversation}/events?after={after}&limit=500"),
        )
        .await;
        for event in page["data"].as_array().unwrap() {
            if event["type"] == "message.received" {
                ids.push(event["provider_message_id"].as_str().unwrap().to_owned());
            }
        }
        match page["next_after"].as_u64() {
            Some(next) => after = next,
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_polling_loses_and_duplicates_no_update() {
    let fake = std::sync::Arc::new(FakeBotApi::start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = polling_config(dir.path(), &fake);
    let port = free_port();
    let mut bridge = start(dir.path(), port, &config, &[]).await;

    let feeder = tokio::spawn({
        let fake = fake.clone();
        async move {
            for i in 1..=UPDATES {
                fake.push_update(text_update(i, i64::from(i), &format!("n{i}")));
                if i % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    });
    // Kill once some, not all, updates are on the bus.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let seen = received(&bridge.base).await.len();
        if seen > 0 {
            break seen;
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing polled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    bridge.child.kill().unwrap(); // SIGKILL
    assert!(seen < UPDATES as usize, "killed mid-stream, after {seen}");
    let _ = bridge.child.wait();
    feeder.await.unwrap();

    let restarted = start(dir.path(), port, &config, &[]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let ids = loop {
        let ids = received(&restarted.base).await;
        if ids.len() >= UPDATES as usize {
            break ids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {UPDATES} updates arrived",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids = {
        let again = received(&restarted.base).await;
        if again.len() > ids.len() { again } else { ids }
    };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "duplicated: {duplicated:?}");
    for i in 1..=UPDATES {
        let id = format!("{CUSTOMER}:{i}");
        assert!(counts.contains_key(id.as_str()), "update {i} lost");
    }
}
