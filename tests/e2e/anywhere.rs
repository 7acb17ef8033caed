//! The binary runs from anywhere: started in an empty directory (no `templates/`, the data
//! dir inside it), it serves the demo page and the widget, answers a web-chat visitor and
//! renders a payment request from its embedded templates; its log, written to a pipe,
//! carries no ANSI colour codes.

use std::io::Read;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::process::{free_port, wait_ready};
use crate::visitor::{Visitor, create_intent};

const KEY: &str = "anywhere-process-key-0123456789";

#[tokio::test]
async fn the_binary_serves_chat_and_payments_from_an_empty_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_omnibridge");
    let check = Command::new(binary)
        .arg("check")
        .current_dir(cwd.path())
        .env_remove("OMNIBRIDGE__TEMPLATES__DIR")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "check in an empty directory: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    let port = free_port();
    let mut child = Command::new(binary)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(cwd.path())
        .env_remove("OMNIBRIDGE__TEMPLATES__DIR")
        .env_remove("NO_COLOR")
        .env("OMNIBRIDGE_API_KEYS", KEY)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stderr.read_to_end(&mut out);
        out
    });
    let mut bridge = wait_ready(child, port, "anywhere").await;
    assert!(
        cwd.path().join("data/omnibridge.sqlite").exists(),
        "the default data dir is inside the working directory"
    );
    assert!(!cwd.path().join("templates").exists());

    let client = reqwest::Client::new();
    let demo = client
        .get(format!("{}/", bridge.base))
        .send()
        .await
        .unwrap();
    assert_eq!(demo.status(), 200);
    assert!(demo.text().await.unwrap().contains("/webchat/widget.js"));
    let widget = client
        .get(format!("{}/webchat/widget.js", bridge.base))
        .send()
        .await
        .unwrap();
    assert_eq!(widget.status(), 200);
    assert!(!widget.text().await.unwrap().is_empty());

    let mut visitor = Visitor::open(&bridge.base).await;
    visitor.say("Hello, is anyone there?").await;
    let reply = client
        .post(format!(
            "{}/v1/conversations/{}/messages",
            bridge.base, visitor.conversation
        ))
        .bearer_auth(KEY)
        .json(&json!({"text": "Yes, how can we help?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 202);
    assert_eq!(
        visitor.next("message").await["text"],
        "Yes, how can we help?"
    );

    let intent = create_intent(&bridge.base, KEY, &visitor.conversation).await;
    let request = visitor.next("message").await;
    let text = request["text"].as_str().unwrap();
    assert!(
        text.contains("Dinner for two: €12.50.")
            && text.contains(intent["pay_url"].as_str().unwrap()),
        "the embedded payment_request template: {text}"
    );

    bridge.child.kill().unwrap();
    bridge.child.wait().unwrap();
    let log = String::from_utf8(log.join().unwrap()).unwrap();
    assert!(log.contains("listening"), "{log}");
    assert!(!log.contains("\x1b["), "ANSI codes in a piped log: {log:?}");
}
