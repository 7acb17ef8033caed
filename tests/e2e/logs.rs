//! No credential, SPT, receipt or secret in the logs: a real `omnibridge serve` process at
//! `RUST_LOG=trace` (every crate, every level) makes a full Stripe payment against the fake
//! (challenge, credential, settlement, receipt, refund, a signed webhook); its whole stderr
//! is then searched for each of them.

use std::process::{Command, Stdio};
use std::time::Duration;

use mpp::protocol::core::parse_www_authenticate;
use serde_json::{Value, json};

use super::processes::webchat_conversation;
use super::stripe::{NETWORK, spt_credential};
use crate::support::stripe_fake::StripeFake;

const KEY: &str = "logs-api-key-0123456789abcdef";
const PAYMENTS_SECRET: &str = "payments-hmac-secret-never-logged-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_payment_logs_no_credential_token_receipt_or_secret() {
    let fake = StripeFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_omnibridge"))
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
        .env("OMNIBRIDGE_PAYMENTS_SECRET", PAYMENTS_SECRET)
        .env("OMNIBRIDGE__PAYMENTS__SANDBOX", "false")
        .env("OMNIBRIDGE__PAYMENTS__STRIPE__ENABLED", "true")
        .env("OMNIBRIDGE__PAYMENTS__STRIPE__API_BASE", fake.url())
        .env("OMNIBRIDGE__PAYMENTS__STRIPE__NETWORK_ID", NETWORK)
        .env("OMNIBRIDGE_STRIPE_SECRET_KEY", fake.secret_key())
        .env("OMNIBRIDGE_STRIPE_WEBHOOK_SECRET", fake.webhook_secret())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(tokio::time::Instant::now() < deadline, "bridge not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let conversation = webchat_conversation(&base).await;
    let intent: Value = client
        .post(format!("{base}/v1/payment-intents"))
        .bearer_auth(KEY)
        .json(&json!({"conversation_id": conversation, "amount": 4200, "currency": "EUR", "description": "Logged"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = intent["id"].as_str().unwrap();
    let probe = client.get(format!("{base}/pay/{id}")).send().await.unwrap();
    assert_eq!(probe.status(), 402);
    let challenge =
        parse_www_authenticate(probe.headers()["www-authenticate"].to_str().unwrap()).unwrap();
    let spt = format!("spt_success_logcheck{}", ulid::Ulid::new());
    let authorization = spt_credential(&challenge, &spt);
    let paid = client
        .post(format!("{base}/pay/{id}"))
        .header("authorization", &authorization)
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200);
    let receipt = paid.headers()["payment-receipt"]
        .to_str()
        .unwrap()
        .to_owned();
    let refunded = client
        .post(format!("{base}/v1/payment-intents/{id}/refund"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(refunded.status(), 200);
    let reference = fake.requests()[0]
        .param("shared_payment_granted_token")
        .map(str::to_owned);
    assert_eq!(
        reference.as_deref(),
        Some(spt.as_str()),
        "the fake saw the SPT"
    );
    let (body, signature) = fake.signed_event(
        "charge.refunded",
        json!({"id": "ch_log", "object": "charge", "amount_refunded": 4200,
            "payment_intent": "pi_unknown", "metadata": {"intent_id": id}}),
    );
    let hook = client
        .post(format!("{base}/payments/stripe/webhook"))
        .header("stripe-signature", &signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("TRACE"), "trace logging was on");
    assert!(
        logs.contains("stripe settled the charge"),
        "the payment was logged"
    );
    let credential = authorization.trim_start_matches("Payment ").to_owned();
    let v1 = signature.split("v1=").nth(1).unwrap().to_owned();
    for (what, secret) in [
        ("SPT", spt.as_str()),
        ("credential", credential.as_str()),
        ("receipt", receipt.as_str()),
        ("payments HMAC secret", PAYMENTS_SECRET),
        ("Stripe secret key", fake.secret_key()),
        ("webhook secret", fake.webhook_secret()),
        ("webhook signature", v1.as_str()),
        ("API key", KEY),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}
