//! Inbound media: stored behind the small [`MediaStore`] trait, downloaded by the
//! [`worker::MediaWorker`] after the message is durable, and served to API clients at
//! `GET /v1/media/{id}` (see [`crate::http::api::media`]).
//!
//! Adapters' `normalize` stays pure: a `message.received` carries the provider's media id
//! only. The worker (bus consumer group `media`) asks the channel to fetch it
//! ([`omnibridge_sdk::Channel::fetch_media`], with the channel's `max_media_bytes` cap),
//! stores it, and appends `media.stored` (with `data.media.url`) or `media.failed` (code and
//! reason, e.g. `media_too_large`) on the same conversation.

use bytes::Bytes;

pub mod local;
pub mod object;
pub mod worker;

pub use local::LocalMediaStore;
pub use object::ObjectMediaStore;
pub use worker::MediaWorker;

/// The cap on one inbound media file unless a channel's `max_media_bytes` says otherwise.
pub const DEFAULT_MAX_MEDIA_BYTES: u64 = 16 * 1024 * 1024;

/// Ids are ours (`md_` + ULID): anything else is refused before touching the backend.
pub(crate) fn valid_id(id: &str) -> bool {
    id.strip_prefix("md_")
        .is_some_and(|rest| rest.len() == 26 && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A stored media file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediaRef {
    /// The bridge's id (`md_<ULID>`), the last segment of `/v1/media/{id}`.
    pub id: String,
    /// The MIME type it is served with.
    pub mime_type: String,
    /// Its size in bytes.
    pub size_bytes: u64,
}

impl MediaRef {
    /// The reference of a new file of `size_bytes` bytes of type `mime_type`, under a fresh id.
    pub fn fresh(mime_type: &str, size_bytes: usize) -> Self {
        Self {
            id: format!("md_{}", ulid::Ulid::new()),
            mime_type: mime_type.to_owned(),
            size_bytes: size_bytes as u64,
        }
    }
}

/// Why media could not be stored or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The backend failed (I/O).
    #[error("media store unavailable: {0}")]
    Unavailable(String),
    /// Stored metadata could not be read.
    #[error("corrupt media record: {0}")]
    Corrupt(String),
}

/// Where inbound media lives. The embedded default is [`LocalMediaStore`] (a directory under
/// the data dir); a shared deployment uses [`ObjectMediaStore`] (an S3-compatible bucket).
#[async_trait::async_trait]
pub trait MediaStore: Send + Sync + 'static {
    /// Stores `bytes` of type `mime_type` under a new id.
    async fn put(&self, bytes: Bytes, mime_type: &str) -> Result<MediaRef, MediaError>;

    /// The file stored as `id` with its metadata; `None` when there is none (unknown or
    /// malformed ids included).
    async fn get(&self, id: &str) -> Result<Option<(MediaRef, Bytes)>, MediaError>;
}
