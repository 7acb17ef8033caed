//! [`ObjectMediaStore`]: media in an object store, for bridges whose instances share their
//! media (`storage.media = "s3://bucket/prefix"`, any S3-compatible server). One object per
//! media at `<prefix>/media/<id>`; its MIME type is the object's `Content-Type`, its size the
//! object's size. A put is one request, so a reader never sees half a file.
//!
//! Errors name the operation and the key, never the credentials: the text of a backend
//! error has the access key id and the secret key cut out before it goes anywhere.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, ClientOptions, GetOptions, ObjectStore, PutOptions, PutPayload,
    RetryConfig,
};

use super::{MediaError, MediaRef, MediaStore, valid_id};
use crate::config::S3Settings;

/// Media in an object store (S3 or S3-compatible).
pub struct ObjectMediaStore {
    store: Arc<dyn ObjectStore>,
    /// `""` or `"<prefix>/"`.
    prefix: String,
    /// Strings cut out of error texts (the credentials).
    redact: Vec<String>,
}

impl fmt::Debug for ObjectMediaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectMediaStore")
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl ObjectMediaStore {
    /// A store over any [`ObjectStore`], keys under `prefix` (`""` for none).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        Self {
            store,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            redact: Vec::new(),
        }
    }

    /// A store in S3 bucket `bucket`, keys under `prefix`, reached as `settings` says (its
    /// credentials already read from the env). Makes no request: a bucket that cannot be
    /// reached shows at the first put or get.
    pub fn s3(bucket: &str, prefix: &str, settings: &S3Settings) -> Result<Self, MediaError> {
        // The reqwest client object_store builds uses the process-wide rustls provider: ring,
        // as everywhere else in the bridge (a second install is a no-op).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientOptions::new()
            .with_allow_http(settings.allow_http)
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(60));
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(20),
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&settings.region)
            .with_access_key_id(settings.access_key_id.expose())
            .with_secret_access_key(settings.secret_access_key.expose())
            .with_allow_http(settings.allow_http)
            .with_client_options(client)
            .with_retry(retry);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let redact = vec![
            settings.access_key_id.expose().to_owned(),
            settings.secret_access_key.expose().to_owned(),
        ];
        let store = builder.build().map_err(|error| {
            MediaError::Unavailable(scrub(&format!("s3 bucket {bucket}: {error}"), &redact))
        })?;
        let mut media = Self::new(Arc::new(store), prefix);
        media.redact = redact;
        Ok(media)
    }

    fn key(&self, id: &str) -> Path {
        Path::from(format!("{}media/{id}", self.prefix))
    }

    fn unavailable(&self, what: &str, key: &Path, error: &object_store::Error) -> MediaError {
        MediaError::Unavailable(scrub(&format!("{what} {key}: {error}"), &self.redact))
    }
}

/// `text` with every non-empty string of `secrets` replaced by `[redacted]`.
fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "[redacted]")
        })
}

#[async_trait::async_trait]
impl MediaStore for ObjectMediaStore {
    async fn put(&self, bytes: Bytes, mime_type: &str) -> Result<MediaRef, MediaError> {
        let media = MediaRef::fresh(mime_type, bytes.len());
        let key = self.key(&media.id);
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, mime_type.to_owned().into());
        self.store
            .put_opts(
                &key,
                PutPayload::from_bytes(bytes),
                PutOptions::from(attributes),
            )
            .await
            .map_err(|error| self.unavailable("put", &key, &error))?;
        Ok(media)
    }

    async fn get(&self, id: &str) -> Result<Option<(MediaRef, Bytes)>, MediaError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let key = self.key(id);
        let found = match self.store.get_opts(&key, GetOptions::default()).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(self.unavailable("get", &key, &error)),
        };
        let mime_type = found
            .attributes
            .get(&Attribute::ContentType)
            .map(|value| value.to_string())
            .ok_or_else(|| MediaError::Corrupt(format!("{key} has no content type")))?;
        let size_bytes = found.meta.size;
        let bytes = found
            .bytes()
            .await
            .map_err(|error| self.unavailable("get", &key, &error))?;
        if bytes.len() as u64 != size_bytes {
            return Err(MediaError::Corrupt(format!(
                "{key}: {} bytes read of {size_bytes}",
                bytes.len()
            )));
        }
        let media = MediaRef {
            id: id.to_owned(),
            mime_type,
            size_bytes,
        };
        Ok(Some((media, bytes)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn stores_and_serves_and_refuses_foreign_ids() {
        let backend = Arc::new(InMemory::new());
        let store = ObjectMediaStore::new(backend.clone(), "/team-a/");
        let stored = store
            .put(Bytes::from_static(b"\x89PNG"), "image/png")
            .await
            .unwrap();
        assert_eq!(stored.size_bytes, 4);
        let (media, bytes) = store.get(&stored.id).await.unwrap().unwrap();
        assert_eq!((media, &bytes[..]), (stored.clone(), &b"\x89PNG"[..]));
        let key = Path::from(format!("team-a/media/{}", stored.id));
        assert!(backend.head(&key).await.is_ok(), "stored at {key}");
        assert!(store.get("../omnibridge.sqlite").await.unwrap().is_none());
        let unknown = format!("md_{}", ulid::Ulid::new());
        assert!(store.get(&unknown).await.unwrap().is_none());
    }

    #[test]
    fn scrub_cuts_every_secret() {
        let secrets = vec!["AKIDEXAMPLE".to_owned(), String::new(), "s3cr3t".to_owned()];
        assert_eq!(
            scrub("key AKIDEXAMPLE sig s3cr3t/AKIDEXAMPLE", &secrets),
            "key [redacted] sig [redacted]/[redacted]"
        );
    }
}
