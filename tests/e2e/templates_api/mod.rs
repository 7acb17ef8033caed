//! The template studio's API: versions saved, refused with their lint problems, published,
//! rolled back, with history and diffs; what is live is what the bridge renders, on every
//! instance sharing the store.

mod instances;

use serde_json::{Value, json};

use crate::helpers::{API_KEY, TestApp, spawn_app};

/// `POST`s `body` to `path` with the test key; (status, body).
pub async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

const GREETING: &str = "/v1/templates/default/en/greeting";

/// Sends the `greeting` template to `conversation` and returns the text the channel got.
async fn greet(app: &TestApp, conversation: &str) -> String {
    let before = app.channel.sent().len();
    let response = app
        .send_message(
            conversation,
            json!({"template": "greeting", "locale": "en", "data": {"name": "Ana"}}),
        )
        .await;
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let sent = app.channel.sent();
        if sent.len() > before {
            return sent[before].text.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "never sent");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_published_version_is_rendered_and_rollback_brings_the_earlier_one_back() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("lead-test").await;
    let (status, one) = post(
        &app,
        &format!("{GREETING}/versions"),
        json!({"parts": {"": "Hola {{name}}!"}, "message": "first wording"}),
    )
    .await;
    assert_eq!(status, 201, "{one}");
    assert_eq!(one["version"]["version"], 1);
    assert_eq!(one["version"]["author"], "tests");
    let (status, two) = post(
        &app,
        &format!("{GREETING}/versions"),
        json!({"parts": {"": "Hello {{name}}, welcome back."}, "message": "friendlier"}),
    )
    .await;
    assert_eq!(status, 201, "{two}");

    // Saved is not live: nothing renders the draft.
    let response = app
        .send_message(
            &conversation,
            json!({"template": "greeting", "data": {"name": "Ana"}}),
        )
        .await;
    assert_eq!(response.status(), 422);

    let (status, published) =
        post(&app, &format!("{GREETING}/publish"), json!({"version": 2})).await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(greet(&app, &conversation).await, "Hello Ana, welcome back.");
    let (status, _) = post(&app, &format!("{GREETING}/rollback"), json!({"version": 1})).await;
    assert_eq!(status, 200);
    assert_eq!(greet(&app, &conversation).await, "Hola Ana!");

    // A test send of a version that is not live sends that version; what is live stays.
    let before = app.channel.sent().len();
    let (status, queued) = post(
        &app,
        &format!("{GREETING}/test-send"),
        json!({"conversation_id": conversation, "version": 2, "data": {"name": "Lead"}}),
    )
    .await;
    assert_eq!(status, 202, "{queued}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.channel.sent().len() == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "test send never sent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.channel.sent()[before].text, "Hello Lead, welcome back.");
    assert_eq!(greet(&app, &conversation).await, "Hola Ana!");

    let one = get(&app, GREETING).await;
    assert_eq!(one["source"], "store");
    assert_eq!(one["published"]["version"], 1);
    assert_eq!(one["parts"][""], "Hola {{name}}!");
    assert_eq!(
        one["draft"]["version"], 2,
        "the newer version, no longer live"
    );
    let history = get(&app, &format!("{GREETING}/versions")).await;
    let versions = history["data"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 2, "newest first");
    assert_eq!(versions[1]["published"], true);
    let diff = versions[0]["diff"][""].as_str().unwrap();
    assert!(
        diff.contains("-Hola {{name}}!") && diff.contains("+Hello {{name}}"),
        "{diff}"
    );
    let list = get(&app, "/v1/templates").await;
    let greeting = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "greeting")
        .unwrap();
    assert_eq!(greeting["source"], "store");
    assert_eq!(greeting["updated_by"], "tests");
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "payment_request"
                && t["locale"] == "es"
                && t["source"] == "file"),
        "the files are listed too"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_version_that_does_not_compile_is_refused_with_its_line_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (status, problem) = post(
        &app,
        &format!("{GREETING}/versions"),
        json!({"parts": {"": "Hello\n{{#if name}}open"}, "message": "broken"}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "lint_failed");
    let problems = problem["problems"].as_array().unwrap();
    assert_eq!(problems[0]["code"], "syntax", "{problem}");
    assert_eq!(problems[0]["severity"], "error");
    assert!(problems[0]["line"].as_u64().unwrap() >= 2, "{problem}");
    let response = app.get(GREETING).await;
    assert_eq!(response.status(), 404, "nothing stored");
    let (status, bad) = post(&app, "/v1/templates/default/../x/versions", json!({})).await;
    assert!(status == 400 || status == 404, "{status} {bad}");
    let (status, missing) = post(&app, &format!("{GREETING}/publish"), json!({"version": 7})).await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["code"], "unknown_version");
    app.stop().await;
}

fn channel<'a>(preview: &'a Value, kind: &str) -> &'a Value {
    preview["previews"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["channel"] == kind)
        .unwrap_or_else(|| panic!("no {kind} preview: {preview}"))
}

#[tokio::test]
async fn the_preview_shows_each_channel_s_split_buttons_and_email_parts() {
    let app = spawn_app().await;
    let long = "word ".repeat(1000);
    let (status, preview) = post(
        &app,
        &format!("{GREETING}/preview"),
        json!({"parts": {"": long.trim_end()}, "data": {}}),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    let whatsapp = channel(&preview, "whatsapp");
    assert_eq!(
        whatsapp["messages"].as_array().unwrap().len(),
        2,
        "{whatsapp}"
    );
    assert_eq!(
        channel(&preview, "webchat")["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(
        preview["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["code"] == "text_too_long" && p["severity"] == "warning"),
        "{preview}"
    );

    let four: Vec<Value> = (1..=4)
        .map(|n| json!({"label": format!("Option {n}"), "payload": format!("opt-{n}")}))
        .collect();
    let (status, preview) = post(
        &app,
        &format!("{GREETING}/preview"),
        json!({"parts": {"": "Pick one"}, "buttons": four}),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    let whatsapp = &channel(&preview, "whatsapp")["messages"][0];
    assert_eq!(whatsapp["buttons_as"], "list", "{whatsapp}");
    assert_eq!(whatsapp["buttons"].as_array().unwrap().len(), 4);
    let webchat = &channel(&preview, "webchat")["messages"][0];
    assert_eq!(webchat["buttons_as"], "buttons", "{webchat}");
    assert_eq!(webchat["buttons"][3]["label"], "Option 4");

    let (status, preview) = post(
        &app,
        "/v1/templates/email/es/payment_request/preview",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    let email = &channel(&preview, "email")["email"];
    assert!(
        !email["subject"].as_str().unwrap_or_default().is_empty(),
        "{email}"
    );
    assert!(
        !email["text"].as_str().unwrap_or_default().is_empty(),
        "{email}"
    );
    assert!(
        email["html"].as_str().unwrap_or_default().contains('<'),
        "{email}"
    );
    assert!(preview["sample_data"].is_object());

    // An undeclared variable in a template that declares its variables: an error, at its line.
    let (status, preview) = post(
        &app,
        "/v1/templates/default/es/payment_request/preview",
        json!({"parts": {"": "Hola\n{{nope}} {{pay_url}}"}}),
    )
    .await;
    assert_eq!(status, 200);
    let undeclared = preview["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "undeclared_variable")
        .unwrap_or_else(|| panic!("{preview}"));
    assert_eq!(undeclared["severity"], "error");
    assert_eq!(undeclared["line"], 2);
    app.stop().await;
}

#[tokio::test]
async fn rolling_back_to_version_0_makes_the_file_live_again_and_keeps_the_versions() {
    let app = spawn_app().await;
    let conversation = app.conversation_from("back-to-file").await;
    let welcome = "/v1/templates/default/en/welcome";
    let file_text = "Hi! Thanks for reaching out. How can we help you today?";
    let (status, _) = post(
        &app,
        &format!("{welcome}/versions"),
        json!({"parts": {"": "Welcome to Acme!"}, "message": "brand"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = post(&app, &format!("{welcome}/publish"), json!({"version": 1})).await;
    assert_eq!(status, 200);
    let body = json!({"template": "welcome", "locale": "en"});
    let before = app.channel.sent().len();
    assert_eq!(
        app.send_message(&conversation, body.clone()).await.status(),
        202
    );
    let (status, back) = post(&app, &format!("{welcome}/rollback"), json!({"version": 0})).await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(app.send_message(&conversation, body).await.status(), 202);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.channel.sent().len() < before + 2 {
        assert!(tokio::time::Instant::now() < deadline, "not sent");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let sent = app.channel.sent();
    assert_eq!(sent[before].text, "Welcome to Acme!");
    assert_eq!(sent[before + 1].text, file_text);
    let one = get(&app, welcome).await;
    assert_eq!(one["source"], "file");
    assert_eq!(one["published"], Value::Null);
    assert_eq!(
        get(&app, &format!("{welcome}/versions")).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, again) = post(&app, &format!("{welcome}/rollback"), json!({"version": 0})).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["code"], "nothing_published");
    app.stop().await;
}
