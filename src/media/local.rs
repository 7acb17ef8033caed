//! [`LocalMediaStore`]: media files in a directory (`<data_dir>/media`), one file per media
//! and a JSON sidecar with its type and size. Written to a temporary name and renamed, so a
//! reader never sees half a file.

use std::path::PathBuf;

use bytes::Bytes;

use super::{MediaError, MediaRef, MediaStore, valid_id};

/// Media in a local directory.
#[derive(Clone, Debug)]
pub struct LocalMediaStore {
    dir: PathBuf,
}

impl LocalMediaStore {
    /// A store in `dir` (created if missing).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, MediaError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|error| {
            MediaError::Unavailable(format!("cannot create {}: {error}", dir.display()))
        })?;
        Ok(Self { dir })
    }

    fn paths(&self, id: &str) -> (PathBuf, PathBuf) {
        (self.dir.join(id), self.dir.join(format!("{id}.json")))
    }
}

fn io(error: std::io::Error) -> MediaError {
    MediaError::Unavailable(error.to_string())
}

#[async_trait::async_trait]
impl MediaStore for LocalMediaStore {
    async fn put(&self, bytes: Bytes, mime_type: &str) -> Result<MediaRef, MediaError> {
        let media = MediaRef::fresh(mime_type, bytes.len());
        let (file, meta) = self.paths(&media.id);
        let meta_json =
            serde_json::to_vec(&media).map_err(|error| MediaError::Corrupt(error.to_string()))?;
        let tmp = self.dir.join(format!("{}.tmp", media.id));
        tokio::fs::write(&tmp, &bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, &file).await.map_err(io)?;
        tokio::fs::write(&tmp, meta_json).await.map_err(io)?;
        tokio::fs::rename(&tmp, &meta).await.map_err(io)?;
        Ok(media)
    }

    async fn get(&self, id: &str) -> Result<Option<(MediaRef, Bytes)>, MediaError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let (file, meta) = self.paths(id);
        let meta = match tokio::fs::read(&meta).await {
            Ok(meta) => meta,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io(error)),
        };
        let media: MediaRef = serde_json::from_slice(&meta)
            .map_err(|error| MediaError::Corrupt(error.to_string()))?;
        let bytes = tokio::fs::read(&file).await.map_err(io)?;
        Ok(Some((media, Bytes::from(bytes))))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn stores_and_serves_and_refuses_foreign_ids() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalMediaStore::open(dir.path().join("media")).unwrap();
        let stored = store
            .put(Bytes::from_static(b"\x89PNG"), "image/png")
            .await
            .unwrap();
        assert_eq!(stored.size_bytes, 4);
        let (media, bytes) = store.get(&stored.id).await.unwrap().unwrap();
        assert_eq!((media, &bytes[..]), (stored, &b"\x89PNG"[..]));
        assert!(store.get("../omnibridge.sqlite").await.unwrap().is_none());
        let unknown = format!("md_{}", ulid::Ulid::new());
        assert!(store.get(&unknown).await.unwrap().is_none());
    }
}
