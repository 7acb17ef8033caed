//! Meta's documented webhook shapes → canonical events; signatures; conformance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http::Method;
use omnibridge_sdk::testkit::{
    Conformance, WebhookFixture, assert_conforms_async, assert_factory_builds, check_conformance,
};
use omnibridge_sdk::{Channel, ChannelError, WebhookRequest};
use omnibridge_whatsapp::inbound::sign;
use omnibridge_whatsapp::{WhatsAppChannel, WhatsAppConfig, WhatsAppFactory, WhatsAppSecrets};
use serde_json::{Value, json};

const SECRET: &str = "app-secret-for-tests";
const PN: &str = "106540352242922";
const CUSTOMER: &str = "16505551234";

fn channel() -> WhatsAppChannel {
    let config = WhatsAppConfig::new(PN).with_api_base("http://127.0.0.1:9");
    WhatsAppChannel::new(config, WhatsAppSecrets::new("token", SECRET, "verify-me")).unwrap()
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

fn signed(body: Vec<u8>) -> WebhookFixture {
    let signature = sign(SECRET.as_bytes(), &body);
    WebhookFixture::post(body).header("x-hub-signature-256", &signature)
}

/// Verifies and normalises a fixture; events as JSON for easy assertions.
fn events(name: &str) -> Vec<Value> {
    let fixture = signed(fixture_bytes(name));
    let channel = channel();
    channel.verify(&fixture.request()).unwrap();
    let events = channel.normalize(&fixture.request()).unwrap();
    events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

fn content(event: &Value) -> &Value {
    &event["body"]["data"]["content"]
}

#[test]
fn text_message_becomes_message_received() {
    let events = events("text");
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["body"]["type"], "message.received");
    assert_eq!(
        content(e),
        &json!({"kind": "text", "body": "Does it come in another color?"})
    );
    assert_eq!(
        e["conversation"],
        json!({"account": PN, "thread": CUSTOMER})
    );
    assert_eq!(e["sender"]["id"], CUSTOMER);
    assert_eq!(e["sender"]["display_name"], "Sheena Nelson");
    assert_eq!(
        e["provider_message_id"],
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzTEXT"
    );
    assert_eq!(e["occurred_at"], "2025-06-08T20:59:43Z");
    assert!(e["raw"]["body"].as_str().unwrap().contains("another color"));
}

#[test]
fn every_media_kind_keeps_id_mime_caption_and_file_name() {
    let events = events("media");
    assert_eq!(events.len(), 5);
    let media: Vec<_> = events.iter().map(|e| content(e).clone()).collect();
    assert_eq!(media[0]["provider_media_id"], "1003383421387256");
    assert_eq!(media[0]["mime_type"], "image/jpeg");
    assert_eq!(media[0]["caption"], "Is this the one?");
    assert!(
        media[0]["url"].is_null(),
        "the media store fills the URL later"
    );
    assert!(
        events[0]["raw"]["body"]
            .as_str()
            .unwrap()
            .contains("sha256")
    );
    let kinds: Vec<_> = media
        .iter()
        .map(|m| m["media_kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["image", "video", "audio", "document", "sticker"]);
    assert_eq!(media[3]["filename"], "invoice-42.pdf");
    assert_eq!(media[2]["mime_type"], "audio/ogg; codecs=opus");
}

#[test]
fn location_and_contacts() {
    let location = &events("location")[0];
    assert_eq!(content(location)["kind"], "location");
    assert_eq!(content(location)["latitude"], 37.483307);
    assert_eq!(content(location)["name"], "Main Street Beach");
    let contacts = events("contacts");
    assert_eq!(contacts.len(), 2, "one event per shared card");
    assert_eq!(content(&contacts[0])["name"], "Barbara J. Johnson");
    assert_eq!(
        content(&contacts[0])["phones"],
        json!(["+1 (940) 555-1234"])
    );
    assert_eq!(
        content(&contacts[0])["emails"],
        json!(["bjohnson@example.com"])
    );
    assert_eq!(
        content(&contacts[0])["user_id"],
        "19405551234",
        "phones[].wa_id"
    );
    assert!(
        content(&contacts[1]).get("user_id").is_none(),
        "a card without wa_id has no user_id"
    );
    assert!(contacts[0]["dedup_key"].is_null());
    assert_eq!(
        contacts[1]["dedup_key"],
        format!("{}#1", contacts[1]["provider_message_id"].as_str().unwrap())
    );
}

#[test]
fn button_list_and_template_replies_become_actions() {
    for (name, payload, label, reply_to) in [
        (
            "button_reply",
            "pay:pi_123",
            "Pay $12.00",
            "wamid.OUTBOUND1",
        ),
        ("list_reply", "size:m", "Medium", "wamid.OUTBOUND2"),
        (
            "template_button",
            "pay:pi_456",
            "Pay now",
            "wamid.OUTBOUND3",
        ),
    ] {
        let events = events(name);
        assert_eq!(events.len(), 1, "{name}");
        assert_eq!(events[0]["body"]["type"], "action.invoked", "{name}");
        assert_eq!(
            events[0]["body"]["data"],
            json!({"payload": payload, "label": label})
        );
        assert_eq!(events[0]["reply_to"], reply_to);
    }
}

#[test]
fn reactions_added_and_removed() {
    let events = events("reaction");
    assert_eq!(
        content(&events[0]),
        &json!({"kind": "reaction", "to": "wamid.OUTBOUND1", "emoji": "👍"})
    );
    assert_eq!(
        content(&events[1]),
        &json!({"kind": "reaction", "to": "wamid.OUTBOUND1", "emoji": ""})
    );
}

#[test]
fn replies_and_forwards() {
    let events = events("reply_forwarded");
    assert_eq!(events[0]["reply_to"], "wamid.OUTBOUND1");
    assert!(events[0]["body"]["data"].get("forwarded").is_none());
    assert_eq!(events[1]["body"]["data"]["forwarded"], true);
    assert!(events[1]["reply_to"].is_null());
    assert_eq!(events[2]["body"]["data"]["forwarded"], true);
}

#[test]
fn unknown_unsupported_and_malformed_messages_are_kept_as_unsupported() {
    let events = events("unsupported");
    assert_eq!(events.len(), 3);
    assert_eq!(
        content(&events[0])["provider_type"],
        "unsupported (error 131051: Message type unknown: Message type is currently not supported.)"
    );
    assert_eq!(content(&events[1])["provider_type"], "order");
    assert_eq!(content(&events[2])["provider_type"], "malformed.text");
    assert_eq!(events[2]["provider_message_id"], "wamid.BAD");
    assert!(
        events
            .iter()
            .all(|e| e["conversation"]["thread"] == CUSTOMER)
    );
}

#[test]
fn statuses_keep_their_own_events_in_any_order() {
    let events = events("statuses");
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            let status = e["body"]["data"]["status"].as_str().map(str::to_owned);
            (
                e["body"]["type"].as_str().unwrap().to_owned(),
                status.unwrap_or_else(|| content(e)["provider_type"].as_str().unwrap().to_owned()),
                e["dedup_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("delivery.updated", "read", "wamid.OUTBOUND1:read"),
        ("delivery.updated", "delivered", "wamid.OUTBOUND1:delivered"),
        ("delivery.updated", "sent", "wamid.OUTBOUND1:sent"),
        ("delivery.updated", "failed", "wamid.OUTBOUND2:failed"),
        ("delivery.updated", "read", "wamid.VOICE1:played"),
        (
            "message.received",
            "status.deleted",
            "wamid.OUTBOUND4:deleted",
        ),
    ];
    for (got, want) in summary.iter().zip(expected) {
        assert_eq!((got.0.as_str(), got.1.as_str(), got.2.as_str()), want);
    }
    assert_eq!(events[0]["provider_message_id"], "wamid.OUTBOUND1");
    assert_eq!(events[0]["conversation"]["thread"], CUSTOMER);
    assert_eq!(events[3]["body"]["data"]["code"], "131026");
    assert_eq!(
        events[3]["body"]["data"]["reason"],
        "Message undeliverable: Message Undeliverable."
    );
}

#[test]
fn value_level_errors_and_other_fields_reach_the_operator() {
    let errors = events("value_errors");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["conversation"]["thread"], "_system");
    assert_eq!(errors[0]["sender"]["role"], "system");
    assert_eq!(errors[0]["body"]["data"]["status"], "failed");
    assert_eq!(errors[0]["body"]["data"]["code"], "131052");
    assert!(
        errors[0]["dedup_key"]
            .as_str()
            .unwrap()
            .starts_with("error:")
    );
    let update = events("account_update");
    assert_eq!(content(&update[0])["provider_type"], "field.account_update");
}

#[test]
fn business_scoped_user_ids_stand_in_for_missing_phone_numbers() {
    let events = events("bsuid");
    assert_eq!(
        events[0]["conversation"]["thread"],
        "US.13491208655302741918"
    );
    assert_eq!(events[0]["sender"]["display_name"], "Bob");
    assert_eq!(
        events[1]["conversation"]["thread"],
        "US.13491208655302741918"
    );
}

#[test]
fn a_batch_yields_every_event_once_on_its_phone_number() {
    let events = events("batch");
    let ids: Vec<_> = events.iter().map(|e| e["dedup_key"].clone()).collect();
    let keys: Vec<_> = events
        .iter()
        .map(|e| e["provider_message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["wamid.B1", "wamid.B2", "wamid.OUT7", "wamid.B3"]);
    assert_eq!(ids[2], "wamid.OUT7:delivered");
    assert_eq!(events[1]["sender"]["display_name"], "Ben");
    assert_eq!(events[3]["conversation"]["account"], "200000000000001");
}

#[test]
fn wrong_or_missing_signatures_are_unauthorized() {
    let channel = channel();
    let body = fixture_bytes("text");
    let unsigned = WebhookFixture::post(body.clone());
    let wrong = WebhookFixture::post(body.clone())
        .header("x-hub-signature-256", &sign(b"another secret", &body));
    let garbled = WebhookFixture::post(body).header("x-hub-signature-256", "sha256=zz");
    for (fixture, reason) in [
        (unsigned, "missing_signature"),
        (wrong, "bad_signature"),
        (garbled, "bad_signature"),
    ] {
        match channel.verify(&fixture.request()) {
            Err(ChannelError::Unauthorized { reason: got }) => assert_eq!(got, reason),
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }
}

#[test]
fn the_signature_covers_the_raw_bytes_not_a_reserialisation() {
    let channel = channel();
    let raw = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"106540352242922"},"messages":[{"from":"1","id":"wamid.U","timestamp":"1","type":"text","text":{"body":"caf\u00e9 \ud83d\ude00"}}]}}]}]}"#.to_vec();
    let fixture = signed(raw.clone());
    channel.verify(&fixture.request()).unwrap();
    let events = channel.normalize(&fixture.request()).unwrap();
    let event = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(content(&event)["body"], "café 😀");
    let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(&raw).unwrap()).unwrap();
    assert_ne!(reserialised, raw);
    let mut moved = fixture.clone();
    moved.body = Bytes::from(reserialised);
    assert!(matches!(
        channel.verify(&moved.request()),
        Err(ChannelError::Unauthorized { .. })
    ));
}

#[test]
fn handshake_answers_the_challenge_only_with_the_verify_token() {
    let channel = channel();
    let (headers, body) = (http::HeaderMap::new(), Bytes::new());
    let ask = |query: &'static str| {
        channel.handshake(&WebhookRequest::new(
            &Method::GET,
            &headers,
            Some(query),
            &body,
        ))
    };
    let ok = ask("hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444").unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.body().as_ref(), b"1158201444");
    assert!(ask("hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1").is_none());
    assert!(ask("hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1").is_none());
    assert!(ask("hub.mode=subscribe&hub.verify_token=verify-me").is_none());
}

#[test]
fn not_json_is_malformed_and_odd_json_yields_nothing() {
    let channel = channel();
    let bad = signed(b"{not json".to_vec());
    assert!(matches!(
        channel.normalize(&bad.request()),
        Err(ChannelError::Malformed(_))
    ));
    let empty = signed(b"{\"object\":\"page\",\"entry\":[{\"changes\":[{\"value\":7}]}]}".to_vec());
    assert!(channel.normalize(&empty.request()).unwrap().is_empty());
}

#[test]
fn conforms_to_the_sdk_contract() {
    let fixtures: Vec<WebhookFixture> = [
        "text",
        "media",
        "location",
        "contacts",
        "button_reply",
        "list_reply",
        "template_button",
        "reaction",
        "reply_forwarded",
        "unsupported",
        "statuses",
        "value_errors",
        "bsuid",
        "account_update",
        "batch",
    ]
    .iter()
    .map(|name| signed(fixture_bytes(name)))
    .collect();
    let breaches = check_conformance(
        &channel(),
        &fixtures,
        &Conformance::signed_body(&["x-hub-signature-256"]),
    );
    assert!(breaches.is_empty(), "{breaches:#?}");
}

/// The channel as the bridge builds it: through its factory, from a `[[channels]]` table,
/// with every secret named when unset; then the kit through `receive` too.
#[tokio::test]
async fn the_factory_builds_from_its_table_and_the_channel_conforms_through_receive() {
    let table = json!({
        "id": "acme-wa",
        "type": "whatsapp",
        "phone_number_id": PN,
        "access_token_env": "ACME_WA_ACCESS_TOKEN",
        "app_secret_env": "ACME_WA_APP_SECRET",
        "verify_token_env": "ACME_WA_VERIFY_TOKEN",
        "api_base": "http://127.0.0.1:9",
        "template_mappings": {"payment_request": {"name": "payment_request_v2", "language": "en_US"}},
    });
    let channel = assert_factory_builds(
        &WhatsAppFactory,
        table,
        &[
            ("ACME_WA_ACCESS_TOKEN", "access-token-value"),
            ("ACME_WA_APP_SECRET", SECRET),
            ("ACME_WA_VERIFY_TOKEN", "verify-token-value"),
        ],
    );
    let fixtures: Vec<WebhookFixture> = ["text", "statuses", "batch"]
        .iter()
        .map(|name| signed(fixture_bytes(name)))
        .collect();
    assert_conforms_async(
        channel.as_ref(),
        &fixtures,
        &Conformance::signed_body(&["x-hub-signature-256"]),
    )
    .await;
}
