//! A real SMTP server for tests: `smtp_server.py` (aiosmtpd, Debian's `python3-aiosmtpd`)
//! run by the system Python on 127.0.0.1 and a port the kernel picks, delivering every
//! accepted mail into a Maildir (`<maildir>/new/`). See the script's header for the
//! recipient rules (`reject…` → 550, `tempfail…` → 451, `tempfail-once…` → 451 once per
//! recipient and Message-ID, then accepted) and the AUTH options.
//!
//! Each [`SmtpServer`] is its own process with its own port and Maildir: tests share nothing.
//! The process is killed when the value is dropped, and it also exits by itself when its
//! stdin closes (the test binary died).
//!
//! Install the package with `scripts/install-test-deps`.
// Each test binary that declares `mod support;` uses a different part of this file, and a
// test harness panics on purpose when the server cannot start.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The interpreter that has Debian's aiosmtpd (not a pyenv `python3` on PATH).
pub(crate) const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// How long the script may take to print its port.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What the server demands before MAIL.
#[derive(Clone, Debug)]
pub(crate) enum SmtpServerAuth {
    /// No AUTH offered or needed.
    None,
    /// AUTH PLAIN / LOGIN required, accepting only this pair.
    Password {
        /// The one user.
        user: String,
        /// Its password.
        password: String,
    },
    /// AUTH XOAUTH2 required, accepting only this user and bearer token.
    XOAuth2 {
        /// The one user.
        user: String,
        /// Its token.
        token: String,
    },
}

/// A running `smtp_server.py`.
pub(crate) struct SmtpServer {
    child: Child,
    // Held open: the script exits when it sees EOF here.
    _stdin: Option<ChildStdin>,
    port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    /// A server without AUTH delivering into `maildir` (created when missing).
    pub(crate) fn start(maildir: &Path) -> SmtpServer {
        Self::start_with(maildir, SmtpServerAuth::None)
    }

    /// A server requiring AUTH PLAIN / LOGIN with exactly `user` / `password`.
    pub(crate) fn start_with_password(maildir: &Path, user: &str, password: &str) -> SmtpServer {
        Self::start_with(
            maildir,
            SmtpServerAuth::Password {
                user: user.into(),
                password: password.into(),
            },
        )
    }

    /// A server with the given AUTH demand; panics (with the reason) when it cannot start.
    pub(crate) fn start_with(maildir: &Path, auth: SmtpServerAuth) -> SmtpServer {
        Self::start_full(maildir, auth, None)
    }

    /// A server without AUTH speaking TLS with `cert`/`key` (PEM): `implicit` from the first
    /// byte, else STARTTLS required.
    pub(crate) fn start_tls(maildir: &Path, cert: &Path, key: &Path, implicit: bool) -> SmtpServer {
        Self::start_full(maildir, SmtpServerAuth::None, Some((cert, key, implicit)))
    }

    fn start_full(
        maildir: &Path,
        auth: SmtpServerAuth,
        tls: Option<(&Path, &Path, bool)>,
    ) -> SmtpServer {
        // This file is also included by the bridge's e2e tests (another manifest dir).
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = [
            "tests/support/smtp_server.py",
            "adapters/email/tests/support/smtp_server.py",
        ]
        .iter()
        .map(|relative| root.join(relative))
        .find(|path| path.exists())
        .expect("smtp_server.py next to smtp_server.rs");
        let mut command = Command::new(SYSTEM_PYTHON);
        command
            .arg(&script)
            .arg("--maildir")
            .arg(maildir)
            .args(["--port", "0"]);
        match &auth {
            SmtpServerAuth::None => {}
            SmtpServerAuth::Password { user, password } => {
                command.args(["--user", user, "--password", password]);
            }
            SmtpServerAuth::XOAuth2 { user, token } => {
                command.args(["--user", user, "--token", token]);
            }
        }
        if let Some((cert, key, implicit)) = tls {
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
            command.args(["--tls-mode", if implicit { "implicit" } else { "starttls" }]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {SYSTEM_PYTHON} {}: {e}", script.display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");

        // The first stdout line is the port; read it on a thread so a hung start times out.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("smtp_server.py printed no port within {START_TIMEOUT:?}");
            }
        };
        let port: u16 = match line.trim().parse() {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "smtp_server.py did not start (stdout {line:?}, exit {status:?}); \
                     is python3-aiosmtpd installed? run scripts/install-test-deps"
                );
            }
        };
        let server = SmtpServer {
            child,
            _stdin: stdin,
            port,
            maildir: maildir.to_path_buf(),
        };
        server.wait_until_accepting();
        server
    }

    fn wait_until_accepting(&self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "smtp_server.py on port {} does not accept connections",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on (127.0.0.1).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The Maildir it delivers into.
    pub(crate) fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// The delivered message files (`<maildir>/new/*`), sorted by name (≈ delivery time).
    pub(crate) fn delivered(&self) -> Vec<PathBuf> {
        let new = self.maildir.join("new");
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&new) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
    }

    /// The bytes of every delivered message, in [`delivered`](Self::delivered) order.
    pub(crate) fn delivered_messages(&self) -> Vec<Vec<u8>> {
        self.delivered()
            .iter()
            .map(|p| std::fs::read(p).expect("read a delivered message"))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 127.0.0.1 port nothing listens on (bound, then released): for "server down" tests.
pub(crate) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind port 0");
    let port = listener.local_addr().expect("local addr").port();
    drop(listener);
    port
}
