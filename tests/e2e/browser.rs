//! A real browser: headless Chromium (driven through ChromeDriver) chats through the widget
//! on the demo page while the test plays the business through the API and `/v1/events`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::helpers::{TestApp, next_event, spawn_app};

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (scripts/install-test-deps installs it)");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.path().display())]
            }),
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(error) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "chromedriver did not start: {error}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }

    /// Waits until `selector` matches an element whose text contains `text`.
    pub async fn wait_for_text(&self, selector: &str, text: &str) -> fantoccini::elements::Element {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(elements) = self.client.find_all(Locator::Css(selector)).await {
                for element in elements {
                    if element.text().await.is_ok_and(|t| t.contains(text)) {
                        return element;
                    }
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {selector} containing {text:?} appeared"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Types a message into the widget and sends it.
pub async fn type_and_send(browser: &Browser, text: &str) {
    let input = browser
        .client
        .wait()
        .for_element(Locator::Css("#ob-input"))
        .await
        .unwrap();
    input.send_keys(text).await.unwrap();
    browser
        .client
        .find(Locator::Css("#ob-send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits for the widget's socket to be open.
pub async fn open_demo(app: &TestApp, browser: &Browser) {
    browser.client.goto(&app.url("/")).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let root = browser.client.find(Locator::Css("#ob-chat")).await;
        if let Ok(root) = root
            && root.attr("data-state").await.ok().flatten().as_deref() == Some("open")
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the widget never connected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_in_a_real_browser_reply_and_button_press() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    let mut events = app.sse("", None).await;
    open_demo(&app, &browser).await;

    type_and_send(&browser, "Hello from Chromium").await;
    let received = next_event(&mut events).await;
    assert_eq!(received.event, "message.received");
    let envelope: Value = serde_json::from_str(&received.data).unwrap();
    assert_eq!(envelope["channel"], "webchat");
    assert_eq!(envelope["v"], 1);
    assert_eq!(envelope["sender"]["role"], "customer");
    assert_eq!(envelope["data"]["content"]["body"], "Hello from Chromium");
    let conversation = envelope["conversation_id"].as_str().unwrap().to_owned();
    browser
        .wait_for_text(".ob-msg.ob-out", "Hello from Chromium")
        .await;

    let reply = app
        .send_message(
            &conversation,
            json!({ "text": "Hi! Shall we ship it?", "buttons": [{ "label": "Ship it", "payload": "ship:42" }] }),
        )
        .await;
    assert_eq!(reply.status(), 202);
    browser
        .wait_for_text(".ob-msg.ob-in", "Shall we ship it?")
        .await;
    let button = browser.wait_for_text("button.ob-action", "Ship it").await;
    button.click().await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let action = loop {
        let event = next_event(&mut events).await;
        if event.event == "action.invoked" {
            break event;
        }
        assert!(tokio::time::Instant::now() < deadline, "no action event");
    };
    let action: Value = serde_json::from_str(&action.data).unwrap();
    assert_eq!(action["data"]["payload"], "ship:42");
    assert_eq!(action["conversation_id"], conversation.as_str());
    browser.stop().await;
    app.stop().await;
}
