//! The `sms-gateway` channel against the SDK's conformance kit, against a fake gateway, and
//! through the real bridge: this crate's own binary serving the shipped `config.toml`, a
//! signed inbound SMS in, a reply out through the business API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use omnibridge_plugin_sms::webhook::{SIGNATURE_HEADER, sign};
use omnibridge_plugin_sms::{SEGMENT_CHARS, SmsGatewayConfig, SmsGatewayFactory};
use omnibridge_sdk::testkit::{Conformance, WebhookFixture, assert_conforms};
use omnibridge_sdk::{
    Channel, ChannelContext, ChannelError, ChannelFactory, ConversationRef, OutboundId,
    OutboundMessage, SecretSource,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_omnibridge-plugin-sms");
const EXAMPLE_CONFIG: &str = include_str!("../config.toml");
const API_KEY_ENV: &str = "ACME_SMS_API_KEY";
const WEBHOOK_SECRET_ENV: &str = "ACME_SMS_WEBHOOK_SECRET";
const GATEWAY_KEY: &str = "gw-key-0123456789";
const WEBHOOK_SECRET: &str = "whsec-plugin-sms";
const BUSINESS_API_KEY: &str = "biz-api-key-0123456789";
const NUMBER: &str = "+15550100";
const CUSTOMER: &str = "+15550199";

fn secrets() -> SecretSource {
    Arc::new(|var: &str| match var {
        API_KEY_ENV => Some(GATEWAY_KEY.to_owned()),
        WEBHOOK_SECRET_ENV => Some(WEBHOOK_SECRET.to_owned()),
        _ => None,
    })
}

fn config(api_url: &str) -> SmsGatewayConfig {
    serde_json::from_value(json!({
        "number": NUMBER,
        "api_url": api_url,
        "api_key_env": API_KEY_ENV,
        "webhook_secret_env": WEBHOOK_SECRET_ENV,
    }))
    .unwrap()
}

fn build(api_url: &str) -> Arc<dyn Channel> {
    let cx = ChannelContext::new("sms", "http://127.0.0.1:8080").with_secrets(secrets());
    SmsGatewayFactory.build(config(api_url), &cx).unwrap()
}

fn signed(body: &str) -> WebhookFixture {
    WebhookFixture::post(body.to_owned()).header(
        SIGNATURE_HEADER,
        &sign(WEBHOOK_SECRET.as_bytes(), body.as_bytes()),
    )
}

// ---------------------------------------------------------------------------------------
// The SDK's conformance kit and the factory.
// ---------------------------------------------------------------------------------------

#[test]
fn the_channel_conforms_to_the_sdk_contract() {
    let channel = build("http://127.0.0.1:9");
    let fixtures = [
        signed(r#"{"messages":[{"id":"m1","from":"+15550199","text":"hi"}]}"#),
        signed(
            r#"{"messages":[{"id":"m2","from":"+15550199","text":"a","received_at":"2024-05-01T12:00:00Z"},{"id":"m3","from":"+15550123","text":""}]}"#,
        ),
        signed(r#"{"messages":[]}"#),
    ];
    assert_conforms(
        channel.as_ref(),
        &fixtures,
        &Conformance::signed_body(&[SIGNATURE_HEADER]),
    );
    let caps = channel.capabilities();
    assert_eq!(caps.max_text_chars, Some(SEGMENT_CHARS));
    assert!(caps.buttons.is_none());
    assert!(caps.attachments.is_none());
    assert_eq!(channel.kind().as_str(), "sms-gateway");
    assert_eq!(SmsGatewayFactory::KIND, "sms-gateway");
}

#[test]
fn the_factory_refuses_tables_that_cannot_work() {
    let cx = ChannelContext::new("sms", "http://127.0.0.1:8080").with_secrets(secrets());
    let key_of = |result: Result<Arc<dyn Channel>, ChannelError>| match result {
        Err(ChannelError::Config { key, message }) => (key, message),
        Err(other) => panic!("expected a config error, got {other}"),
        Ok(_) => panic!("expected a config error, got a channel"),
    };
    let (key, _) = key_of(SmsGatewayFactory.build(config("gateway.example"), &cx));
    assert_eq!(key, "api_url");
    let (key, _) = key_of(SmsGatewayFactory.build(config("ftp://gateway.example"), &cx));
    assert_eq!(key, "api_url");
    let mut blank = config("http://127.0.0.1:9");
    blank.number = "  ".into();
    let (key, _) = key_of(SmsGatewayFactory.build(blank, &cx));
    assert_eq!(key, "number");
    // An unset secret names its variable, never a value.
    let no_secrets = ChannelContext::new("sms", "http://127.0.0.1:8080");
    let (_, message) = key_of(SmsGatewayFactory.build(config("http://127.0.0.1:9"), &no_secrets));
    assert!(message.contains(API_KEY_ENV), "{message}");
    // Unknown keys are refused (a typo never silently falls back to a default).
    let typo = serde_json::from_value::<SmsGatewayConfig>(json!({
        "number": NUMBER, "api_url": "http://127.0.0.1:9", "api_key_env": API_KEY_ENV,
        "webhook_secret_env": WEBHOOK_SECRET_ENV, "api_ur": "x",
    }));
    assert!(typo.unwrap_err().to_string().contains("api_ur"));
}

// ---------------------------------------------------------------------------------------
// A fake SMS gateway: records `POST /messages`, answers scripted replies, then `{"id"}`.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Received {
    authorization: Option<String>,
    idempotency_key: Option<String>,
    body: Value,
}

/// A scripted answer: status, `Retry-After`, body.
type Answer = (u16, Option<&'static str>, &'static str);

#[derive(Clone, Default)]
struct Gateway {
    received: Arc<Mutex<Vec<Received>>>,
    /// Answers to give, in order, before the default `200 {"id": "gw-<n>"}`.
    script: Arc<Mutex<Vec<Answer>>>,
    /// Idempotency: the id already given for a key.
    ids: Arc<Mutex<HashMap<String, String>>>,
}

impl Gateway {
    async fn start() -> (Self, String) {
        let gateway = Self::default();
        let app = Router::new()
            .route("/v1/messages", post(messages))
            .with_state(gateway.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (gateway, url)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn answer(&self, status: u16, retry_after: Option<&'static str>, body: &'static str) {
        self.script
            .lock()
            .unwrap()
            .push((status, retry_after, body));
    }
}

async fn messages(State(gateway): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let received = Received {
        authorization: header("authorization"),
        idempotency_key: header("idempotency-key"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    gateway.received.lock().unwrap().push(received.clone());
    let scripted = {
        let mut script = gateway.script.lock().unwrap();
        (!script.is_empty()).then(|| script.remove(0))
    };
    if let Some((status, retry_after, body)) = scripted {
        let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
        if let Some(wait) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", wait.parse().unwrap());
        }
        return response;
    }
    let id = {
        let mut ids = gateway.ids.lock().unwrap();
        let next = format!("gw-{}", ids.len() + 1);
        ids.entry(received.idempotency_key.unwrap_or_default())
            .or_insert(next)
            .clone()
    };
    axum::Json(json!({ "id": id })).into_response()
}

#[tokio::test]
async fn send_posts_json_with_the_key_and_maps_the_gateways_answers() {
    let (gateway, url) = Gateway::start().await;
    let channel = build(&url);
    let message = |id: &str| {
        OutboundMessage::text(
            OutboundId::new(id),
            ConversationRef::new(NUMBER, CUSTOMER),
            "Your order shipped.",
        )
    };

    let receipt = channel.send(&message("ob_1")).await.unwrap();
    assert_eq!(receipt.provider_message_id.unwrap().as_str(), "gw-1");
    let sent = gateway.received();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].authorization.as_deref(),
        Some(format!("Bearer {GATEWAY_KEY}").as_str())
    );
    assert_eq!(sent[0].idempotency_key.as_deref(), Some("ob_1"));
    assert_eq!(
        sent[0].body,
        json!({ "from": NUMBER, "to": CUSTOMER, "text": "Your order shipped." })
    );

    gateway.answer(429, Some("7"), "slow down");
    let limited = channel.send(&message("ob_2")).await.unwrap_err();
    assert!(
        matches!(limited, ChannelError::RateLimited { .. }),
        "{limited:?}"
    );
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));

    gateway.answer(503, None, "maintenance");
    let down = channel.send(&message("ob_2")).await.unwrap_err();
    assert!(matches!(down, ChannelError::Transient(_)), "{down:?}");

    gateway.answer(502, Some("2"), "");
    let busy = channel.send(&message("ob_2")).await.unwrap_err();
    assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)));

    gateway.answer(400, None, r#"{"error":"unknown number"}"#);
    match channel.send(&message("ob_3")).await.unwrap_err() {
        ChannelError::Rejected { code, reason } => {
            assert_eq!(code, "http_400");
            assert!(reason.contains("unknown number"), "{reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }

    // The retried message carries the same Idempotency-Key: the gateway answers the same id.
    let retried = channel.send(&message("ob_2")).await.unwrap();
    let again = channel.send(&message("ob_2")).await.unwrap();
    assert_eq!(retried.provider_message_id, again.provider_message_id);
    assert_eq!(retried.provider_message_id.unwrap().as_str(), "gw-2");

    // Accepted without a readable id: sent, with no provider id (never re-sent).
    gateway.answer(202, None, "queued");
    let receipt = channel.send(&message("ob_4")).await.unwrap();
    assert!(receipt.provider_message_id.is_none());

    // Nothing listening: a transient failure.
    let unreachable = build(&format!("http://127.0.0.1:{}", free_port()));
    let error = unreachable.send(&message("ob_5")).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

// ---------------------------------------------------------------------------------------
// The real bridge: this crate's binary as a child process.
// ---------------------------------------------------------------------------------------

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The running bridge; dropping it (also on a panic) kills it, and a panic prints its log.
struct BridgeProcess {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- bridge log ({}) ---\n{log}", self.log.display());
        }
    }
}

/// The shipped example config with the gateway's URL pointing at the fake.
fn example_config_for(gateway_url: &str) -> String {
    let shipped = r#"api_url = "https://sms-gateway.example/v1""#;
    assert!(EXAMPLE_CONFIG.contains(shipped), "config.toml changed");
    EXAMPLE_CONFIG.replace(shipped, &format!("api_url = {gateway_url:?}"))
}

/// Runs `serve --config <config> --bind 127.0.0.1:<free port> --data-dir <dir>` and waits
/// for `/readyz` (60 s at most: the machine may be busy).
async fn start_bridge(dir: &Path, config: &str) -> BridgeProcess {
    let config_path = dir.join("config.toml");
    std::fs::write(&config_path, config).unwrap();
    let data_dir = dir.join("data");
    let log = dir.join("bridge.log");
    let port = free_port();
    let child = Command::new(BIN)
        .arg("--config")
        .arg(&config_path)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data_dir)
        .current_dir(dir)
        .env("OMNIBRIDGE_API_KEYS", BUSINESS_API_KEY)
        .env(API_KEY_ENV, GATEWAY_KEY)
        .env(WEBHOOK_SECRET_ENV, WEBHOOK_SECRET)
        .env("OMNIBRIDGE__OUTBOX__INITIAL_BACKOFF_MS", "20")
        .env("OMNIBRIDGE__OUTBOX__MAX_BACKOFF_MS", "200")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut bridge = BridgeProcess {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    let client = reqwest::Client::new();
    let url = format!("{}/readyz", bridge.base);
    eventually(
        "the bridge to become ready",
        Duration::from_secs(60),
        || {
            if let Ok(Some(status)) = bridge.child.try_wait() {
                panic!("the bridge exited early: {status}");
            }
            let request = client.get(&url).send();
            async move {
                match request.await {
                    Ok(response) if response.status() == 200 => Some(()),
                    _ => None,
                }
            }
        },
    )
    .await;
    bridge
}

/// Polls `probe` every 50 ms until it yields a value; panics after `limit`.
async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    let response = client
        .get(url)
        .bearer_auth(BUSINESS_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

#[tokio::test]
async fn an_sms_round_trips_through_the_real_bridge() {
    let (gateway, gateway_url) = Gateway::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bridge = start_bridge(dir.path(), &example_config_for(&gateway_url)).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", bridge.base);

    // The gateway posts a signed batch; a forged one is refused.
    let body = json!({ "messages": [{
        "id": "sms-1", "from": CUSTOMER, "text": "Hi, is my order ready?",
        "received_at": "2024-05-01T12:00:00Z",
    }]})
    .to_string();
    let webhook = || {
        client
            .post(url("/webhooks/acme-sms"))
            .header("content-type", "application/json")
            .body(body.clone())
    };
    let forged = webhook()
        .header(SIGNATURE_HEADER, sign(b"not-the-secret", body.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let signature = sign(WEBHOOK_SECRET.as_bytes(), body.as_bytes());
    let accepted = webhook()
        .header(SIGNATURE_HEADER, &signature)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!(accepted, json!({ "accepted": 1, "duplicates": 0 }));
    // The gateway's redelivery is acknowledged and de-duplicated.
    let redelivered = webhook()
        .header(SIGNATURE_HEADER, &signature)
        .send()
        .await
        .unwrap();
    assert_eq!(redelivered.status(), 200);
    let redelivered: Value = redelivered.json().await.unwrap();
    assert_eq!(redelivered, json!({ "accepted": 0, "duplicates": 1 }));

    // The business sees the conversation and the customer's message.
    let conversation = eventually("the conversation", Duration::from_secs(30), || {
        let list = get_json(&client, url("/v1/conversations"));
        async move {
            list.await["data"].as_array().and_then(|all| {
                all.iter()
                    .find(|c| {
                        c["channel_id"] == "acme-sms" && c["conversation"]["thread"] == CUSTOMER
                    })
                    .cloned()
            })
        }
    })
    .await;
    assert_eq!(conversation["channel"], "sms-gateway");
    assert_eq!(conversation["conversation"]["account"], NUMBER);
    let id = conversation["id"].as_str().unwrap().to_owned();
    let history = get_json(&client, url(&format!("/v1/conversations/{id}/events"))).await;
    let history = history["data"].as_array().unwrap().clone();
    assert_eq!(types(&history), ["message.received"], "{history:#?}");
    let received = &history[0];
    assert_eq!(
        received["data"]["content"]["body"],
        "Hi, is my order ready?"
    );
    assert_eq!(received["sender"]["id"], CUSTOMER);
    assert_eq!(received["sender"]["role"], "customer");
    assert_eq!(received["provider_message_id"], "sms-1");
    assert_eq!(received["occurred_at"], "2024-05-01T12:00:00Z");

    // The business replies with more than one SMS worth of text and a button.
    let reply = "Good news! Your order #4711 left our warehouse this morning and is on its way \
                 to you. The courier expects to deliver it tomorrow between 9:00 and 13:00; \
                 someone will need to sign for it at the door. Reply to this message any time \
                 if you need to change the delivery address, or to have the parcel left with a \
                 neighbour or at the pick-up point around the corner instead.";
    assert!(reply.chars().count() > 2 * SEGMENT_CHARS);
    let response = client
        .post(url(&format!("/v1/conversations/{id}/messages")))
        .bearer_auth(BUSINESS_API_KEY)
        .json(&json!({
            "text": reply,
            "buttons": [{ "label": "Track my parcel", "payload": "track" }],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let outbound_id = accepted["outbound_id"].as_str().unwrap().to_owned();

    // It reaches the gateway as several SMS, the button as a numbered option at the end.
    let parts = eventually("every SMS at the gateway", Duration::from_secs(30), || {
        let received = gateway.received();
        let done = received.last().is_some_and(|r| {
            r.body["text"]
                .as_str()
                .is_some_and(|t| t.ends_with("1. Track my parcel"))
        });
        std::future::ready(done.then_some(received))
    })
    .await;
    assert!(parts.len() >= 3, "{parts:#?}");
    for (index, part) in parts.iter().enumerate() {
        assert_eq!(
            part.authorization.as_deref(),
            Some(format!("Bearer {GATEWAY_KEY}").as_str())
        );
        assert_eq!(part.body["from"], NUMBER);
        assert_eq!(part.body["to"], CUSTOMER);
        let text = part.body["text"].as_str().unwrap();
        assert!(
            !text.is_empty() && text.chars().count() <= SEGMENT_CHARS,
            "part {index} has {} characters: {text:?}",
            text.chars().count()
        );
        let expected_key = if index == 0 {
            outbound_id.clone()
        } else {
            format!("{outbound_id}.{}", index + 1)
        };
        assert_eq!(part.idempotency_key.as_deref(), Some(expected_key.as_str()));
    }
    let texts: Vec<&str> = parts
        .iter()
        .map(|p| p.body["text"].as_str().unwrap())
        .collect();
    let last = texts.last().unwrap();
    assert!(last.ends_with("\n1. Track my parcel"), "{last:?}");
    // Nothing lost or repeated: the parts are the reply, then the option.
    let joined = texts.join(" ");
    let expected = format!("{reply}\n1. Track my parcel");
    assert_eq!(words(&joined), words(&expected));

    // The bridge records the reply as sent, with the gateway's id of the last part.
    let last_id = format!("gw-{}", parts.len());
    let history = eventually("the sent events", Duration::from_secs(30), || {
        let page = get_json(&client, url(&format!("/v1/conversations/{id}/events")));
        async move {
            let page = page.await;
            let events = page["data"].as_array().cloned().unwrap_or_default();
            types(&events)
                .contains(&"delivery.updated")
                .then_some(events)
        }
    })
    .await;
    assert_eq!(
        types(&history),
        ["message.received", "message.sent", "delivery.updated"],
        "{history:#?}"
    );
    assert_eq!(history[1]["data"]["outbound_id"], outbound_id.as_str());
    assert_eq!(history[1]["provider_message_id"], last_id.as_str());
    assert_eq!(history[2]["data"]["status"], "sent");
    let status = get_json(&client, url(&format!("/v1/outbound/{outbound_id}"))).await;
    assert_eq!(status["state"], "sent");
    assert_eq!(status["attempts"], 1, "{status}");
    drop(bridge);
}

// ---------------------------------------------------------------------------------------
// `check` knows the new kind: the shipped config passes, mistakes are named.
// ---------------------------------------------------------------------------------------

fn check(dir: &Path, config: &str, secrets: bool) -> (bool, String, String) {
    let path = dir.join("check.toml");
    std::fs::write(&path, config).unwrap();
    let mut command = Command::new(BIN);
    command
        .arg("--config")
        .arg(&path)
        .arg("check")
        .current_dir(dir)
        .env_remove(API_KEY_ENV)
        .env_remove(WEBHOOK_SECRET_ENV);
    if secrets {
        command
            .env(API_KEY_ENV, GATEWAY_KEY)
            .env(WEBHOOK_SECRET_ENV, WEBHOOK_SECRET);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_the_shipped_config_and_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = check(dir.path(), EXAMPLE_CONFIG, true);
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("config and templates OK"), "{stdout}");

    let (ok, _, stderr) = check(dir.path(), EXAMPLE_CONFIG, false);
    assert!(!ok);
    assert!(stderr.contains(API_KEY_ENV), "{stderr}");
    assert!(stderr.contains(WEBHOOK_SECRET_ENV), "{stderr}");

    let typo = EXAMPLE_CONFIG.replace("number = ", "numbr = ");
    let (ok, _, stderr) = check(dir.path(), &typo, true);
    assert!(!ok);
    assert!(stderr.contains("numbr"), "{stderr}");

    let bad_url = EXAMPLE_CONFIG.replace("https://sms-gateway.example/v1", "sms-gateway.example");
    let (ok, _, stderr) = check(dir.path(), &bad_url, true);
    assert!(!ok);
    assert!(stderr.contains("channels.acme-sms.api_url"), "{stderr}");
}
