//! Links follow the address the bridge is reached at: the real binary, `serve --bind
//! 127.0.0.1:<port>` with no `server.public_url`, puts `<port>` in the pay URL of the intent
//! and of the chat message.

use crate::process::{free_port, start_bridge};
use crate::visitor::{Visitor, create_intent};

const KEY: &str = "links-process-key-0123456789";

#[tokio::test]
async fn without_public_url_pay_links_point_at_the_bound_port() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bridge = start_bridge(
        dir.path(),
        port,
        "links",
        &[("OMNIBRIDGE_API_KEYS", KEY.to_owned())],
    )
    .await;
    let mut visitor = Visitor::open(&bridge.base).await;
    visitor.say("I'd like to pay").await;
    let intent = create_intent(&bridge.base, KEY, &visitor.conversation).await;
    let id = intent["id"].as_str().unwrap();
    let pay_url = format!("http://127.0.0.1:{port}/pay/{id}");
    assert_eq!(intent["pay_url"], pay_url.as_str());
    let message = visitor.next("message").await;
    let text = message["text"].as_str().unwrap();
    assert!(text.contains(&pay_url), "{text}");
    let log = std::fs::read_to_string(dir.path().join("links.log")).unwrap();
    assert!(
        log.contains(&format!("http://127.0.0.1:{port}")) && log.contains("public_url"),
        "the derived public URL is logged at start: {log}"
    );
}
