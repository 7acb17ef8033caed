//! A bridge SIGKILLed between the start of a settlement and its answer: after the restart
//! the sweeper resolves the intent from what Stripe holds (its `metadata[intent_id]`), it is
//! not left `processing`. Paid at Stripe → `succeeded` with Stripe's PaymentIntent; never
//! reached Stripe → re-opened once the grace period has passed.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::challenges;
use super::processes::webchat_conversation;
use super::stripe::spt_credential;
use crate::process::{BridgeProcess, free_port, start_bridge};
use crate::support::stripe_fake::{Fault, StripeFake};

const KEY: &str = "payments-crash-key-0123456789";
const SECRET: &str = "crash-secret-crash-secret-crash-secret-01";

async fn start(dir: &Path, name: &str, stripe_url: &str, fake: &StripeFake) -> BridgeProcess {
    let env = [
        ("OMNIBRIDGE_API_KEYS", KEY.to_owned()),
        ("OMNIBRIDGE_PAYMENTS_SECRET", SECRET.to_owned()),
        ("OMNIBRIDGE__PAYMENTS__SANDBOX", "false".to_owned()),
        ("OMNIBRIDGE__PAYMENTS__STRIPE__ENABLED", "true".to_owned()),
        (
            "OMNIBRIDGE__PAYMENTS__STRIPE__API_BASE",
            stripe_url.to_owned(),
        ),
        (
            "OMNIBRIDGE__PAYMENTS__STRIPE__NETWORK_ID",
            "profile_crash".to_owned(),
        ),
        ("OMNIBRIDGE_STRIPE_SECRET_KEY", fake.secret_key().to_owned()),
        // The first process waits long for Stripe's answer: it is killed meanwhile.
        (
            "OMNIBRIDGE__PAYMENTS__STRIPE__TIMEOUT_MS",
            "60000".to_owned(),
        ),
        (
            "OMNIBRIDGE__PAYMENTS__RECONCILE__INTERVAL_MS",
            "200".to_owned(),
        ),
        (
            "OMNIBRIDGE__PAYMENTS__RECONCILE__STALE_AFTER_SECS",
            "1".to_owned(),
        ),
        (
            "OMNIBRIDGE__PAYMENTS__RECONCILE__NOT_FOUND_GRACE_SECS",
            "3".to_owned(),
        ),
    ];
    start_bridge(dir, free_port(), name, &env).await
}

/// Creates an intent on a fresh web-chat conversation; returns its id.
async fn create_intent(client: &reqwest::Client, base: &str) -> String {
    let conversation = webchat_conversation(base).await;
    let created: Value = client
        .post(format!("{base}/v1/payment-intents"))
        .bearer_auth(KEY)
        .json(
            &json!({ "conversation_id": conversation, "amount": 4200, "currency": "EUR",
            "description": "Crash" }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"].as_str().expect("intent created").to_owned()
}

/// Starts paying `id` on `base` in the background (the answer never matters: it is killed).
async fn start_paying(client: &reqwest::Client, base: &str, id: &str, spt: &str) {
    let probe = client.get(format!("{base}/pay/{id}")).send().await.unwrap();
    assert_eq!(probe.status(), 402);
    let auth = spt_credential(&challenges(&probe).remove(0), spt);
    let request = client
        .post(format!("{base}/pay/{id}"))
        .header("authorization", auth);
    tokio::spawn(async move {
        let _ = request.send().await;
    });
}

async fn state(client: &reqwest::Client, base: &str, id: &str) -> Value {
    client
        .get(format!("{base}/v1/payment-intents/{id}"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn wait_for(client: &reqwest::Client, base: &str, id: &str, wanted: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let intent = state(client, base, id).await;
        if intent["state"] == wanted {
            return intent;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "intent never became {wanted}: {intent}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_charge_taken_before_a_sigkill_is_settled_by_the_sweeper_after_the_restart() {
    let fake = StripeFake::start().await;
    fake.break_answers(Fault::Slow(Duration::from_secs(120)), None);
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut first = start(dir.path(), "first", fake.url(), &fake).await;
    let id = create_intent(&client, &first.base).await;
    start_paying(&client, &first.base, &id, "spt_success_crash").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fake.payment_intents_created() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no charge reached Stripe"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        state(&client, &first.base, &id).await["state"],
        "processing"
    );
    first.child.kill().unwrap(); // SIGKILL, between the charge and its answer
    first.child.wait().unwrap();
    fake.heal();

    let second = start(dir.path(), "second", fake.url(), &fake).await;
    let paid = wait_for(&client, &second.base, &id, "succeeded").await;
    let reference = paid["reference"].as_str().unwrap();
    let stripe_pi = fake
        .payment_intent(reference)
        .expect("Stripe's PaymentIntent");
    assert_eq!(stripe_pi["metadata"]["intent_id"], id.as_str());
    assert_eq!(fake.succeeded_for(&id), 1);
    assert_eq!(fake.payment_intents_created(), 1);
}

#[tokio::test]
async fn a_charge_that_never_reached_stripe_is_reopened_after_the_grace_period() {
    let fake = StripeFake::start().await;
    // A Stripe that accepts connections and never answers: the request is never executed.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut first = start(dir.path(), "first", &silent_url, &fake).await;
    let id = create_intent(&client, &first.base).await;
    start_paying(&client, &first.base, &id, "spt_success_never_sent").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state(&client, &first.base, &id).await["state"] != "processing" {
        assert!(tokio::time::Instant::now() < deadline, "never processing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let processing_since = tokio::time::Instant::now();
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    held.abort();

    let second = start(dir.path(), "second", fake.url(), &fake).await;
    wait_for(&client, &second.base, &id, "requires_confirmation").await;
    assert!(
        processing_since.elapsed() >= Duration::from_millis(2500),
        "re-opened before the grace period (3 s) in which Stripe's search may lag"
    );
    assert_eq!(fake.payment_intents_created(), 0);
    let lookups = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/payment_intents/search")
        .count();
    assert!(lookups >= 1, "the sweeper looked the charge up at Stripe");
}
