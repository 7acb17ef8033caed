//! HAProxy (Debian's `haproxy` package) in front of bridge instances, for tests: the repo's
//! own template `scripts/cluster.haproxy.cfg` (the one `scripts/cluster` runs) filled in with
//! free ports, run in the foreground, killed on drop.
//!
//! Fails loudly (never skips) when HAProxy is not installed: run `scripts/install-test-deps`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::child_server::{free_port, wait_listening};

/// The HAProxy binary: `HAPROXY`, then `PATH`, then Debian's `/usr/sbin/haproxy`.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HAPROXY") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("haproxy"))
                .find(|path| path.is_file())
        })
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/haproxy"))
}

/// `scripts/cluster.haproxy.cfg` with its placeholders filled in: the public address, the
/// stats page's address and one checked server line per `(name, port)` on 127.0.0.1.
pub(crate) fn config(bind: &str, stats: &str, servers: &[(String, u16)]) -> String {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.haproxy.cfg");
    let template = std::fs::read_to_string(&template)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", template.display()));
    let lines: Vec<String> = servers
        .iter()
        .map(|(name, port)| format!("    server {name} 127.0.0.1:{port} check"))
        .collect();
    template
        .replace("@BIND@", bind)
        .replace("@STATS@", stats)
        .replace("@SERVERS@", &lines.join("\n"))
}

/// One backend server as HAProxy's stats page shows it.
#[derive(Clone, Debug)]
pub(crate) struct ServerStat {
    /// The server's name in the config.
    pub(crate) name: String,
    /// `UP`, `DOWN`, `UP 1/2` (going down), `no check`...
    pub(crate) status: String,
    /// Sessions (requests, on keep-alive connections) it has been given.
    pub(crate) sessions: u64,
}

/// A running HAProxy, killed when dropped.
pub(crate) struct Haproxy {
    child: Child,
    port: u16,
    stats_port: u16,
    dir: tempfile::TempDir,
}

impl Haproxy {
    /// Starts HAProxy on a free port in front of `servers` (`(name, port)` on 127.0.0.1) and
    /// waits until it accepts connections. Its log is `haproxy.log` in [`Haproxy::dir`].
    ///
    /// # Panics
    /// When HAProxy is missing, rejects the config or does not come up.
    pub(crate) fn start(servers: &[(String, u16)]) -> Self {
        let binary = binary();
        let mut last_error = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir for haproxy");
            let (port, stats_port) = (free_port(), free_port());
            let cfg = dir.path().join("haproxy.cfg");
            let text = config(
                &format!("127.0.0.1:{port}"),
                &format!("127.0.0.1:{stats_port}"),
                servers,
            );
            std::fs::write(&cfg, text).expect("write haproxy.cfg");
            let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("haproxy.log");
            let spawned = Command::new(&binary)
                .arg("-db")
                .arg("-f")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                    "`{}` not found: the cluster tests need HAProxy (Debian's `haproxy`); run \
                     `scripts/install-test-deps` (or set HAPROXY to its path)",
                    binary.display()
                ),
                Err(e) => panic!("cannot start {}: {e}", binary.display()),
            };
            let mut proxy = Self {
                child,
                port,
                stats_port,
                dir,
            };
            let ready = wait_listening(
                &mut proxy.child,
                port,
                "haproxy",
                Duration::from_secs(10),
                Duration::from_millis(20),
            );
            match ready {
                Ok(()) => return proxy,
                Err(e) => {
                    last_error = format!("{e}\n{}", proxy.log());
                }
            }
        }
        panic!("haproxy did not come up: {last_error}");
    }

    /// `http://127.0.0.1:<port>`: the one address of every instance.
    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The directory holding `haproxy.cfg` and `haproxy.log`.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What HAProxy logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }

    /// The backend servers as the stats page (`/;csv`) shows them now.
    pub(crate) async fn servers(&self) -> Vec<ServerStat> {
        let csv = reqwest::get(format!("http://127.0.0.1:{}/;csv", self.stats_port))
            .await
            .expect("haproxy stats page")
            .text()
            .await
            .expect("haproxy stats body");
        parse_stats(&csv)
    }

    /// Waits (10 s at most) until the server `name` has the status `status` (`UP`, `DOWN`).
    ///
    /// # Panics
    /// When it does not in time.
    pub(crate) async fn wait_status(&self, name: &str, status: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let servers = self.servers().await;
            if servers.iter().any(|s| s.name == name && s.status == status) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "haproxy did not mark {name} {status} within 10 s: {servers:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The server rows of the `instances` backend in HAProxy's CSV stats.
fn parse_stats(csv: &str) -> Vec<ServerStat> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (Some(proxy), Some(server), Some(status), Some(total)) = (
        column("pxname"),
        column("svname"),
        column("status"),
        column("stot"),
    ) else {
        panic!("unexpected haproxy stats header: {header:?}");
    };
    lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|row| {
            row.get(proxy) == Some(&"instances")
                && !matches!(row.get(server), Some(&"FRONTEND" | &"BACKEND") | None)
        })
        .map(|row| ServerStat {
            name: row[server].to_owned(),
            status: row[status].to_owned(),
            sessions: row[total].parse().unwrap_or(0),
        })
        .collect()
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
