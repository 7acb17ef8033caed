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
use crate::cluster::instance_metric;
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
/// The settlements counter and the label of the successful ones.
pub const SETTLED: &str = "omnibridge_payment_settlements_total";
pub const SUCCEEDED: &str = "outcome=\"succeeded\"";

#[tokio::test]
async fn two_processes_sharing_one_store_settle_a_credential_once() {
    let auth = |challenge: &mpp::protocol::core::PaymentChallenge| credential(challenge, SUCCESS);
    settle_once_across_processes(&[], auth).await;
}

#[tokio::test]
async fn two_processes_sharing_one_store_make_one_stripe_payment_intent() {
    let fake = StripeFake::start().await;
    let env = stripe_env(&fake);
    let auth = |challenge: &mpp::protocol::core::PaymentChallenge| {
        spt_credential(challenge, "spt_success_two_processes")
    };
    settle_once_across_processes(&env, auth).await;
    assert_eq!(fake.payment_intents_created(), 1);
}

/// Env of a bridge process paying with Stripe only (no sandbox) at `fake`.
pub fn stripe_env(fake: &StripeFake) -> Vec<(&'static str, String)> {
    vec![
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
    ]
}

/// Submits `POST <base>/pay/{id}` with `auths[i]`, all at once (behind a barrier),
/// submission `i` to `bases[i % bases.len()]`; returns each answer's status and whether it
/// carried a `Payment-Receipt`.
pub async fn race(bases: &[String], id: &str, auths: &[String]) -> Vec<(u16, bool)> {
    let client = reqwest::Client::new();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(auths.len()));
    let tasks: Vec<_> = auths
        .iter()
        .enumerate()
        .map(|(i, auth)| {
            let url = format!("{}/pay/{id}", bases[i % bases.len()]);
            let (client, auth, barrier) = (client.clone(), auth.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let answer = client
                    .post(url)
                    .header("authorization", auth)
                    .send()
                    .await
                    .unwrap();
                let receipt = answer.headers().contains_key("payment-receipt");
                (answer.status().as_u16(), receipt)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// Asserts that exactly one of `answers` is a 200 with a receipt and every other one a 402
/// or 409 without.
pub fn assert_one_paid(answers: &[(u16, bool)]) {
    assert_eq!(
        answers.iter().filter(|a| **a == (200, true)).count(),
        1,
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .all(|a| *a == (200, true) || matches!(a, (402 | 409, false))),
        "{answers:?}"
    );
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
    let bases = [a.base.clone(), b.base.clone()];
    assert_one_paid(&race(&bases, &id, &vec![auth; SUBMISSIONS]).await);
    // Settlements counted by each process's metrics, summed.
    let mut settled = 0;
    for bridge in [&a, &b] {
        settled += instance_metric(&bridge.base, SETTLED, &[SUCCEEDED]).await;
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
