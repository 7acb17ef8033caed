//! A throw-away `redis-server` for tests: free port, temp dir, no persistence, killed on drop.
//!
//! Fails loudly (never skips) when `redis-server` is not installed: run
//! `scripts/install-test-deps`.

use super::child_server::{free_port, wait_listening};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `redis-server`, killed when dropped.
pub(crate) struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server on a free local port and waits until it accepts connections.
    ///
    /// # Panics
    /// When `redis-server` is missing or does not come up.
    pub(crate) fn start() -> Self {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("temp dir for redis-server");
            let spawned = Command::new(&binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                    "`{binary}` not found: these tests need a local Redis 7 server; \
                     run `scripts/install-test-deps` (or set REDIS_SERVER to its path)"
                ),
                Err(e) => panic!("cannot start `{binary}`: {e}"),
            };
            let mut server = Self {
                child,
                port,
                _dir: dir,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server did not come up: {last_error}");
    }

    /// The `redis://` URL of this server.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        wait_listening(
            &mut self.child,
            self.port,
            "redis-server",
            Duration::from_secs(10),
            Duration::from_millis(20),
        )
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
