//! The challenge-binding secrets: the current one signs, it and the previous ones verify
//! (a rotated secret keeps verifying its challenges until they expire).

use std::path::Path;

use crate::config::{MIN_SECRET_BYTES, PaymentSettings};

/// The HMAC secrets of challenge ids.
#[derive(Clone)]
pub struct ChallengeKeys {
    current: String,
    previous: Vec<String>,
}

impl std::fmt::Debug for ChallengeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeKeys")
            .field("previous", &self.previous.len())
            .finish_non_exhaustive()
    }
}

impl ChallengeKeys {
    /// Keys from secrets of at least [`MIN_SECRET_BYTES`] bytes.
    pub fn new(current: String, previous: Vec<String>) -> Result<Self, String> {
        if std::iter::once(&current)
            .chain(&previous)
            .any(|secret| secret.len() < MIN_SECRET_BYTES)
        {
            return Err(format!(
                "payment challenge secrets must be at least {MIN_SECRET_BYTES} bytes"
            ));
        }
        Ok(Self { current, previous })
    }

    /// From settings: the secret in `secret_env`; without it (and not live) one generated
    /// into `<data_dir>/payments.secret` once and reused by every process sharing the dir.
    pub fn from_settings(settings: &PaymentSettings, data_dir: &Path) -> Result<Self, String> {
        let previous = settings
            .previous_secrets
            .iter()
            .map(|secret| secret.expose().to_owned())
            .collect();
        let current = match &settings.secret {
            Some(secret) => secret.expose().to_owned(),
            None if settings.live => {
                return Err(format!(
                    "payments.live = true needs the challenge secret in env {}",
                    settings.secret_env
                ));
            }
            None => generated(data_dir)?,
        };
        Self::new(current, previous)
    }

    /// The secret that signs new challenges.
    pub fn current(&self) -> &str {
        &self.current
    }

    /// Every secret that verifies, current first.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.current.as_str()).chain(self.previous.iter().map(String::as_str))
    }
}

fn generated(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join("payments.secret");
    std::fs::create_dir_all(data_dir)
        .map_err(|error| format!("cannot create {}: {error}", data_dir.display()))?;
    let fresh = hex::encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(fresh.as_bytes())
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            file.sync_all()
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            Ok(fresh)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            // Another process may be writing it right now: wait for the whole secret.
            for _ in 0..50 {
                let text = std::fs::read_to_string(&path)
                    .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
                let text = text.trim().to_owned();
                if text.len() >= MIN_SECRET_BYTES {
                    return Ok(text);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(format!(
                "{} is shorter than {MIN_SECRET_BYTES} bytes",
                path.display()
            ))
        }
        Err(error) => Err(format!("cannot create {}: {error}", path.display())),
    }
}
