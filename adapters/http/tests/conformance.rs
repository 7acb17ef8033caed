//! The SDK's conformance kit on the message webhook, with body signatures (hex, prefixed) and
//! timestamped ones (base64); redeliveries keep their de-duplication keys. The factory builds
//! from the full table and names each secret; the status callback at its subpath conforms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use omnibridge_http_channel::signature::sign_webhook;
use omnibridge_http_channel::{HttpChannelFactory, SignatureEncoding};
use omnibridge_sdk::testkit::{
    Conformance, WebhookFixture, assert_conforms, assert_conforms_async, assert_factory_builds,
};
use omnibridge_sdk::{Channel, ChannelError, EventBody};
use serde_json::json;
use support::{AUTH, NOW, OUT_SECRET, WEBHOOK_SECRET, base_config, channel};

fn bodies() -> Vec<String> {
    vec![
        json!({"messages": [
            {"id": "m1", "from": "+15550123", "name": "Ann", "text": "hi \"there\" 👋", "ts": NOW},
            {"id": 2, "from": 15_550_124, "text": "second", "ts": "2023-11-14T22:13:20Z"},
            {"id": "m3", "from": "+15550125", "button": "yes", "text": "Yes"},
        ]})
        .to_string(),
        json!({"messages": []}).to_string(),
    ]
}

#[test]
fn body_signed_webhooks_conform() {
    let mut config = base_config("http://127.0.0.1:9/send");
    config["inbound"]["signature_prefix"] = json!("sha256=");
    let channel = channel(config);
    let fixtures: Vec<WebhookFixture> = bodies()
        .into_iter()
        .map(|body| {
            let signature = sign_webhook(
                WEBHOOK_SECRET.as_bytes(),
                SignatureEncoding::HmacSha256Hex,
                Some("sha256="),
                None,
                body.as_bytes(),
            );
            WebhookFixture::post(body).header("x-signature", &signature)
        })
        .collect();
    assert_conforms(
        &channel,
        &fixtures,
        &Conformance::signed_body(&["x-signature"]),
    );
    let events = channel.normalize(&fixtures[0].request()).unwrap();
    assert_eq!(events.len(), 3);
    assert!(matches!(&events[2].body, EventBody::ActionInvoked(action) if action.payload == "yes"));
}

#[test]
fn timestamp_signed_webhooks_conform_and_stale_ones_are_refused() {
    let mut config = base_config("http://127.0.0.1:9/send");
    config["inbound"]["signature"] = json!("hmac-sha256-base64");
    config["inbound"]["signed_payload"] = json!("timestamp.body");
    config["inbound"]["timestamp_header"] = json!("X-Timestamp");
    config["inbound"]["tolerance_secs"] = json!(120);
    let channel = channel(config);
    let fixture = |body: &str, at: i64| {
        let timestamp = at.to_string();
        let signature = sign_webhook(
            WEBHOOK_SECRET.as_bytes(),
            SignatureEncoding::HmacSha256Base64,
            None,
            Some(&timestamp),
            body.as_bytes(),
        );
        WebhookFixture::post(body.to_owned())
            .header("x-signature", &signature)
            .header("x-timestamp", &timestamp)
    };
    let fixtures: Vec<WebhookFixture> = bodies()
        .iter()
        .map(|body| fixture(body, NOW - 60))
        .collect();
    assert_conforms(
        &channel,
        &fixtures,
        &Conformance::signed_body(&["x-signature", "x-timestamp"]),
    );
    let stale = fixture(&bodies()[0], NOW - 121);
    assert!(matches!(
        channel.verify(&stale.request()),
        Err(ChannelError::Unauthorized {
            reason: "stale_timestamp"
        })
    ));
    let mut without_timestamp = fixtures[0].clone();
    without_timestamp.headers.remove("x-timestamp");
    assert!(matches!(
        channel.verify(&without_timestamp.request()),
        Err(ChannelError::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn the_factory_builds_from_the_full_table_and_the_status_subpath_conforms() {
    let mut table = base_config("http://127.0.0.1:9/send");
    table["id"] = json!("sms");
    table["type"] = json!("http");
    let channel = assert_factory_builds(
        &HttpChannelFactory,
        table,
        &[
            ("SMS_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("SMS_API_AUTH", AUTH),
            ("SMS_OUT_SECRET", OUT_SECRET),
        ],
    );
    assert_eq!(channel.webhook_subpaths(), ["status"]);
    let signed = |body: String| {
        let signature = sign_webhook(
            WEBHOOK_SECRET.as_bytes(),
            SignatureEncoding::HmacSha256Hex,
            None,
            None,
            body.as_bytes(),
        );
        WebhookFixture::post(body).header("x-signature", &signature)
    };
    let status = json!({"statuses": [
        {"id": "prov-1", "status": "DELIVRD"},
        {"id": "prov-2", "status": "UNDELIV"},
    ]})
    .to_string();
    let fixtures = vec![
        signed(bodies()[0].clone()),
        signed(status).at_subpath("status"),
    ];
    assert_conforms_async(
        channel.as_ref(),
        &fixtures,
        &Conformance::signed_body(&["x-signature"]),
    )
    .await;
    let statuses = channel.receive(&fixtures[1].request()).await.unwrap();
    assert_eq!(statuses.len(), 2);
    assert!(
        statuses
            .iter()
            .all(|e| matches!(e.body, EventBody::DeliveryUpdated(_)))
    );
}
