//! A real DNS server for tests: Debian's `dnsmasq` on 127.0.0.1 and a free port (UDP and
//! TCP), authoritative for the `.test` names we give it (`--local=/test/`: a name there that
//! has no record answers NXDOMAIN at once), and answering REFUSED for every other name (no
//! upstream servers), which resolvers see as a DNS failure. Killed on drop.
//!
//! Install with `scripts/install-test-deps` (package `dnsmasq-base`).

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running dnsmasq; stopped (SIGKILL) and reaped on drop.
pub(crate) struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The dnsmasq binary: on `PATH`, else Debian's `/usr/sbin/dnsmasq`.
fn dnsmasq_bin() -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("dnsmasq");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    let debian = Path::new("/usr/sbin/dnsmasq");
    assert!(
        debian.is_file(),
        "dnsmasq not found: run scripts/install-test-deps (Debian package dnsmasq-base)"
    );
    debian.to_path_buf()
}

/// A port free for both UDP and TCP on 127.0.0.1 right now.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("udp addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Dnsmasq {
    /// Starts dnsmasq serving these TXT records (`(name, text)`, text without commas, which
    /// dnsmasq would take as string separators) and waits until it answers.
    pub(crate) fn start(txt_records: &[(&str, &str)]) -> Dnsmasq {
        for (name, text) in txt_records {
            assert!(
                !text.contains(',') && !name.contains(','),
                "dnsmasq splits TXT data on commas: {name}"
            );
        }
        let mut last_err = String::new();
        for _ in 0..5 {
            match Self::try_start(txt_records) {
                Ok(server) => return server,
                Err(e) => last_err = e,
            }
        }
        panic!("dnsmasq did not start: {last_err}");
    }

    fn try_start(txt_records: &[(&str, &str)]) -> Result<Dnsmasq, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let log = dir.path().join("dnsmasq.log");
        let mut cmd = Command::new(dnsmasq_bin());
        cmd.arg("--keep-in-foreground")
            .arg(format!("--port={port}"))
            .arg("--listen-address=127.0.0.1")
            .arg("--bind-interfaces")
            .arg("--no-resolv")
            .arg("--no-hosts")
            .arg("--no-poll")
            .arg("--conf-file=/dev/null")
            .arg("--local=/test/")
            .arg("--log-queries")
            .arg(format!("--log-facility={}", log.display()))
            .arg(format!(
                "--pid-file={}",
                dir.path().join("dnsmasq.pid").display()
            ));
        for (name, text) in txt_records {
            cmd.arg(format!("--txt-record={name},{text}"));
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn dnsmasq: {e}"))?;
        let mut server = Dnsmasq {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            _dir: dir,
        };

        // Wait until it answers a query (any answer will do: the probe name is REFUSED).
        let deadline = Instant::now() + Duration::from_secs(10);
        let probe = UdpSocket::bind("127.0.0.1:0").expect("bind probe");
        probe
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("probe timeout");
        let query = txt_query(0x4242, "probe.invalid");
        while Instant::now() < deadline {
            if let Some(status) = server.child.try_wait().expect("try_wait") {
                let mut stderr = String::new();
                if let Some(mut e) = server.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut stderr);
                }
                return Err(format!("dnsmasq exited ({status}): {}", stderr.trim()));
            }
            if probe.send_to(&query, server.addr).is_ok() {
                let mut buf = [0u8; 512];
                if let Ok((n, _)) = probe.recv_from(&mut buf)
                    && n >= 2
                    && buf[..2] == [0x42, 0x42]
                {
                    return Ok(server);
                }
            }
        }
        Err("dnsmasq did not answer within 10 s".to_owned())
    }

    /// Where it listens (UDP and TCP), e.g. for `dns_server`.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its query log so far (for assertion messages).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal DNS query packet (one question, TXT, IN, recursion desired).
fn txt_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 16, 0, 1]);
    q
}
