//! No bot token in any log line: the real binary at `RUST_LOG=trace` (stdout and stderr
//! captured) runs a webhook-mode bot and a polling-mode bot against fake Bot APIs and goes
//! through every call that carries the token in its URL (`setWebhook`, `getUpdates` including
//! a 409, `sendMessage` including a 429 and a 403, `answerCallbackQuery`, `getFile` and the file
//! download), a refused webhook and an accepted one. Then the output is searched for the
//! token (whole, and its secret half), the webhook secret and the message texts.

use std::process::Command;
use std::time::Duration;

use omnibridge_telegram::fake::{FAKE_TOKEN, Failure, FakeBotApi};
use serde_json::{Value, json};

use super::CUSTOMER;
use crate::process::free_port;

const KEY: &str = "tg-logs-api-key-0123456789abcdef";
const SECRET: &str = "tg-logs_webhook-secret-77";
const INBOUND_TEXT: &str = "secret-order-text-telegram";
const REPLY_TEXT: &str = "secret-reply-text-telegram";

fn config(hook_api: &str, poll_api: &str) -> String {
    format!(
        r#"
[[channels]]
id = "tg-hook"
type = "telegram"
bot_token_env = "TG_LOGS_TOKEN"
webhook_secret_env = "TG_LOGS_SECRET"
api_base = "{hook_api}"

[[channels]]
id = "tg-poll"
type = "telegram"
bot_token_env = "TG_LOGS_TOKEN"
mode = "polling"
poll_timeout_secs = 1
api_base = "{poll_api}"
"#
    )
}

async fn wait(mut check: impl AsyncFnMut() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bot_token_in_any_log_line() {
    let hook_api = FakeBotApi::start().await.unwrap();
    let poll_api = FakeBotApi::start().await.unwrap();
    poll_api.set_webhook("https://elsewhere.example/hook"); // the poller first sees a 409
    hook_api.add_file("doc-logs", b"%PDF-1.7 logs");
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("tg.toml");
    std::fs::write(
        &config_path,
        config(&hook_api.base_url(), &poll_api.base_url()),
    )
    .unwrap();
    let port = free_port();
    let (stdout_path, stderr_path) = (dir.path().join("stdout.log"), dir.path().join("stderr.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_omnibridge"))
        .arg("--config")
        .arg(&config_path)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "trace")
        .env("OMNIBRIDGE_API_KEYS", KEY)
        .env(
            "OMNIBRIDGE__TEMPLATES__DIR",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
        )
        .env("TG_LOGS_TOKEN", FAKE_TOKEN)
        .env("TG_LOGS_SECRET", SECRET)
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let bridge = crate::process::wait_ready(child, port, "tg-logs").await;
    let base = bridge.base.clone();

    wait(async || hook_api.webhook().is_some(), "setWebhook").await;
    wait(
        async || poll_api.calls().iter().any(|c| c.status == 409),
        "a 409 from getUpdates",
    )
    .await;
    poll_api.push_update(json!({"message": {"message_id": 1, "date": 1_700_000_000,
        "text": INBOUND_TEXT, "chat": {"id": 5, "type": "private"},
        "from": {"id": 5, "is_bot": false, "first_name": "P"}}}));
    let hook = |body: Value, secret: &str| {
        reqwest::Client::new()
            .post(format!("{base}/webhooks/tg-hook"))
            .header("X-Telegram-Bot-Api-Secret-Token", secret)
            .header("content-type", "application/json")
            .body(body.to_string())
    };
    let text = json!({"update_id": 1, "message": {"message_id": 1, "date": 1_700_000_000,
        "text": INBOUND_TEXT, "chat": {"id": CUSTOMER, "type": "private"},
        "from": {"id": CUSTOMER, "is_bot": false, "first_name": "Ada"}}});
    assert_eq!(
        hook(text.clone(), "wrong").send().await.unwrap().status(),
        401
    );
    assert_eq!(hook(text, SECRET).send().await.unwrap().status(), 200);
    let media = json!({"update_id": 2, "message": {"message_id": 2, "date": 1_700_000_000,
        "chat": {"id": CUSTOMER, "type": "private"}, "from": {"id": CUSTOMER, "is_bot": false, "first_name": "Ada"},
        "document": {"file_id": "doc-logs", "file_unique_id": "u", "file_size": 13}}});
    assert_eq!(hook(media, SECRET).send().await.unwrap().status(), 200);
    let tap = json!({"update_id": 3, "callback_query": {"id": "q1", "chat_instance": "c",
        "from": {"id": CUSTOMER, "is_bot": false, "first_name": "Ada"}, "data": "p:opt:1"}});
    assert_eq!(hook(tap, SECRET).send().await.unwrap().status(), 200);
    wait(async || hook_api.downloads() == 1, "the media download").await;

    // Replies: a 429 retried, then a 403 dead-lettered.
    let api = reqwest::Client::new();
    let list: Value = api
        .get(format!("{base}/v1/conversations"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conversation = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["conversation"]["account"] == "tg-hook")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .unwrap();
    hook_api.fail_next(Failure::RetryAfter(1));
    for _ in 0..2 {
        let sent = api
            .post(format!("{base}/v1/conversations/{conversation}/messages"))
            .bearer_auth(KEY)
            .json(&json!({"text": REPLY_TEXT}))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 202);
    }
    wait(
        async || hook_api.accepted("sendMessage").len() == 2,
        "two replies",
    )
    .await;
    hook_api.fail_next(Failure::Blocked);
    let blocked = api
        .post(format!("{base}/v1/conversations/{conversation}/messages"))
        .bearer_auth(KEY)
        .json(&json!({"text": REPLY_TEXT}))
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 202);
    wait(
        async || hook_api.calls().iter().any(|c| c.status == 403),
        "the 403",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(bridge);

    let logs = std::fs::read_to_string(&stderr_path).unwrap()
        + &std::fs::read_to_string(&stdout_path).unwrap();
    assert!(logs.contains("TRACE"), "trace logging was on");
    if let Some(path) = std::env::var_os("LOGS_TEST_DUMP") {
        std::fs::write(path, &logs).unwrap();
    }
    let (_, token_secret) = FAKE_TOKEN.split_once(':').unwrap();
    for (what, secret) in [
        ("bot token", FAKE_TOKEN),
        ("bot token's secret half", token_secret),
        ("bot token, URL-encoded", &FAKE_TOKEN.replace(':', "%3A")),
        ("webhook secret", SECRET),
        ("inbound text", INBOUND_TEXT),
        ("reply text", REPLY_TEXT),
    ] {
        if let Some(line) = logs.lines().find(|line| line.contains(secret)) {
            panic!("the {what} is in the logs: {line}");
        }
    }
}
