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

/// A port nothing listens on right now, outside the kernel's ephemeral range (see
/// [`crate::support::child_server::free_port`]).
pub fn free_port() -> u16 {
    crate::support::child_server::free_port()
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

/// Where two bridge instances under test keep what they share: one SQLite file (one data
/// dir, one host), or PostgreSQL + Redis Streams with a data dir each (as on two machines).
pub enum Shared {
    /// Both instances on one data dir.
    OneFile(tempfile::TempDir),
    /// A fresh PostgreSQL database for the state and a Redis server for the bus.
    Distributed {
        /// The state.
        postgres: crate::support::postgres::PgDatabase,
        /// The bus.
        redis: crate::support::redis_server::RedisServer,
        /// Each instance's own data dir.
        dirs: [tempfile::TempDir; 2],
    },
}

impl Shared {
    /// One SQLite file in one data dir.
    pub fn one_file() -> Self {
        Shared::OneFile(tempfile::tempdir().unwrap())
    }

    /// PostgreSQL state and a Redis bus, a data dir per instance.
    pub fn distributed() -> Self {
        Shared::Distributed {
            postgres: crate::support::postgres::PgDatabase::create(),
            redis: crate::support::redis_server::RedisServer::start(),
            dirs: [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()],
        }
    }

    /// The data dir of instance `index` (0 or 1).
    pub fn data_dir(&self, index: usize) -> &Path {
        match self {
            Shared::OneFile(dir) => dir.path(),
            Shared::Distributed { dirs, .. } => dirs[index % 2].path(),
        }
    }

    /// The env every instance needs on top of its own (`storage.state`, `storage.bus`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Shared::OneFile(_) => Vec::new(),
            Shared::Distributed {
                postgres, redis, ..
            } => vec![
                ("OMNIBRIDGE__STORAGE__STATE", postgres.url()),
                ("OMNIBRIDGE__STORAGE__BUS", redis.url()),
            ],
        }
    }

    /// The port of the instance holding the lease `name` (e.g. `listen:<channel id>`;
    /// holders are named `<host>@<address>`); `None` when nobody holds it.
    pub fn lease_holder_port(&self, name: &str) -> Option<u16> {
        let holder = match self {
            Shared::OneFile(dir) => {
                let conn = rusqlite::Connection::open(dir.path().join("omnibridge.sqlite")).ok()?;
                conn.query_row("SELECT holder FROM leases WHERE name = ?1", [name], |row| {
                    row.get::<_, String>(0)
                })
                .ok()?
            }
            Shared::Distributed { postgres, .. } => postgres.query_text(&format!(
                "SELECT holder FROM leases WHERE name = '{}'",
                name.replace('\'', "''")
            ))?,
        };
        holder.rsplit(':').next()?.parse().ok()
    }
}
