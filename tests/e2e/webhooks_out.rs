//! Business webhooks: signed with the documented recipe, retried while the receiver is down,
//! dead-lettered when it never comes back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::helpers::spawn_app_with;

/// The signing secret of the test endpoints.
pub const SECRET: &str = "whsec-test-0123456789";

/// A business's webhook receiver: records what each endpoint `<base>/<name>` was sent.
#[derive(Default)]
pub struct Receiver {
    /// While set, every delivery is answered 503.
    pub down: AtomicBool,
    /// `(endpoint name, signature header, body)` of each delivery answered 200, in order.
    pub received: Mutex<Vec<(String, String, Vec<u8>)>>,
}

impl Receiver {
    /// The deliveries answered 200 at `<base>/<name>`: `(signature, body)`.
    pub fn received_at(&self, name: &str) -> Vec<(String, Vec<u8>)> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .filter(|(endpoint, _, _)| endpoint == name)
            .map(|(_, signature, body)| (signature.clone(), body.clone()))
            .collect()
    }
}

/// Starts a receiver on a free port; returns it and its base URL (`http://…/hook`), under
/// which each endpoint is `<base>/<name>`.
pub async fn start_receiver() -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver::default());
    let state = receiver.clone();
    let app = axum::Router::new().route(
        "/hook/{name}",
        axum::routing::post(
            move |Path(name): Path<String>, headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    if state.down.load(Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let signature = headers["omnibridge-signature"].to_str().unwrap().to_owned();
                    state
                        .received
                        .lock()
                        .unwrap()
                        .push((name, signature, body.to_vec()));
                    StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (receiver, url)
}

/// The README's verification recipe, written independently of the bridge's code.
pub fn verify(header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        if let Some(value) = part.strip_prefix("t=") {
            t = Some(value.to_owned());
        } else if let Some(value) = part.strip_prefix("v1=") {
            v1 = Some(value.to_owned());
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    age.abs() <= 300 && mac.verify_slice(&hex::decode(v1).unwrap()).is_ok()
}

fn webhook(base: &str, max_attempts: u32) -> omnibridge::config::WebhookSettings {
    omnibridge::config::WebhookSettings::for_tests(
        "crm",
        &format!("{base}/crm"),
        SECRET,
        max_attempts,
    )
}

#[tokio::test]
async fn receiver_down_for_a_while_gets_everything_signed_and_in_order() {
    let (receiver, url) = start_receiver().await;
    receiver.down.store(true, Ordering::SeqCst);
    let app = spawn_app_with(|s| s.webhooks = vec![webhook(&url, 50)]).await;
    for i in 0..5 {
        assert_eq!(
            app.inbound("wh", &format!("m{i}"), &format!("n{i}"))
                .await
                .status(),
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received.lock().unwrap().is_empty());
    receiver.down.store(false, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while receiver.received_at("crm").len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "receiver did not get all events"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = receiver.received_at("crm");
    let bodies: Vec<String> = received
        .iter()
        .map(|(signature, body)| {
            assert!(verify(signature, body), "signature does not verify");
            let envelope: Value = serde_json::from_slice(body).unwrap();
            envelope["data"]["content"]["body"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(bodies, ["n0", "n1", "n2", "n3", "n4"]);
    assert!(!verify(&received[0].0, b"{\"tampered\":true}"));
    assert!(
        app.metrics()
            .await
            .contains("omnibridge_retries_total{kind=\"webhook\"}")
    );
    app.stop().await;
}

#[tokio::test]
async fn receiver_that_stays_down_dead_letters_and_shows_in_metrics() {
    let (receiver, url) = start_receiver().await;
    receiver.down.store(true, Ordering::SeqCst);
    let app = spawn_app_with(|s| s.webhooks = vec![webhook(&url, 2)]).await;
    assert_eq!(app.inbound("gone", "m1", "hello").await.status(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if app
            .metrics()
            .await
            .contains("omnibridge_dead_letters_total{kind=\"webhook\"} 1")
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}
