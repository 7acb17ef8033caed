//! API key scopes: each business API operation needs one scope of the caller's key; a key
//! without it gets 403 `insufficient_scope`, a missing or unknown key still 401.

use omnibridge::config::{ApiKeyHash, Scope, Scopes, Secret, Sha256Hex};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const MESSAGES: &str = "key-messages-only";
const PAYMENTS: &str = "key-payments-only";
const AGENT: &str = "key-agent-only";
const TEMPLATES: &str = "key-templates-only";
const DEFAULT: &str = "key-no-scopes-listed";
const ENV: &str = "key-from-env";

fn key(name: &str, scopes: Scopes) -> ApiKeyHash {
    ApiKeyHash {
        name: name.into(),
        sha256: Sha256Hex::of(name.as_bytes()),
        scopes,
        guardrails: None,
    }
}

/// A bridge with one key per case; `DEFAULT` is parsed from config without `scopes`.
async fn spawn() -> TestApp {
    let default: ApiKeyHash = serde_json::from_value(json!({
        "name": DEFAULT,
        "sha256": hex::encode(Sha256Hex::of(DEFAULT.as_bytes()).0),
    }))
    .unwrap();
    spawn_app_with(|settings| {
        settings.api.keys.extend([
            key(MESSAGES, Scope::Messages.into()),
            key(PAYMENTS, Scope::Payments.into()),
            key(AGENT, Scope::Agent.into()),
            key(TEMPLATES, Scope::Templates.into()),
            default,
        ]);
        settings.api.env_keys = vec![Secret::new(ENV)];
    })
    .await
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let is_json = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let body = if is_json {
        response.json().await.unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    (status, body)
}

fn assert_insufficient(answer: &(u16, Value), scope: &str, what: &str) {
    let (status, body) = answer;
    assert_eq!(*status, 403, "{what}: {body}");
    assert_eq!(body["code"], "insufficient_scope", "{what}: {body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&format!("`{scope}`")), "{what}: {detail}");
}

fn intent(conversation: &str) -> Value {
    json!({"conversation_id": conversation, "amount": 700, "currency": "EUR", "description": "Tea"})
}

#[tokio::test]
async fn scoped_keys_reach_only_their_routes() {
    let app = spawn().await;
    let conversation = app.conversation_from("scopes").await;

    // messages only: conversations yes, payment intents no (nothing created).
    let (status, page) = call(&app, "get", "/v1/conversations", Some(MESSAGES), None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"][0]["id"], conversation.as_str());
    let list = call(&app, "get", "/v1/payment-intents", Some(MESSAGES), None).await;
    assert_insufficient(&list, "payments", "messages key lists intents");
    let create = call(
        &app,
        "post",
        "/v1/payment-intents",
        Some(MESSAGES),
        Some(intent(&conversation)),
    )
    .await;
    assert_insufficient(&create, "payments", "messages key creates an intent");
    let intents = format!("/v1/payment-intents?conversation_id={conversation}");
    let (status, listed) = call(&app, "get", &intents, Some(ENV), None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed["data"],
        json!([]),
        "the refused creation created nothing"
    );

    // payments only: the reverse.
    let refused = call(&app, "get", "/v1/conversations", Some(PAYMENTS), None).await;
    assert_insufficient(&refused, "messages", "payments key lists conversations");
    let path = format!("/v1/conversations/{conversation}/messages");
    let send = call(
        &app,
        "post",
        &path,
        Some(PAYMENTS),
        Some(json!({"text": "hi"})),
    )
    .await;
    assert_insufficient(&send, "messages", "payments key sends");
    let (status, created) = call(
        &app,
        "post",
        "/v1/payment-intents",
        Some(PAYMENTS),
        Some(intent(&conversation)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, listed) = call(&app, "get", &intents, Some(PAYMENTS), None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"][0]["id"], created["id"]);

    // agent only: no business route.
    for path in ["/v1/conversations", "/v1/payment-intents"] {
        let (status, body) = call(&app, "get", path, Some(AGENT), None).await;
        assert_eq!(
            (status, &body["code"]),
            (403, &json!("insufficient_scope")),
            "{path}"
        );
    }

    // env key and a key configured without `scopes`: everything.
    for key in [ENV, DEFAULT] {
        let (status, _) = call(&app, "get", "/v1/conversations", Some(key), None).await;
        assert_eq!(status, 200, "{key}");
        let (status, _) = call(&app, "get", &intents, Some(key), None).await;
        assert_eq!(status, 200, "{key}");
        let (status, body) = call(
            &app,
            "post",
            "/v1/payment-intents",
            Some(key),
            Some(intent(&conversation)),
        )
        .await;
        assert_eq!(status, 201, "{key}: {body}");
        let (status, body) =
            call(&app, "post", &path, Some(key), Some(json!({"text": "hi"}))).await;
        assert_eq!(status, 202, "{key}: {body}");
    }
    let (_, listed) = call(&app, "get", &intents, Some(ENV), None).await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(3));

    // 401 stays 401, whatever the route's scope; unauthenticated routes stay open.
    for path in ["/v1/conversations", "/v1/payment-intents"] {
        for key in [None, Some("unknown-key")] {
            let (status, body) = call(&app, "get", path, key, None).await;
            assert_eq!(
                (status, &body["code"]),
                (401, &json!("unauthorized")),
                "{path} {key:?}"
            );
        }
    }
    assert_eq!(
        call(&app, "get", "/v1/openapi.json", None, None).await.0,
        200
    );
    assert_eq!(call(&app, "get", "/healthz", None, None).await.0, 200);
    app.stop().await;
}

/// Every operation of the OpenAPI document is refused to a key without the scope its
/// security requirement names, and let through (whatever it then answers) to a key with
/// only that scope: the document and the router agree.
#[tokio::test]
async fn every_documented_operation_requires_its_scope() {
    let app = spawn().await;
    let (status, doc) = call(&app, "get", "/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let path = template
            .split('/')
            .map(|part| if part.starts_with('{') { "x" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for (method, operation) in item.as_object().unwrap() {
            let scope = operation["security"][0]["api_key"][0].as_str().unwrap();
            let (with, without) = match scope {
                "messages" => (MESSAGES, PAYMENTS),
                "payments" => (PAYMENTS, MESSAGES),
                "templates" => (TEMPLATES, MESSAGES),
                other => panic!("{method} {template}: unexpected scope {other}"),
            };
            let what = format!("{method} {template}");
            let body = (method != "get").then(|| json!({}));
            for key in [without, AGENT] {
                let answer = call(&app, method, &path, Some(key), body.clone()).await;
                assert_insufficient(&answer, scope, &what);
            }
            let (status, answer) = call(&app, method, &path, Some(with), body.clone()).await;
            assert!(
                status != 401 && status != 403,
                "{what} with scope {scope}: {status} {answer}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 23);
    app.stop().await;
}

#[tokio::test]
async fn a_templates_key_edits_templates_only_and_a_messages_key_cannot_edit_them() {
    let app = spawn().await;
    let conversation = app.conversation_from("studio").await;
    let version = json!({"parts": {"": "Hi {{name}}"}, "message": "m"});
    let path = "/v1/templates/default/en/hello/versions";
    let answer = call(&app, "post", path, Some(TEMPLATES), Some(version.clone())).await;
    assert_eq!(answer.0, 201, "{}", answer.1);
    let (status, _) = call(&app, "get", "/v1/templates", Some(TEMPLATES), None).await;
    assert_eq!(status, 200);
    for (method, path) in [("get", "/v1/payment-intents"), ("get", "/v1/conversations")] {
        let answer = call(&app, method, path, Some(TEMPLATES), None).await;
        let scope = if path.contains("payment") {
            "payments"
        } else {
            "messages"
        };
        assert_insufficient(&answer, scope, path);
    }
    let answer = call(
        &app,
        "post",
        "/v1/payment-intents",
        Some(TEMPLATES),
        Some(intent(&conversation)),
    )
    .await;
    assert_insufficient(&answer, "payments", "create intent");
    for (method, path, body) in [
        ("post", path, Some(version.clone())),
        (
            "post",
            "/v1/templates/default/en/hello/publish",
            Some(json!({"version": 1})),
        ),
        (
            "post",
            "/v1/templates/default/en/hello/rollback",
            Some(json!({"version": 1})),
        ),
        ("get", "/v1/templates", None),
    ] {
        let answer = call(&app, method, path, Some(MESSAGES), body).await;
        assert_insufficient(&answer, "templates", path);
    }
    app.stop().await;
}
