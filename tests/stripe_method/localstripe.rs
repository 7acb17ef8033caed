//! The refund path against localstripe (PyPI `localstripe`, a stateful Stripe imitation),
//! which knows customers, payment methods, PaymentIntents and refunds but not SPTs: the
//! PaymentIntent is made with a test card there, then refunded through [`StripeMethod`].
//!
//! Finds `localstripe` through `LOCALSTRIPE`, then `PATH`, then the venv made by
//! `scripts/install-test-deps`; skips with a message when it is not installed.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use omnibridge::payments::method::{PaymentMethod, SettleError};
use serde_json::Value;

use super::method_at;

/// Where `scripts/install-test-deps` puts localstripe: `~/.cache/omnibridge-localstripe`.
fn venv_binary() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".cache/omnibridge-localstripe/bin/localstripe");
    path.is_file().then_some(path)
}

fn localstripe_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LOCALSTRIPE") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("localstripe"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(venv_binary)
}

/// A running localstripe, killed on drop.
struct Localstripe {
    child: Child,
    port: u16,
}

impl Drop for Localstripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(binary: &PathBuf) -> Localstripe {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary)
        .args(["--port", &port.to_string(), "--from-scratch"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start localstripe");
    let server = Localstripe { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "localstripe did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

async fn post(base: &str, path: &str, form: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1{path}"))
        .bearer_auth("sk_test_localstripe")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

#[tokio::test]
async fn refunds_work_against_localstripe() {
    let Some(binary) = localstripe_binary() else {
        eprintln!(
            "SKIPPED refunds_work_against_localstripe: localstripe is not installed \
             (pip install localstripe, or scripts/install-test-deps)"
        );
        return;
    };
    let server = start(&binary);
    let base = format!("http://127.0.0.1:{}", server.port);
    let card = "type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2034&card[cvc]=123";
    let method = post(&base, "/payment_methods", card).await;
    let pm = method["id"].as_str().unwrap();
    let intent = post(
        &base,
        "/payment_intents",
        &format!("amount=2000&currency=usd&payment_method={pm}"),
    )
    .await;
    let pi = intent["id"].as_str().unwrap();
    let confirmed = post(&base, &format!("/payment_intents/{pi}/confirm"), "").await;
    assert_eq!(confirmed["status"], "succeeded", "{confirmed}");

    let stripe = method_at(&base, "sk_test_localstripe", Duration::from_secs(10));
    let partial = stripe.refund(pi, Some(500), "ls-refund-1").await.unwrap();
    assert!(partial.reference.starts_with("re_"), "{partial:?}");
    assert_eq!(partial.amount_minor, 500);
    let rest = stripe.refund(pi, Some(1500), "ls-refund-2").await.unwrap();
    assert_eq!(rest.amount_minor, 1500);
    let unknown = stripe.refund("pi_doesnotexist", None, "ls-refund-3").await;
    assert!(
        matches!(unknown, Err(SettleError::Refused { .. })),
        "{unknown:?}"
    );
}
