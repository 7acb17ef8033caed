//! Inbound media: downloaded through the two-step lookup (the expired URL looked up again),
//! stored, served at `GET /v1/media/{id}` to API clients only; oversized media refused with
//! an event saying why.

use std::time::Duration;

use serde_json::{Value, json};

use super::{conversation_of, envelope, post_signed, spawn_wa};
use crate::helpers::TestApp;

fn image(customer: &str, id: &str, media_id: &str) -> Value {
    json!({"from": customer, "id": id, "timestamp": chrono::Utc::now().timestamp().to_string(),
        "type": "image", "image": {"caption": "Is this the one?", "mime_type": "image/jpeg",
        "sha256": "x", "id": media_id}})
}

async fn media_event(app: &TestApp, customer: &str, wanted: &str) -> (Value, Value) {
    let conversation = conversation_of(app, customer).await.expect("conversation");
    let events = app
        .wait_for_history(&conversation, |events| {
            events.iter().any(|e| e["type"] == wanted)
        })
        .await;
    let received = events
        .iter()
        .find(|e| e["type"] == "message.received")
        .unwrap()
        .clone();
    let update = events.into_iter().find(|e| e["type"] == wanted).unwrap();
    (received, update)
}

#[tokio::test]
async fn an_inbound_image_is_downloaded_stored_and_served_to_api_clients() {
    let wa = spawn_wa(json!({})).await;
    let picture: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    wa.fake
        .add_media("1003383421387256", "image/jpeg", picture.clone());
    wa.fake.expire_next_downloads(1);
    let customer = "16505550040";
    post_signed(
        &wa.app,
        envelope(
            customer,
            vec![image(customer, "wamid.IMG1", "1003383421387256")],
            vec![],
        ),
    )
    .await;
    let (received, stored) = media_event(&wa.app, customer, "media.stored").await;
    assert_eq!(received["data"]["content"]["media_kind"], "image");
    assert_eq!(stored["data"]["message_event_id"], received["id"]);
    assert_eq!(stored["provider_message_id"], "wamid.IMG1");
    let media = &stored["data"]["media"];
    assert_eq!(media["provider_media_id"], "1003383421387256");
    assert_eq!(media["size_bytes"], 50_000);
    assert_eq!(media["caption"], "Is this the one?");
    assert_eq!(
        wa.fake.media_requests(),
        (2, 1),
        "looked up again after the 404"
    );
    let url = media["url"].as_str().unwrap();
    let path = url
        .strip_prefix("http://")
        .and_then(|u| u.find('/').map(|i| &u[i..]))
        .unwrap();
    assert!(path.starts_with("/v1/media/md_"), "{url}");
    let anonymous = wa.app.client.get(wa.app.url(path)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let served = wa.app.get(path).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    assert_eq!(served.bytes().await.unwrap().to_vec(), picture);
    assert_eq!(
        wa.app
            .get("/v1/media/md_01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .await
            .status(),
        404
    );
    wa.app.stop().await;
}

#[tokio::test]
async fn oversized_media_is_refused_with_an_event_saying_why() {
    let wa = spawn_wa(json!({})).await;
    let cap = omnibridge::media::DEFAULT_MAX_MEDIA_BYTES as usize;
    wa.fake
        .add_media("2000000000000001", "video/mp4", vec![0; cap + 1]);
    let customer = "16505550041";
    post_signed(
        &wa.app,
        envelope(
            customer,
            vec![image(customer, "wamid.BIG1", "2000000000000001")],
            vec![],
        ),
    )
    .await;
    let (_, failed) = media_event(&wa.app, customer, "media.failed").await;
    assert_eq!(failed["data"]["code"], "media_too_large", "{failed}");
    let reason = failed["data"]["reason"].as_str().unwrap();
    assert!(reason.contains(&cap.to_string()), "{reason}");
    assert!(failed["data"]["media"].get("url").is_none());
    assert_eq!(wa.fake.media_requests(), (1, 0), "nothing downloaded");
    tokio::time::sleep(Duration::from_millis(50)).await;
    wa.app.stop().await;
}
