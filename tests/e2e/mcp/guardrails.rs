//! Guardrails and scopes through the MCP interface, from the Python SDK: limits name
//! themselves and the room left, hold under 20 concurrent calls, an intent above the approval
//! limit reaches the customer only once a person approves it (never after a rejection), refunds
//! need refund rights, and keys without the scopes see and call nothing.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{agent_once, call};
use crate::process::{BridgeProcess, free_port, start_bridge_with_args};
use crate::visitor::Visitor;

const AGENT: &str = "guarded-agent-key-0123456789";
const READER: &str = "templates-only-key-0123456789";
const MESSAGES: &str = "messages-only-key-0123456789";
const ADMIN: &str = "payments-admin-key-0123456789";

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

async fn start(dir: &std::path::Path) -> BridgeProcess {
    let config = format!(
        r#"
[[api.keys]]
name = "support-agent"
sha256 = "{}"
scopes = ["agent"]
[api.keys.guardrails]
currencies = ["EUR"]
max_amount = {{ EUR = 8000 }}
approval_above = {{ EUR = 5000 }}
refunds = "none"
[api.keys.guardrails.daily_limit]
per_conversation = {{ EUR = 12000 }}

[[api.keys]]
name = "designer"
sha256 = "{}"
scopes = ["templates"]

[[api.keys]]
name = "inbox"
sha256 = "{}"
scopes = ["messages"]

[[api.keys]]
name = "ops"
sha256 = "{}"
scopes = ["payments", "messages"]
"#,
        hash(AGENT),
        hash(READER),
        hash(MESSAGES),
        hash(ADMIN)
    );
    let path = dir.join("keys.toml");
    std::fs::write(&path, config).unwrap();
    start_bridge_with_args(
        dir,
        free_port(),
        "guardrails",
        &[],
        &["--config", path.to_str().unwrap()],
    )
    .await
}

async fn request(base: &str, conversation: &str, amount: i64) -> Value {
    call(
        "http",
        base,
        AGENT,
        "request_payment",
        json!({"conversation_id": conversation, "amount": amount, "currency": "EUR",
               "description": "Room upgrade"}),
    )
    .await
}

async fn events(base: &str, conversation: &str) -> Vec<Value> {
    let page: Value = reqwest::Client::new()
        .get(format!(
            "{base}/v1/conversations/{conversation}/events?limit=500"
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["data"].as_array().unwrap().clone()
}

/// `payment_request` messages sent to the conversation for `intent`.
fn requests_for(events: &[Value], intent: &str) -> usize {
    events
        .iter()
        .filter(|e| {
            e["type"] == "message.sent"
                && e["data"]["buttons"]
                    .as_array()
                    .is_some_and(|b| b.iter().any(|b| b.to_string().contains(intent)))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_approval_refunds_and_scopes_hold_for_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = start(dir.path()).await;
    let base = bridge.base.as_str();

    // Scopes: a templates-only key cannot even connect; a messages-only key sees no money tools.
    let refused = agent_once("http", base, READER, &["tools"]).await;
    assert!(refused["error"].is_string(), "{refused}");
    let inbox = agent_once("http", base, MESSAGES, &["tools"]).await;
    assert_eq!(
        inbox["tools"],
        json!([
            "get_conversation",
            "list_conversations",
            "send_message",
            "wait_for_events"
        ])
    );

    let mut customer = Visitor::open(base).await;
    customer.say("I'd like the room upgrade").await;
    let conversation = customer.conversation.clone();
    let denied = call("http", base, MESSAGES, "request_payment",
        json!({"conversation_id": conversation, "amount": 100, "currency": "EUR", "description": "x"})).await;
    assert_eq!(denied["is_error"], true);
    assert_eq!(denied["structured"]["code"], "insufficient_scope");

    // Over max_amount: refused, the limit named.
    let over = request(base, &conversation, 9000).await;
    assert_eq!(over["is_error"], true, "{over}");
    assert_eq!(over["structured"]["code"], "guardrail_exceeded");
    assert_eq!(over["structured"]["limit"], "max_amount");
    assert_eq!(over["structured"]["limit_minor"], 8000, "{over}");
    assert!(over.to_string().contains("max_amount"), "{over}");

    // Above approval_above: created as requires_approval, nothing reaches the customer.
    let held = request(base, &conversation, 6000).await;
    assert_eq!(held["is_error"], false, "{held}");
    assert_eq!(held["structured"]["intent"]["state"], "requires_approval");
    assert!(held["structured"]["shown_to_customer"].is_null());
    let held_id = held["structured"]["intent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rejected = request(base, &conversation, 5500).await;
    let rejected_id = rejected["structured"]["intent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let reject = client
        .post(format!("{base}/v1/payment-intents/{rejected_id}/reject"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(reject.status(), 200);
    let pay_rejected = client
        .get(format!("{base}/pay/{rejected_id}"))
        .send()
        .await
        .unwrap();
    assert_ne!(
        pay_rejected.status(),
        402,
        "a rejected intent is never payable"
    );
    let approve = client
        .post(format!("{base}/v1/payment-intents/{held_id}/approve"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(approve.status(), 200);
    let offer = customer.next("message").await;
    assert!(
        offer.to_string().contains(&held_id),
        "the approved request reaches the widget: {offer}"
    );
    let history = events(base, &conversation).await;
    assert_eq!(requests_for(&history, &held_id), 1);
    assert_eq!(
        requests_for(&history, &rejected_id),
        0,
        "nothing ever for the rejected intent"
    );
    assert!(
        history
            .iter()
            .any(|e| e["type"] == "payment.approval_requested")
    );
    assert!(history.iter().any(|e| e["type"] == "payment.rejected"));

    // 20 concurrent requests on a fresh conversation against 5 intents' worth (5 x 2400 of
    // 12000 per conversation): exactly 5 are created.
    let mut other = Visitor::open(base).await;
    other.say("Five rooms please").await;
    let arguments = json!({"conversation_id": other.conversation, "amount": 2400,
        "currency": "EUR", "description": "Room"})
    .to_string();
    let burst = agent_once(
        "http",
        base,
        AGENT,
        &["burst", "request_payment", &arguments, "--count", "20"],
    )
    .await;
    let results = burst.as_array().unwrap();
    assert_eq!(results.len(), 20);
    let created = results.iter().filter(|r| r["is_error"] == false).count();
    assert_eq!(created, 5, "{burst}");
    for refused in results.iter().filter(|r| r["is_error"] == true) {
        assert_eq!(refused["structured"]["code"], "guardrail_exceeded");
        assert_eq!(
            refused["structured"]["limit"],
            "daily_limit.per_conversation"
        );
        assert_eq!(refused["structured"]["remaining_minor"], 0);
    }

    // The customer pays one; the agent has no refund rights.
    let paid = results.iter().find(|r| r["is_error"] == false).unwrap();
    let paid_id = paid["structured"]["intent"]["id"].as_str().unwrap();
    other.press(&format!("pay:{paid_id}"), "Pay").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let now = call(
            "http",
            base,
            AGENT,
            "get_payment",
            json!({"payment_intent_id": paid_id}),
        )
        .await;
        if now["structured"]["intent"]["state"] == "succeeded" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{now}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let refund = call(
        "http",
        base,
        AGENT,
        "refund_payment",
        json!({"payment_intent_id": paid_id}),
    )
    .await;
    assert_eq!(refund["is_error"], true, "{refund}");
    assert_eq!(refund["structured"]["code"], "guardrail_exceeded");
    assert_eq!(refund["structured"]["limit"], "refunds");

    // Refusals are audited too.
    let audit: Vec<Value> = events(base, &other.conversation)
        .await
        .into_iter()
        .filter(|e| e["type"] == "agent.action")
        .collect();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a["data"]["outcome"] == "refused")
            .count(),
        16,
        "15 over the limit + the refund"
    );
    assert!(
        audit
            .iter()
            .all(|a| a["data"]["key_name"] == "support-agent")
    );
}
