//! The real `omnibridge` binary as a child process, for tests that kill, restart or run two
//! instances: a free port, the repo's templates, a log file in the data dir, and a wait for
//! `/readyz`. Dropping it kills the process.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `omnibridge serve`.
pub struct BridgeProcess {
    /// The child process (tests may kill it themselves).
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `omnibridge serve` on `port` with `data_dir` and extra `env`, logging to
/// `<data_dir>/<name>.log`, and waits until it is ready (30 s at most).
pub async fn start_bridge(
    data_dir: &Path,
    port: u16,
    name: &str,
    env: &[(&str, String)],
) -> BridgeProcess {
    start_bridge_with_args(data_dir, port, name, env, &[]).await
}

/// Like [`start_bridge`], with extra `serve` arguments (`--config <file>`).
pub async fn start_bridge_with_args(
    data_dir: &Path,
    port: u16,
    name: &str,
    env: &[(&str, String)],
    args: &[&str],
) -> BridgeProcess {
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join(format!("{name}.log")))
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_omnibridge"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .args(args)
        .env("OMNIBRIDGE__TEMPLATES__DIR", templates)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_ready(child, port, name).await
}

/// Waits until the child serving on `port` answers `/readyz` (30 s at most).
pub async fn wait_ready(child: Child, port: u16, name: &str) -> BridgeProcess {
    let bridge = BridgeProcess {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{}/readyz", bridge.base))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bridge {name} did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bridge
}

/// The port of the bridge instance holding the lease `name` (e.g. `listen:<channel id>`) in
/// the SQLite store of `data_dir` (holders are named `<host>@<address>`); `None` when nobody
/// holds it.
pub fn lease_holder_port(data_dir: &Path, name: &str) -> Option<u16> {
    let conn = rusqlite::Connection::open(data_dir.join("omnibridge.sqlite")).ok()?;
    let holder: String = conn
        .query_row("SELECT holder FROM leases WHERE name = ?1", [name], |row| {
            row.get(0)
        })
        .ok()?;
    holder.rsplit(':').next()?.parse().ok()
}
