//! Inbound media: downloaded through the two-step lookup (the expired URL looked up again),
//! stored, served at `GET /v1/media/{id}` to API clients only; oversized media refused with
//! an event saying why; Meta's `file_size` read as a string or a number; a refused lookup
//! failing at once and a retrying one holding up nothing.

use std::time::Duration;

use omnibridge_whatsapp::fake::Failure;
use serde_json::{Value, json};

use super::{conversation_of, envelope, post_signed, spawn_wa, spawn_wa_with};
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

/// The same path with `storage.media = "s3://..."`: the worker stores into a real local S3
/// server (moto), the API serves from it, and nothing lands in the data dir.
#[tokio::test]
async fn an_inbound_image_stored_in_s3_is_served_to_api_clients() {
    use omnibridge::config::MediaBackend;
    use omnibridge::media::MediaStore;

    use crate::s3_media::{BUCKET, s3_settings};
    use crate::support::moto_server::MotoServer;

    let moto = MotoServer::start();
    moto.create_bucket(BUCKET).await;
    let endpoint = moto.endpoint();
    let wa = spawn_wa_with(json!({}), |settings| {
        settings.storage.media = MediaBackend::S3 {
            bucket: BUCKET.to_owned(),
            prefix: "bridge".to_owned(),
        };
        settings.storage.s3 = s3_settings(&endpoint);
    })
    .await;
    let picture: Vec<u8> = (0..70_000u32).map(|i| (i % 249) as u8).collect();
    wa.fake
        .add_media("7000000000000001", "image/webp", picture.clone());
    let customer = "16505550070";
    post_signed(
        &wa.app,
        envelope(
            customer,
            vec![image(customer, "wamid.S3IMG1", "7000000000000001")],
            vec![],
        ),
    )
    .await;
    let (_, stored) = media_event(&wa.app, customer, "media.stored").await;
    let media = &stored["data"]["media"];
    assert_eq!(media["size_bytes"], 70_000);
    let url = media["url"].as_str().unwrap();
    let id = url.rsplit('/').next().unwrap();
    let served = wa.app.get(&format!("/v1/media/{id}")).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/webp");
    assert_eq!(served.bytes().await.unwrap().to_vec(), picture);
    assert_eq!(
        wa.app
            .get("/v1/media/md_01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .await
            .status(),
        404
    );
    // In the bucket under the prefix, where another instance finds it; not on local disk.
    let other =
        omnibridge::media::ObjectMediaStore::s3(BUCKET, "bridge", &s3_settings(&endpoint)).unwrap();
    let (found, bytes) = other.get(id).await.unwrap().expect("in the bucket");
    assert_eq!(
        (found.mime_type.as_str(), bytes.len()),
        ("image/webp", 70_000)
    );
    assert!(!wa.app.dir.path().join("media").exists());
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

/// The follow-up event (`media.stored` / `media.failed`) of the message `wamid`, if any.
fn update_of<'a>(events: &'a [Value], wamid: &str) -> Option<&'a Value> {
    events.iter().find(|e| {
        e["provider_message_id"] == wamid
            && matches!(e["type"].as_str(), Some("media.stored" | "media.failed"))
    })
}

fn received_at(event: &Value) -> chrono::DateTime<chrono::Utc> {
    event["received_at"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn media_with_file_size_as_a_string_or_a_number_are_both_stored() {
    let wa = spawn_wa(json!({})).await;
    wa.fake
        .add_media("5000000000000001", "image/jpeg", vec![1; 1_234]);
    wa.fake
        .add_media_with_numeric_size("5000000000000002", "image/jpeg", vec![2; 567]);
    let customer = "16505550042";
    let messages = vec![
        image(customer, "wamid.STR1", "5000000000000001"),
        image(customer, "wamid.NUM1", "5000000000000002"),
    ];
    post_signed(&wa.app, envelope(customer, messages, vec![])).await;
    let conversation = conversation_of(&wa.app, customer).await.unwrap();
    let events = wa
        .app
        .wait_for_history(&conversation, |events| {
            ["wamid.STR1", "wamid.NUM1"]
                .iter()
                .all(|id| update_of(events, id).is_some())
        })
        .await;
    for (wamid, size) in [("wamid.STR1", 1_234), ("wamid.NUM1", 567)] {
        let update = update_of(&events, wamid).unwrap();
        assert_eq!(update["type"], "media.stored", "{update}");
        assert_eq!(update["data"]["media"]["size_bytes"], size, "{update}");
    }
    wa.app.stop().await;
}

#[tokio::test]
async fn a_refused_lookup_fails_at_once_and_a_retrying_one_holds_up_nothing() {
    // Retries 30 s apart at least: anything waiting behind one would show.
    let wa = spawn_wa_with(json!({}), |settings| {
        settings.outbox.max_attempts = 5;
        settings.outbox.initial_backoff_ms = 30_000;
        settings.outbox.max_backoff_ms = 60_000;
    })
    .await;
    wa.fake
        .fail_media_lookup("6000000000000001", Failure::ServerError);
    wa.fake.fail_media_lookup(
        "6000000000000002",
        Failure::Code {
            status: 400,
            code: 100,
        },
    );
    wa.fake
        .add_media("6000000000000003", "image/jpeg", vec![3; 2_048]);
    let customer = "16505550043";
    let messages = vec![
        image(customer, "wamid.SLOW", "6000000000000001"),
        image(customer, "wamid.BAD", "6000000000000002"),
        image(customer, "wamid.GOOD", "6000000000000003"),
    ];
    let posted = tokio::time::Instant::now();
    post_signed(&wa.app, envelope(customer, messages, vec![])).await;
    let conversation = conversation_of(&wa.app, customer).await.unwrap();
    let events = wa
        .app
        .wait_for_history(&conversation, |events| {
            update_of(events, "wamid.BAD").is_some() && update_of(events, "wamid.GOOD").is_some()
        })
        .await;
    assert!(
        posted.elapsed() < Duration::from_secs(10),
        "nothing waited out a 30 s retry delay"
    );
    let bad = update_of(&events, "wamid.BAD").unwrap();
    assert_eq!(bad["type"], "media.failed", "{bad}");
    assert_eq!(bad["data"]["code"], "100", "{bad}");
    assert!(
        bad["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("Scripted failure"),
        "{bad}"
    );
    let good = update_of(&events, "wamid.GOOD").unwrap();
    assert_eq!(good["type"], "media.stored", "{good}");
    assert_eq!(good["data"]["media"]["size_bytes"], 2_048);
    let message = |wamid: &str| {
        events
            .iter()
            .find(|e| e["type"] == "message.received" && e["provider_message_id"] == wamid)
            .unwrap()
    };
    let waited = received_at(good) - received_at(message("wamid.GOOD"));
    assert!(
        waited < chrono::Duration::seconds(1),
        "the good item waited {waited} behind the others"
    );
    let failed_after = received_at(bad) - received_at(message("wamid.BAD"));
    assert!(
        failed_after < chrono::Duration::seconds(1),
        "{failed_after}"
    );
    assert!(
        update_of(&events, "wamid.SLOW").is_none(),
        "still retrying: {events:#?}"
    );
    assert_eq!(
        wa.fake.media_lookups_of("6000000000000002"),
        1,
        "a refusal is not retried"
    );
    assert_eq!(
        wa.fake.media_lookups_of("6000000000000001"),
        1,
        "the first retry is 24 s away at the earliest"
    );
    wa.app.stop().await;
}
