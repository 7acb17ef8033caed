//! Shared media on S3-compatible object storage, against a real local S3 server (moto's
//! server mode): bytes, type and size round-trip; unknown and malformed ids are `None`; a
//! 5 MiB file round-trips; another instance on the same bucket reads what one stored; a
//! server that refuses the credentials or does not answer is `Unavailable`, and the error
//! names no secret. (The bridge serving S3 media at `/v1/media/{id}`: `whatsapp::media`.)

use bytes::Bytes;
use omnibridge::config::{S3Settings, Secret, Settings};
use omnibridge::media::{MediaError, MediaStore, ObjectMediaStore};

use crate::support::moto_server::{ACCESS_KEY_ID, MotoServer, SECRET_ACCESS_KEY};

pub const BUCKET: &str = "omni-media";

/// `[storage.s3]` for a local S3 server at `endpoint`, with these credentials.
pub fn s3_settings_with(endpoint: &str, key_id: &str, secret: &str) -> S3Settings {
    let mut s3 = Settings::load_from(None, Vec::new())
        .expect("embedded defaults load")
        .storage
        .s3;
    s3.endpoint = Some(endpoint.to_owned());
    s3.allow_http = true;
    s3.access_key_id = Secret::new(key_id);
    s3.secret_access_key = Secret::new(secret);
    s3
}

/// `[storage.s3]` for moto at `endpoint` with the test credentials.
pub fn s3_settings(endpoint: &str) -> S3Settings {
    s3_settings_with(endpoint, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
}

async fn moto_store(prefix: &str) -> (MotoServer, ObjectMediaStore) {
    let moto = MotoServer::start();
    moto.create_bucket(BUCKET).await;
    let store = ObjectMediaStore::s3(BUCKET, prefix, &s3_settings(&moto.endpoint())).unwrap();
    (moto, store)
}

#[tokio::test]
async fn s3_media_round_trips_bytes_type_and_size() {
    let (moto, store) = moto_store("tenant-a").await;
    let stored = store
        .put(
            Bytes::from_static(b"\x89PNG\r\n\x1a\n-not-really"),
            "image/png",
        )
        .await
        .unwrap();
    assert!(
        stored.id.starts_with("md_") && stored.id.len() == 29,
        "{}",
        stored.id
    );
    assert_eq!(
        (stored.mime_type.as_str(), stored.size_bytes),
        ("image/png", 19)
    );
    let (media, bytes) = store.get(&stored.id).await.unwrap().expect("stored");
    assert_eq!(media, stored);
    assert_eq!(&bytes[..], b"\x89PNG\r\n\x1a\n-not-really");

    // Another instance on the same bucket and prefix reads it; another prefix does not.
    let other = ObjectMediaStore::s3(BUCKET, "tenant-a", &s3_settings(&moto.endpoint())).unwrap();
    assert_eq!(other.get(&stored.id).await.unwrap().unwrap().0, stored);
    let elsewhere =
        ObjectMediaStore::s3(BUCKET, "tenant-b", &s3_settings(&moto.endpoint())).unwrap();
    assert!(elsewhere.get(&stored.id).await.unwrap().is_none());

    let plain = store
        .put(Bytes::from_static(b"hello"), "text/plain; charset=utf-8")
        .await
        .unwrap();
    let (media, _) = store.get(&plain.id).await.unwrap().unwrap();
    assert_eq!(media.mime_type, "text/plain; charset=utf-8");
}

#[tokio::test]
async fn s3_media_unknown_and_malformed_ids_are_none() {
    let (_moto, store) = moto_store("").await;
    let unknown = format!("md_{}", ulid::Ulid::new());
    assert!(store.get(&unknown).await.unwrap().is_none());
    for malformed in [
        "../omnibridge.sqlite",
        "md_",
        "md_../../x",
        "",
        "MD_01ARZ3NDEKTSV4RRFFQ69G5FAV",
    ] {
        assert!(store.get(malformed).await.unwrap().is_none(), "{malformed}");
    }
}

#[tokio::test]
async fn s3_media_malformed_ids_make_no_request() {
    // No server at all: a request would fail, a malformed id answers `None` without one.
    let settings = s3_settings(&format!("http://127.0.0.1:{}", closed_port()));
    let store = ObjectMediaStore::s3(BUCKET, "", &settings).unwrap();
    assert!(store.get("../../etc/passwd").await.unwrap().is_none());
    assert!(store.get("md_short").await.unwrap().is_none());
}

#[tokio::test]
async fn s3_media_round_trips_a_5_mib_file() {
    let (_moto, store) = moto_store("big").await;
    let video: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let stored = store
        .put(Bytes::from(video.clone()), "video/mp4")
        .await
        .unwrap();
    assert_eq!(stored.size_bytes, 5 * 1024 * 1024);
    let (media, bytes) = store.get(&stored.id).await.unwrap().unwrap();
    assert_eq!(media, stored);
    assert!(bytes == video, "the 5 MiB came back different");
}

#[tokio::test]
async fn s3_media_refused_credentials_are_unavailable_and_name_no_secret() {
    // Credentials checked after the first request (the bucket's creation).
    let moto = MotoServer::start_with_auth(1);
    moto.create_bucket(BUCKET).await;
    let (key_id, secret) = (
        "AKIAWRONGKEY00000042",
        "wrong-secret-do-not-print-0123456789",
    );
    let store = ObjectMediaStore::s3(
        BUCKET,
        "",
        &s3_settings_with(&moto.endpoint(), key_id, secret),
    )
    .unwrap();
    let put = store.put(Bytes::from_static(b"x"), "text/plain").await;
    let get = store.get(&format!("md_{}", ulid::Ulid::new())).await;
    for error in [put.unwrap_err(), get.unwrap_err()] {
        let text = format!("{error} {error:?}");
        assert!(matches!(error, MediaError::Unavailable(_)), "{text}");
        assert!(!text.contains(key_id) && !text.contains(secret), "{text}");
    }
}

#[tokio::test]
async fn s3_media_unreachable_endpoint_is_unavailable_and_names_no_secret() {
    let settings = s3_settings(&format!("http://127.0.0.1:{}", closed_port()));
    let store = ObjectMediaStore::s3(BUCKET, "", &settings).unwrap();
    let put = store.put(Bytes::from_static(b"x"), "text/plain").await;
    let get = store.get(&format!("md_{}", ulid::Ulid::new())).await;
    for error in [put.unwrap_err(), get.unwrap_err()] {
        let text = format!("{error} {error:?}");
        assert!(matches!(error, MediaError::Unavailable(_)), "{text}");
        assert!(
            !text.contains(ACCESS_KEY_ID) && !text.contains(SECRET_ACCESS_KEY),
            "{text}"
        );
    }
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
