//! Single use across processes: two `omnibridge serve` processes share one SQLite data dir;
//! one credential submitted 100 times concurrently to both settles exactly once, with the
//! sandbox method and with Stripe (one PaymentIntent at the fake).

use std::path::Path;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::stripe::spt_credential;
use super::{SUCCESS, challenges, credential};
use crate::process::{BridgeProcess, free_port, start_bridge};
use crate::support::stripe_fake::StripeFake;

const KEY: &str = "payments-process-key-0123456789";
const SECRET: &str = "shared-secret-shared-secret-shared-0001";

async fn start(data_dir: &Path, name: &str, env: &[(&str, String)]) -> BridgeProcess {
    let mut env = env.to_vec();
    env.push(("OMNIBRIDGE_API_KEYS", KEY.to_owned()));
    env.push(("OMNIBRIDGE_PAYMENTS_SECRET", SECRET.to_owned()));
    start_bridge(data_dir, free_port(), name, &env).await
}

/// Opens a web-chat session, says hello, returns the conversation id once it is stored.
pub async fn webchat_conversation(base: &str) -> String {
    let mut request = (base.replace("http://", "ws://") + "/webchat/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", base.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let (mut write, mut read) = socket.split();
    let mut conversation = None;
    let frame = json!({ "type": "message", "text": "hello", "client_msg_id": "c1" });
    write
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
    while let Some(Ok(message)) = read.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame["type"] == "welcome" {
            conversation = frame["conversation_id"].as_str().map(str::to_owned);
        }
        if frame["type"] == "ack" {
            break;
        }
    }
    conversation.expect("a welcome frame")
}

const SUBMISSIONS: usize = 100;

#[tokio::test]
async fn two_processes_sharing_one_store_settle_a_credential_once() {
    let auth = |challenge: &mpp::protocol::core::PaymentChallenge| credential(challenge, SUCCESS);
    settle_once_across_processes(&[], auth).await;
}

#[tokio::test]
async fn two_processes_sharing_one_store_make_one_stripe_payment_intent() {
    let fake = StripeFake::start().await;
    let env = [
        ("OMNIBRIDGE__PAYMENTS__SANDBOX", "false".to_owned()),
        ("OMNIBRIDGE__PAYMENTS__STRIPE__ENABLED", "true".to_owned()),
        (
            "OMNIBRIDGE__PAYMENTS__STRIPE__API_BASE",
            fake.url().to_owned(),
        ),
        (
            "OMNIBRIDGE__PAYMENTS__STRIPE__NETWORK_ID",
            "profile_processes".to_owned(),
        ),
        (
            "OMNIBRIDGE__PAYMENTS__STRIPE__SECRET_KEY_ENV",
            "E2E_STRIPE_KEY".to_owned(),
        ),
        ("E2E_STRIPE_KEY", fake.secret_key().to_owned()),
    ];
    let auth = |challenge: &mpp::protocol::core::PaymentChallenge| {
        spt_credential(challenge, "spt_success_two_processes")
    };
    settle_once_across_processes(&env, auth).await;
    assert_eq!(fake.payment_intents_created(), 1);
}

async fn settle_once_across_processes(
    env: &[(&str, String)],
    auth: impl Fn(&mpp::protocol::core::PaymentChallenge) -> String,
) {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), "a", env).await;
    let b = start(dir.path(), "b", env).await;
    let client = reqwest::Client::new();
    let conversation = webchat_conversation(&a.base).await;
    let created: Value = client
        .post(format!("{}/v1/payment-intents", a.base))
        .bearer_auth(KEY)
        .json(&json!({ "conversation_id": conversation, "amount": 990, "currency": "USD", "description": "Shared" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("intent created").to_owned();
    // The challenge comes from A; B verifies it with the same secret.
    let probe = client
        .get(format!("{}/pay/{id}", a.base))
        .send()
        .await
        .unwrap();
    let auth = auth(&challenges(&probe).remove(0));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(SUBMISSIONS));
    let tasks: Vec<_> = (0..SUBMISSIONS)
        .map(|i| {
            let base = if i % 2 == 0 {
                a.base.clone()
            } else {
                b.base.clone()
            };
            let (client, auth, id, barrier) =
                (client.clone(), auth.clone(), id.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                client
                    .post(format!("{base}/pay/{id}"))
                    .header("authorization", auth)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 402, 409].contains(s)),
        "{statuses:?}"
    );
    // Settlements counted by each process's metrics, summed.
    let mut settled = 0;
    for bridge in [&a, &b] {
        let metrics = client
            .get(format!("{}/metrics", bridge.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        settled += metrics
            .lines()
            .filter(|l| {
                l.starts_with("omnibridge_payment_settlements_total")
                    && l.contains("outcome=\"succeeded\"")
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum::<u64>();
    }
    assert_eq!(settled, 1);
    let intent: Value = client
        .get(format!("{}/v1/payment-intents/{id}", b.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(intent["state"], "succeeded");
}
