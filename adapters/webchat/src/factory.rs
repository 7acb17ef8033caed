//! Registers the web chat with the bridge (`type = "webchat"`). The bridge hosts its
//! transport (the widget's WebSocket) and builds it from its `[webchat]` section through
//! this factory like any other channel.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use omnibridge_sdk::{Channel, ChannelContext, ChannelError, ChannelFactory};
use serde::Deserialize;

use crate::session::MIN_SECRET_BYTES;
use crate::{OriginPolicy, SessionTokens, WebChatChannel, WebChatConfig};

/// The table the web chat is built from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebChatTable {
    /// The site this chat belongs to; the `account` of every conversation.
    pub account: String,
    /// How long a visitor's session token stays valid, in seconds.
    pub session_ttl_secs: u64,
    /// Origins (`https://shop.example`) allowed to open the widget's socket; empty: the
    /// bridge's own origin only.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Env var holding the session-token secret (at least 32 bytes).
    pub secret_env: String,
    /// Where a generated secret is kept when `secret_env` is unset (created once, mode 0600).
    pub secret_file: PathBuf,
}

/// Builds the [`WebChatChannel`] of a site.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebChatFactory;

impl ChannelFactory for WebChatFactory {
    const KIND: &'static str = crate::KIND;
    type Config = WebChatTable;

    fn build(
        &self,
        config: WebChatTable,
        cx: &ChannelContext,
    ) -> Result<Arc<dyn Channel>, ChannelError> {
        let secret = match cx.secret_opt(&config.secret_env) {
            Some(secret) => secret.into_bytes(),
            None => stored_secret(&config.secret_file)
                .map_err(|message| ChannelError::config("secret_file", message))?,
        };
        let tokens = SessionTokens::new(secret, Duration::from_secs(config.session_ttl_secs))
            .map_err(|error| ChannelError::config("secret_env", error.to_string()))?;
        let origins = OriginPolicy::new(config.allowed_origins)
            .map_err(|error| ChannelError::config("allowed_origins", error.to_string()))?;
        let channel =
            WebChatChannel::new(WebChatConfig::new(config.account), tokens)?.with_origins(origins);
        Ok(Arc::new(channel))
    }
}

/// The secret kept in `path`, generated (random, hex) and written with mode 0600 when the
/// file does not exist yet.
fn stored_secret(path: &Path) -> Result<Vec<u8>, String> {
    match std::fs::read(path) {
        Ok(secret) if secret.len() >= MIN_SECRET_BYTES => return Ok(secret),
        Ok(_) => {
            return Err(format!(
                "{} is shorter than {MIN_SECRET_BYTES} bytes",
                path.display()
            ));
        }
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot read {}: {error}", path.display()));
        }
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }
    let bytes: [u8; 32] = rand::random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(path, secret.as_bytes())
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn table(dir: &Path) -> WebChatTable {
        WebChatTable {
            account: "shop".into(),
            session_ttl_secs: 60,
            allowed_origins: vec!["https://shop.example".into()],
            secret_env: "WEBCHAT_SECRET".into(),
            secret_file: dir.join("webchat.secret"),
        }
    }

    #[test]
    fn a_generated_secret_is_kept_and_reused_and_a_short_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cx = ChannelContext::new("webchat", "http://x");
        let channel = WebChatFactory.build(table(dir.path()), &cx).unwrap();
        assert_eq!(channel.kind().as_str(), "webchat");
        let kept = std::fs::read(dir.path().join("webchat.secret")).unwrap();
        assert_eq!(kept.len(), 64);
        WebChatFactory.build(table(dir.path()), &cx).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("webchat.secret")).unwrap(),
            kept
        );
        let short = ChannelContext::new("webchat", "http://x")
            .with_secrets(Arc::new(|_: &str| Some("short".to_owned())));
        let error = WebChatFactory
            .build(table(dir.path()), &short)
            .err()
            .unwrap();
        assert!(error.to_string().starts_with("secret_env"), "{error}");
        let mut bad = table(dir.path());
        bad.allowed_origins = vec!["not an origin".into()];
        let error = WebChatFactory.build(bad, &cx).err().unwrap();
        assert!(error.to_string().starts_with("allowed_origins"), "{error}");
    }
}
