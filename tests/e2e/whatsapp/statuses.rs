//! Statuses: linked to our outbound id through the recorded wamid, never downgraded; a batch
//! of several entries yields every event once.

use std::time::Duration;

use serde_json::{Value, json};

use super::{
    PN, conversation_with, envelope, post_signed, send, settled, spawn_wa, status, text_message,
};

#[tokio::test]
async fn statuses_out_of_order_end_in_read_and_link_to_the_outbound_id() {
    let wa = spawn_wa(json!({})).await;
    let customer = "16505550010";
    let conversation = conversation_with(&wa.app, customer, Duration::from_secs(60)).await;
    let (_, accepted) = send(
        &wa.app,
        &conversation,
        json!({"text": "Your order shipped"}),
    )
    .await;
    let id = accepted["outbound_id"].as_str().unwrap().to_owned();
    assert_eq!(settled(&wa.app, &id).await["state"], "sent");
    let history = wa.app.history(&conversation).await;
    let wamid = history
        .iter()
        .find(|e| e["type"] == "message.sent")
        .and_then(|e| e["provider_message_id"].as_str())
        .expect("message.sent carries the wamid")
        .to_owned();
    for name in ["read", "delivered", "sent"] {
        post_signed(
            &wa.app,
            envelope(customer, vec![], vec![status(customer, &wamid, name)]),
        )
        .await;
    }
    let outbound = settled(&wa.app, &id).await;
    assert_eq!(outbound["delivery"], "read", "{outbound}");
    let history = wa.app.history(&conversation).await;
    let statuses: Vec<(&str, &Value)> = history
        .iter()
        .filter(|e| e["type"] == "delivery.updated")
        .map(|e| {
            (
                e["data"]["status"].as_str().unwrap(),
                &e["data"]["outbound_id"],
            )
        })
        .collect();
    assert_eq!(
        statuses.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        ["sent", "read"],
        "the late delivered and sent never follow read: {history:#?}"
    );
    assert!(
        statuses.iter().all(|(_, o)| *o == id.as_str()),
        "{statuses:?}"
    );
    let read = history
        .iter()
        .find(|e| e["data"]["status"] == "read")
        .unwrap();
    assert_eq!(read["provider_message_id"], wamid.as_str());
    post_signed(
        &wa.app,
        envelope(
            customer,
            vec![],
            vec![status(customer, "wamid.UNKNOWN", "read")],
        ),
    )
    .await;
    let unknown = wa
        .app
        .wait_for_history(&conversation, |events| {
            events
                .iter()
                .any(|e| e["provider_message_id"] == "wamid.UNKNOWN")
        })
        .await;
    let unknown = unknown
        .iter()
        .find(|e| e["provider_message_id"] == "wamid.UNKNOWN")
        .unwrap();
    assert!(unknown["data"].get("outbound_id").is_none(), "{unknown}");
    wa.app.stop().await;
}

#[tokio::test]
async fn a_batch_of_several_entries_yields_every_event_once() {
    let wa = spawn_wa(json!({})).await;
    let recent = Duration::from_secs(30);
    let entry = |customer: &str, ids: &[&str]| {
        let body: Value = serde_json::from_slice(&envelope(
            customer,
            ids.iter()
                .map(|id| text_message(customer, id, recent))
                .collect(),
            vec![status(
                customer,
                &format!("wamid.OUT{customer}"),
                "delivered",
            )],
        ))
        .unwrap();
        body["entry"][0].clone()
    };
    let body = json!({"object": "whatsapp_business_account", "entry": [
        entry("16505550020", &["wamid.B1", "wamid.B2"]),
        entry("16505550021", &["wamid.B3"]),
    ]});
    let bytes = body.to_string().into_bytes();
    post_signed(&wa.app, bytes.clone()).await;
    post_signed(&wa.app, bytes).await;
    let list = wa.app.conversation_list().await;
    let mut total = Vec::new();
    for c in list["data"].as_array().unwrap() {
        assert_eq!(c["conversation"]["account"], PN);
        total.extend(wa.app.history(c["id"].as_str().unwrap()).await);
    }
    let mut keys: Vec<String> = total
        .iter()
        .map(|e| format!("{}:{}", e["type"], e["provider_message_id"]))
        .collect();
    keys.sort();
    let expected = [
        "\"delivery.updated\":\"wamid.OUT16505550020\"",
        "\"delivery.updated\":\"wamid.OUT16505550021\"",
        "\"message.received\":\"wamid.B1\"",
        "\"message.received\":\"wamid.B2\"",
        "\"message.received\":\"wamid.B3\"",
    ];
    assert_eq!(keys, expected, "{total:#?}");
    wa.app.stop().await;
}
