//! Business API: auth, bad input, idempotency, OpenAPI, health.

use serde_json::{Value, json};

use crate::helpers::{API_KEY, spawn_app, types};

async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type {content_type}"
    );
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn missing_or_wrong_api_key_is_401_problem() {
    let app = spawn_app().await;
    let (status, body) = problem(
        app.client
            .get(app.url("/v1/conversations"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let wrong = app
        .client
        .get(app.url("/v1/conversations"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    let (status, body) = problem(wrong).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_are_clear_problems_and_store_nothing() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("bad-input").await;
    let url = app.url(&format!("/v1/conversations/{conversation}/messages"));
    let post = |body: Vec<u8>| {
        app.client
            .post(&url)
            .bearer_auth(API_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (status, body) = problem(post(b"{\"text\": ".to_vec()).await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_json")));
    let (status, body) = problem(post(b"{\"txt\": \"hi\"}".to_vec()).await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_body")));
    let huge = serde_json::to_vec(&json!({ "text": "x".repeat(2 * 1024 * 1024) })).unwrap();
    let (status, body) = problem(post(huge).await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
    let (status, body) = problem(
        app.send_message("cv_unknown", json!({ "text": "hi" }))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_conversation"))
    );
    let (status, body) = problem(
        app.send_message(
            &conversation,
            json!({ "text": "hi", "buttons": [{ "label": "x" }] }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_button"))
    );
    // Nothing was queued or sent, and the history holds only the customer's first message.
    let history = app.history(&conversation).await;
    assert_eq!(types(&history), ["message.received"]);
    assert!(app.channel.sent().is_empty());
    assert!(app.metrics().await.contains("omnibridge_outbox_depth 0"));
    app.stop().await;
}

#[tokio::test]
async fn a_reply_reaches_the_channel_with_sent_events() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("reply").await;
    let response = app
        .send_message(
            &conversation,
            json!({ "text": "Thanks!", "buttons": [{ "label": "Yes", "payload": "yes" }] }),
        )
        .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let outbound_id = accepted["outbound_id"].as_str().unwrap().to_owned();
    let history = app
        .wait_for_history(&conversation, |events| {
            types(events).contains(&"delivery.updated".to_owned())
        })
        .await;
    assert_eq!(
        types(&history),
        ["message.received", "message.sent", "delivery.updated"]
    );
    assert_eq!(history[1]["data"]["outbound_id"], outbound_id.as_str());
    assert_eq!(history[1]["data"]["buttons"][0]["payload"], "yes");
    assert_eq!(history[2]["data"]["status"], "sent");
    let sent = app.channel.sent();
    assert_eq!(sent.len(), 1);
    // The test channel has no buttons: they became numbered text.
    assert_eq!(sent[0].text, "Thanks!\n1. Yes");
    app.stop().await;
}

#[tokio::test]
async fn idempotency_key_replays_the_first_answer_and_sends_once() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("idem").await;
    let send = |text: &'static str| {
        app.client
            .post(app.url(&format!("/v1/conversations/{conversation}/messages")))
            .bearer_auth(API_KEY)
            .header("idempotency-key", "order-42")
            .json(&json!({ "text": text }))
            .send()
    };
    let first: Value = send("once").await.unwrap().json().await.unwrap();
    let second: Value = send("once").await.unwrap().json().await.unwrap();
    assert_eq!(first, second);
    let conflict = send("different").await.unwrap();
    assert_eq!(conflict.status(), 422);
    app.wait_for_history(&conversation, |e| {
        types(e).contains(&"delivery.updated".to_owned())
    })
    .await;
    assert_eq!(app.channel.sent().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn health_readiness_openapi_and_metrics_answer() {
    let app = spawn_app().await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        ready["channel_types"],
        json!(["email", "http", "telegram", "webchat", "whatsapp"]),
        "{ready}"
    );
    let doc: Value = app
        .client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/conversations",
        "/v1/conversations/{id}/messages",
        "/v1/events",
        "/v1/conversations/{id}/events",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("omnibridge_http_request_duration_seconds"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 6);
    for (path, operations) in paths {
        let concrete = path.replace("{id}", "cv_missing");
        for method in operations.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .client
                .request(method.clone(), app.url(&concrete))
                .bearer_auth(API_KEY)
                .json(&json!({ "text": "x" }))
                .timeout(std::time::Duration::from_secs(2))
                .send()
                .await;
            // SSE keeps the stream open: headers arriving is enough.
            let Ok(response) = response else { continue };
            assert_ne!(
                response.status(),
                405,
                "{method} {path} is documented but not routed"
            );
            if response.status() == 404 {
                let body: Value = response.json().await.unwrap();
                assert_ne!(
                    body["code"], "not_found",
                    "{method} {path} is documented but not routed"
                );
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_conversation_lists_its_participants() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("people").await;
    assert_eq!(app.inbound("people", "p2", "again").await.status(), 200);
    let detail: Value = app
        .get(&format!("/v1/conversations/{conversation}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["id"], conversation.as_str());
    assert_eq!(detail["channel"], "testchan");
    let participants = detail["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 1);
    assert_eq!(participants[0]["id"], "people");
    assert_eq!(participants[0]["role"], "customer");
    assert!(
        participants[0]["last_seen_at"].as_str().unwrap()
            >= participants[0]["first_seen_at"].as_str().unwrap()
    );
    app.stop().await;
}

#[tokio::test]
async fn templates_render_per_locale_and_errors_are_422() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("tpl").await;
    let spanish = app
        .send_message(
            &conversation,
            json!({ "template": "welcome", "locale": "es-MX" }),
        )
        .await;
    assert_eq!(spanish.status(), 202);
    let with_data = app
        .send_message(
            &conversation,
            json!({ "template": "message", "data": { "text": "from a template" } }),
        )
        .await;
    assert_eq!(with_data.status(), 202);
    let history = app
        .wait_for_history(&conversation, |e| {
            types(e).iter().filter(|t| *t == "delivery.updated").count() == 2
        })
        .await;
    let sent: Vec<_> = history
        .iter()
        .filter(|e| e["type"] == "message.sent")
        .map(|e| e["data"]["content"]["body"].as_str().unwrap().to_owned())
        .collect();
    assert!(sent[0].starts_with("¡Hola!"), "{sent:?}");
    assert_eq!(sent[1], "from a template");
    let (status, body) = problem(
        app.send_message(&conversation, json!({ "template": "message" }))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("template_error"))
    );
    assert!(body["detail"].as_str().unwrap().contains("text"), "{body}");
    let (status, body) = problem(
        app.send_message(&conversation, json!({ "template": "nope" }))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("template_error"))
    );
    app.stop().await;
}
