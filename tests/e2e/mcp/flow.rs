//! The whole flow an AI agent runs, from a client we did not write: read a web-chat
//! conversation, reply with buttons, request a payment, wait while the customer pays in the
//! widget (sandbox), see `payment.succeeded`, thank them. Over HTTP and over the stdio command.

use serde_json::{Value, json};

use super::agent;
use crate::process::{BridgeProcess, free_port, start_bridge};
use crate::visitor::Visitor;

const KEY: &str = "mcp-agent-key-0123456789abcdef";

async fn start(dir: &std::path::Path) -> BridgeProcess {
    start_bridge(
        dir,
        free_port(),
        "mcp",
        &[
            ("OMNIBRIDGE_API_KEYS", KEY.to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ],
    )
    .await
}

/// The agent script's next JSON line; no tool result it reports may carry the API key or a
/// confirmation link.
async fn next_json(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> Value {
    let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
        .await
        .expect("the agent said something in time")
        .unwrap()
        .expect("the agent script is still running");
    assert!(
        !line.contains(KEY) && !line.contains("/confirm/"),
        "a secret in a tool result: {line}"
    );
    serde_json::from_str(&line).unwrap()
}

async fn run_flow(transport: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bridge = start(dir.path()).await;
    let mut customer = Visitor::open(&bridge.base).await;
    customer
        .say("Hi! Can I book a table for two tonight at 8?")
        .await;

    let (mut child, mut lines) = agent(transport, &bridge.base, KEY, &["flow"]);
    let tools = next_json(&mut lines).await;
    assert_eq!(tools["step"], "tools");
    assert_eq!(
        tools["tools"],
        json!([
            "cancel_payment",
            "get_conversation",
            "get_payment",
            "list_conversations",
            "refund_payment",
            "request_payment",
            "send_message",
            "wait_for_events"
        ])
    );
    let listed = next_json(&mut lines).await;
    assert_eq!(listed["conversation"]["id"], customer.conversation.as_str());
    assert_eq!(listed["conversation"]["channel"], "webchat");
    assert_eq!(listed["conversation"]["reply"]["possible"], true);
    let read = next_json(&mut lines).await;
    assert!(
        read["transcript"]
            .as_str()
            .unwrap()
            .contains("customer: Hi! Can I book a table for two tonight at 8?"),
        "{read}"
    );

    // The offer arrives with its buttons; the customer presses "Yes, book it".
    let offer = customer.next("message").await;
    assert_eq!(
        offer["text"],
        "A table for two at 8 pm is 45.00 EUR. Shall I book it?"
    );
    let offered = next_json(&mut lines).await;
    assert_eq!(offered["step"], "offered");
    assert_eq!(
        offered["outbound_id"], offered["retried_outbound_id"],
        "same idempotency key, one message"
    );
    customer.press("book", "Yes, book it").await;
    let answered = next_json(&mut lines).await;
    assert_eq!(answered["events"][0]["type"], "action.invoked");
    assert_eq!(answered["events"][0]["data"]["payload"], "book");

    // The payment request reaches the widget; the customer presses Pay (sandbox source).
    let requested = next_json(&mut lines).await;
    assert_eq!(requested["step"], "payment_requested");
    let intent = requested["intent"]["id"].as_str().unwrap().to_owned();
    assert_eq!(requested["intent"]["state"], "requires_confirmation");
    assert_eq!(requested["intent"]["amount"], 4500);
    let shown = requested["shown"]["text"].as_str().unwrap();
    let request = customer.next("message").await;
    assert_eq!(
        request["text"].as_str().unwrap(),
        shown,
        "the agent is told what the customer saw"
    );
    customer.press(&format!("pay:{intent}"), "Pay").await;

    let outcome = next_json(&mut lines).await;
    assert_eq!(outcome["event"]["type"], "payment.succeeded", "{outcome}");
    assert_eq!(outcome["event"]["data"]["intent_id"], intent.as_str());
    let done = next_json(&mut lines).await;
    assert_eq!(done["step"], "done");
    assert_eq!(done["intent_state"], "succeeded");
    assert_eq!(done["resource_has_customer_text"], true);
    assert!(child.wait().await.unwrap().success());

    // The customer reads the receipt and the agent's thanks.
    let mut texts = Vec::new();
    while !texts.iter().any(|t: &String| t.contains("thank you")) {
        texts.push(
            customer.next("message").await["text"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }

    // The audit: one agent.action per changing call, with the key's name, never the text.
    let events: Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/conversations/{}/events?limit=500",
            bridge.base, customer.conversation
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&Value> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "agent.action")
        .collect();
    let tools: Vec<&str> = actions
        .iter()
        .map(|a| a["data"]["tool"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        [
            "send_message",
            "send_message",
            "request_payment",
            "send_message"
        ]
    );
    for action in &actions {
        assert_eq!(action["data"]["key_name"], "env-1");
        assert_eq!(action["data"]["outcome"], "ok");
        let text = action.to_string();
        assert!(
            !text.contains("table for two") && !text.contains(KEY),
            "{text}"
        );
    }
    assert_eq!(actions[2]["data"]["payment_intent_id"], intent.as_str());
    assert_eq!(actions[2]["data"]["amount_minor"], 4500);

    // No secret in the bridge's logs.
    drop(bridge);
    let log = std::fs::read_to_string(dir.path().join("mcp.log")).unwrap();
    assert!(log.contains("MCP tool call done"), "tool calls are logged");
    assert!(!log.contains(KEY), "the API key never reaches the logs");
    assert!(
        !log.contains("Shall I book it"),
        "message bodies never reach the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_mcp_client_runs_the_whole_flow_over_http() {
    run_flow("http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stdio_command_runs_the_same_flow() {
    run_flow("stdio").await;
}

/// Subscribes to a conversation's transcript with `command` (`watch`: `subscriptions/listen`;
/// `watch-legacy`: `resources/subscribe` on a handshake-era session), then the customer
/// writes; returns what the client received.
async fn watch_transcript(command: &str) -> (String, Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let bridge = start(dir.path()).await;
    let mut customer = Visitor::open(&bridge.base).await;
    customer.say("Hello?").await;
    let uri = format!("omnibridge://conversations/{}", customer.conversation);
    let (mut child, mut lines) = agent("http", &bridge.base, KEY, &[command, &uri]);
    let listening = next_json(&mut lines).await;
    assert_eq!(listening["step"], "listening");
    customer.say("Are you there?").await;
    let updated = next_json(&mut lines).await;
    assert_eq!(updated["step"], "updated", "{updated}");
    assert!(child.wait().await.unwrap().success());
    (uri, listening, updated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_transcript_resource_announces_the_customers_next_message() {
    let (uri, listening, updated) = watch_transcript("watch").await;
    assert_eq!(listening["honored"], json!([uri]));
    assert_eq!(updated["uri"], uri.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_era_client_subscribes_with_resources_subscribe() {
    let (uri, listening, updated) = watch_transcript("watch-legacy").await;
    assert_ne!(listening["protocol"], "2026-07-28", "{listening}");
    assert!(
        updated["notification"].to_string().contains(&uri),
        "{updated}"
    );
}
