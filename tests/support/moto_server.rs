//! A throw-away S3 server for tests: moto's server mode (PyPI `moto[server]`) on a free port,
//! killed on drop.
//!
//! Finds `moto_server` through `MOTO_SERVER`, then `PATH`, then the venv made by
//! `scripts/install-test-deps` (`~/.cache/omnibridge-moto`). Fails loudly (never skips) when
//! it is not installed.

use super::child_server::{free_port, wait_listening};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Credentials moto accepts (it checks none unless auth is on).
pub(crate) const ACCESS_KEY_ID: &str = "AKIAMOTOTESTKEY00001";
/// The secret that goes with [`ACCESS_KEY_ID`].
pub(crate) const SECRET_ACCESS_KEY: &str = "moto-test-secret-0123456789abcdef";

fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|path| path.is_file())
    });
    if let Some(path) = on_path {
        return path;
    }
    let venv = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/omnibridge-moto/bin/moto_server"));
    match venv {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "moto_server not found: the S3 media tests need moto's server mode \
             (PyPI `moto[server]`); run `scripts/install-test-deps` (or set MOTO_SERVER to \
             its path)"
        ),
    }
}

/// A running moto server, killed when dropped.
pub(crate) struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts moto on a free local port (no auth: any credentials pass) and waits until it
    /// answers HTTP.
    ///
    /// # Panics
    /// When moto is missing or does not come up.
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// Like [`MotoServer::start`] with credentials checked after the first `free_actions`
    /// requests (moto's `INITIAL_NO_AUTH_ACTION_COUNT`): requests signed with keys moto does
    /// not know are refused.
    pub(crate) fn start_with_auth(free_actions: u32) -> Self {
        Self::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", free_actions.to_string())])
    }

    fn start_with(env: &[(&str, String)]) -> Self {
        let binary = moto_binary();
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut server = Self { child, port };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("moto_server did not come up: {last_error}");
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` (a plain `PUT /<bucket>`: object_store creates none).
    pub(crate) async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint()))
            .send()
            .await
            .expect("PUT bucket to moto");
        assert!(
            response.status().is_success(),
            "moto refused to create bucket {bucket}: {}",
            response.status()
        );
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        wait_listening(
            &mut self.child,
            self.port,
            "moto_server",
            Duration::from_secs(30),
            Duration::from_millis(50),
        )
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
