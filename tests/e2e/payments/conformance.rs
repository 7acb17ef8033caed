//! Spec conformance of `/pay/{intent_id}`: the 402 shape, each credential problem with a
//! fresh challenge, binding to the intent, single use, receipts, Accept-Payment.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mpp::protocol::core::{
    Base64UrlJson, PaymentChallenge, PaymentCredential, Receipt, format_authorization,
};
use serde_json::{Value, json};

use super::{SUCCESS, challenge, challenges, credential, get_intent, intent, pay, probe, problem};
use crate::helpers::spawn_app;

#[tokio::test]
async fn no_credential_is_a_402_with_a_bound_challenge() {
    let app = spawn_app().await;
    let (_, id) = intent(&app, "conf-402").await;
    for response in [
        probe(&app, &id, None).await,
        app.client
            .post(app.url(&format!("/pay/{id}")))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status(), 402);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
        let offered = challenges(&response);
        assert_eq!(offered.len(), 1);
        let c = &offered[0];
        assert!(!c.id.is_empty());
        assert_eq!(c.realm, "omnibridge.local");
        assert_eq!(c.method.as_str(), "sandbox");
        assert_eq!(c.intent.as_str(), "charge");
        assert_eq!(c.description.as_deref(), Some("Order 42"));
        let expires = chrono::DateTime::parse_from_rfc3339(c.expires.as_deref().unwrap()).unwrap();
        assert!(expires > chrono::Utc::now());
        // request: base64url without padding of JCS JSON, string amount, lower-case currency.
        let raw = c.request.raw();
        assert!(!raw.contains('=') && !raw.contains('+') && !raw.contains('/'));
        let bytes = URL_SAFE_NO_PAD.decode(raw).unwrap();
        let request: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(request["amount"], "1250");
        assert_eq!(request["currency"], "eur");
        assert_eq!(request["methodDetails"]["networkId"], "sandbox");
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            serde_json_canonical(&request)
        );
        let opaque = c.opaque.as_ref().unwrap().decode_value().unwrap();
        assert_eq!(opaque["intent_id"], id.as_str());
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["type"],
            "https://paymentauth.org/problems/payment-required"
        );
        assert_eq!(body["status"], 402);
    }
    // Every challenge is unique (random nonce), even within one second.
    assert_ne!(challenge(&app, &id).await.id, challenge(&app, &id).await.id);
    app.stop().await;
}

/// JCS for the objects we issue (keys sorted, no whitespace; string values only).
fn serde_json_canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", json!(k), serde_json_canonical(&map[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(serde_json_canonical)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn malformed_credentials_get_malformed_credential_and_a_fresh_challenge() {
    let app = spawn_app().await;
    let (_, id) = intent(&app, "conf-malformed").await;
    let c = challenge(&app, &id).await;
    let no_payload = URL_SAFE_NO_PAD.encode(json!({ "challenge": c.to_echo() }).to_string());
    let no_challenge =
        URL_SAFE_NO_PAD.encode(json!({ "payload": { "token": SUCCESS } }).to_string());
    for bad in [
        "Payment !!!not-base64url!!!".to_owned(),
        format!("Payment {}", URL_SAFE_NO_PAD.encode("{not json")),
        format!("Payment {no_payload}"),
        format!("Payment {no_challenge}"),
        credential(&c, "tok_unknown"),
    ] {
        let (slug, _) = problem(pay(&app, &id, &bad, None).await).await;
        assert_eq!(slug, "malformed-credential", "{bad}");
    }
    // Still payable.
    let response = pay(
        &app,
        &id,
        &credential(&challenge(&app, &id).await, SUCCESS),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

fn echo_with(c: &PaymentChallenge, change: impl FnOnce(&mut PaymentChallenge)) -> String {
    let mut changed = c.clone();
    change(&mut changed);
    let credential = PaymentCredential::new(changed.to_echo(), json!({ "token": SUCCESS }));
    format_authorization(&credential).unwrap()
}

#[tokio::test]
async fn tampered_foreign_or_unsigned_challenges_are_invalid() {
    let app = spawn_app().await;
    let (_, id) = intent(&app, "conf-invalid").await;
    let c = challenge(&app, &id).await;
    let mut request = c.request.decode_value().unwrap();
    request["amount"] = json!("1");
    let tampered = echo_with(&c, |c| {
        c.request = Base64UrlJson::from_value(&request).unwrap()
    });
    let foreign = echo_with(&c, |c| c.realm = "evil.example".into());
    let wrong_hmac = {
        let forged = PaymentChallenge::with_secret_key_full(
            "another-secret-another-secret-another-secret",
            c.realm.clone(),
            c.method.clone(),
            c.intent.clone(),
            c.request.clone(),
            c.expires.as_deref(),
            None,
            c.description.as_deref(),
            c.opaque.clone(),
            None,
        );
        credential(&forged, SUCCESS)
    };
    for bad in [tampered, foreign, wrong_hmac] {
        let (slug, _) = problem(pay(&app, &id, &bad, None).await).await;
        assert_eq!(slug, "invalid-challenge");
    }
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 0);
    assert_eq!(
        get_intent(&app, &id).await["state"],
        "requires_confirmation"
    );
    app.stop().await;
}

#[tokio::test]
async fn success_returns_a_receipt_and_a_replay_is_rejected() {
    let app = spawn_app().await;
    let (_, id) = intent(&app, "conf-success").await;
    let auth = credential(&challenge(&app, &id).await, SUCCESS);
    let response = pay(&app, &id, &auth, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "private");
    let receipt =
        Receipt::from_header(response.headers()["payment-receipt"].to_str().unwrap()).unwrap();
    assert!(receipt.is_success());
    assert_eq!(receipt.method.as_str(), "sandbox");
    assert!(receipt.reference.starts_with("sbx_"));
    chrono::DateTime::parse_from_rfc3339(&receipt.timestamp).unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["state"], "succeeded");
    assert_eq!(body["reference"], receipt.reference.as_str());
    let replay = pay(&app, &id, &auth, None).await;
    assert_eq!(replay.status(), 409);
    assert!(replay.headers().get("payment-receipt").is_none());
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_credential_for_another_intent_never_pays_this_one() {
    let app = spawn_app().await;
    let (conversation, a) = intent(&app, "conf-cross").await;
    let b = super::create_intent(&app, &conversation, 1250, "EUR").await;
    let b = b["id"].as_str().unwrap();
    let for_a = credential(&challenge(&app, &a).await, SUCCESS);
    let (slug, _) = problem(pay(&app, b, &for_a, None).await).await;
    assert_eq!(slug, "invalid-challenge");
    // Different currency, same amount: also refused.
    let c = super::create_intent(&app, &conversation, 1250, "USD").await;
    let (slug, _) = problem(pay(&app, c["id"].as_str().unwrap(), &for_a, None).await).await;
    assert_eq!(slug, "invalid-challenge");
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 0);
    // The credential still pays A, once.
    assert_eq!(pay(&app, &a, &for_a, None).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_replays_the_success_without_charging_again() {
    let app = spawn_app().await;
    let (_, id) = intent(&app, "conf-idem").await;
    let auth = credential(&challenge(&app, &id).await, SUCCESS);
    let first = pay(&app, &id, &auth, Some("retry-1")).await;
    assert_eq!(first.status(), 200);
    let first_receipt = first.headers()["payment-receipt"].clone();
    let first_body: Value = first.json().await.unwrap();
    let again = pay(&app, &id, &auth, Some("retry-1")).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["cache-control"], "private");
    assert_eq!(again.headers()["payment-receipt"], first_receipt);
    assert_eq!(again.json::<Value>().await.unwrap(), first_body);
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 1);
    // The same key with another credential is a conflict, not a replay.
    let other = credential(&challenge_any(&app, &id).await, SUCCESS);
    assert_eq!(pay(&app, &id, &other, Some("retry-1")).await.status(), 422);
    app.stop().await;
}

/// A challenge as an agent would have kept it from before the payment.
async fn challenge_any(app: &crate::helpers::TestApp, id: &str) -> PaymentChallenge {
    let response = probe(app, id, None).await;
    assert_eq!(response.status(), 409, "paid intents offer no challenge");
    // Forge the shape only; the endpoint must refuse it on the key before anything else.
    PaymentChallenge::new(
        "x",
        "omnibridge.local",
        "sandbox",
        "charge",
        Base64UrlJson::from_raw("e30"),
    )
}

#[tokio::test]
async fn expired_challenges_are_refused() {
    let app = crate::helpers::spawn_app_with(|s| s.payments.challenge_ttl_secs = 1).await;
    let (_, id) = intent(&app, "conf-expired").await;
    let auth = credential(&challenge(&app, &id).await, SUCCESS);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (slug, _) = problem(pay(&app, &id, &auth, None).await).await;
    assert_eq!(slug, "payment-expired");
    assert_eq!(app.sandbox.as_ref().unwrap().settlements(), 0);
    app.stop().await;
}

#[tokio::test]
async fn accept_payment_filters_the_offered_methods() {
    let app = spawn_app().await;
    let (_, id) = intent(&app, "conf-accept").await;
    let offered = challenges(&probe(&app, &id, Some("sandbox/charge")).await);
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0].method.as_str(), "sandbox");
    let offered = challenges(&probe(&app, &id, Some("stripe/charge, sandbox/*;q=0.5")).await);
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0].method.as_str(), "sandbox");
    // Nothing acceptable: the server may ignore the header and offer what it has.
    let response = probe(&app, &id, Some("stripe/charge")).await;
    assert_eq!(response.status(), 402);
    assert_eq!(challenges(&response).len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_secret_keeps_verifying_its_challenges() {
    const OLD: &str = "old-secret-old-secret-old-secret-0001";
    const NEW: &str = "new-secret-new-secret-new-secret-0002";
    let shared = tempfile::tempdir().unwrap();
    let dir = shared.path().to_path_buf();
    let first = crate::helpers::spawn_app_with(|s| {
        s.storage.data_dir = dir.clone();
        s.payments.secret = Some(omnibridge::config::Secret::new(OLD));
    })
    .await;
    let (_, id) = intent(&first, "conf-rotate").await;
    let auth = credential(&challenge(&first, &id).await, SUCCESS);
    first.stop().await;
    let rotated = crate::helpers::spawn_app_with(|s| {
        s.storage.data_dir = dir.clone();
        s.payments.secret = Some(omnibridge::config::Secret::new(NEW));
        s.payments.previous_secrets = vec![omnibridge::config::Secret::new(OLD)];
    })
    .await;
    assert_eq!(pay(&rotated, &id, &auth, None).await.status(), 200);
    rotated.stop().await;
}
