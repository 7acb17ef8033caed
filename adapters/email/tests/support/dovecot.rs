//! A real, private Dovecot IMAP server for tests.
//!
//! Each [`Dovecot`] gets its own temp dir (config, base_dir, state_dir, log, Maildir) and a
//! free port on 127.0.0.1, runs `/usr/sbin/dovecot -F -c <conf>` with `ssl = no`, and one user
//! [`USER`]/[`PASSWORD`] whose mail is stored as the `mail` system user. The server is shut
//! down (SIGTERM, then SIGKILL) on drop. Needs Debian's `dovecot-imapd`
//! (`scripts/install-test-deps`) and root (Dovecot's master drops privileges itself).

use std::io::Read as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;

/// The Dovecot binary.
pub const DOVECOT: &str = "/usr/sbin/dovecot";
/// The test user's login.
pub const USER: &str = "customer";
/// The test user's password.
pub const PASSWORD: &str = "secret";

/// A plain-TCP, logged-in IMAP session (for delivering and inspecting mail).
pub type Session = async_imap::Session<tokio::net::TcpStream>;

/// Server variants.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Leave IDLE out of the CAPABILITY list (clients must poll).
    pub no_idle: bool,
    /// Offer TLS with a fresh self-signed certificate for `127.0.0.1` (made with the
    /// `openssl` CLI): STARTTLS on [`Dovecot::port`], implicit TLS on [`Dovecot::tls_port`].
    pub tls: bool,
    /// Also accept `AUTHENTICATE XOAUTH2` with the bearer token [`OAUTH_TOKEN`] (Dovecot's
    /// oauth2 passdb, introspecting against a tiny HTTP endpoint the harness runs).
    pub xoauth2: bool,
}

/// The one bearer token the XOAUTH2 introspection endpoint calls active.
pub const OAUTH_TOKEN: &str = "test-access-token-0123";

/// A running private Dovecot; stopped on drop.
pub struct Dovecot {
    dir: tempfile::TempDir,
    port: u16,
    tls_port: u16,
    child: Option<Child>,
}

impl Dovecot {
    /// Starts a Dovecot with IDLE.
    pub fn start() -> Dovecot {
        Self::start_with(Options::default())
    }

    /// Starts a Dovecot with the given options.
    pub fn start_with(options: Options) -> Dovecot {
        assert!(
            Path::new(DOVECOT).exists(),
            "{DOVECOT} is missing: run scripts/install-test-deps (Debian package dovecot-imapd)"
        );
        let dir = tempfile::Builder::new()
            .prefix("omnibridge-dovecot-")
            .tempdir()
            .expect("temp dir");
        // Dovecot's unprivileged processes (mail, dovenull, dovecot) must traverse it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod temp dir");
        let port = free_port();
        let (mail_uid, mail_gid) = passwd_ids("mail");
        for sub in ["run", "state"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        for sub in ["Maildir", "home"] {
            let path = dir.path().join(sub);
            std::fs::create_dir(&path).expect("mkdir");
            std::os::unix::fs::chown(&path, Some(mail_uid), Some(mail_gid)).expect("chown");
        }
        let passwd = dir.path().join("passwd");
        std::fs::write(&passwd, format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n")).expect("passwd");
        std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644))
            .expect("chmod passwd");
        let root = dir.path().display().to_string();
        let tls_port = if options.tls { free_port() } else { 0 };
        let ssl = if options.tls {
            test_certificates(dir.path());
            format!("ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem\n")
        } else {
            "ssl = no\n".to_owned()
        };
        let capability = if options.no_idle {
            "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT \
             THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED \
             I18NLEVEL=1 CONDSTORE ESEARCH SEARCHRES WITHIN LIST-STATUS BINARY MOVE LITERAL+\n"
        } else {
            ""
        };
        let (mechanisms, oauth_passdb) = if options.xoauth2 {
            let introspection = introspection_endpoint();
            std::fs::write(
                dir.path().join("oauth2.conf.ext"),
                format!(
                    "introspection_mode = post\n\
                     introspection_url = http://127.0.0.1:{introspection}/introspect\n\
                     force_introspection = yes\n\
                     username_attribute = username\n\
                     active_attribute = active\n\
                     active_value = true\n"
                ),
            )
            .expect("oauth2.conf.ext");
            (
                "plain login xoauth2",
                format!(
                    "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2\n  \
                     args = {root}/oauth2.conf.ext\n}}\n"
                ),
            )
        } else {
            ("plain login", String::new())
        };
        let conf = format!(
            r#"# Private test instance (omnibridge-email tests).
protocols = imap
listen = 127.0.0.1
instance_name = omnibridge-test-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{ssl}disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{root}/Maildir
mail_fsync = never
{capability}
{oauth_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/home
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
"#
        );
        std::fs::write(dir.path().join("dovecot.conf"), conf).expect("write dovecot.conf");
        let mut dovecot = Dovecot {
            dir,
            port,
            tls_port,
            child: None,
        };
        dovecot.restart();
        dovecot
    }

    /// The IMAP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The implicit-TLS port (0 unless started with [`Options::tls`]).
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// The test CA that signed the server certificate (PEM; trust it, e.g. with
    /// `SSL_CERT_FILE`, to log in over TLS), when started with [`Options::tls`].
    pub fn cert_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The user's Maildir.
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("Maildir")
    }

    /// The config file (for `doveadm -c`).
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    /// Dovecot's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Whether the server is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Stops the server and every process it started (its own process group: a Dovecot
    /// master leaves running `imap` sessions behind), as a crashed or rebooted server would
    /// disappear; the mail stays.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Stragglers (sessions, a master that ignored TERM).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = child.wait();
    }

    /// (Re)starts the server on the same port and waits until it accepts connections.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            return;
        }
        let mut child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(self.conf())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so `stop` can end the sessions too.
            .process_group(0)
            .spawn()
            .expect("spawn dovecot");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = stderr.read_to_string(&mut err);
                }
                panic!("dovecot exited ({status}): {err}\nlog:\n{}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "dovecot did not listen on {}\nlog:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// A logged-in plain session as the test user.
    pub async fn client(&self) -> Session {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to dovecot");
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login")
    }

    /// Delivers one mail into INBOX (IMAP APPEND, as a mail server's delivery would).
    pub async fn deliver(&self, raw: &[u8]) {
        self.deliver_many(&[raw.to_vec()]).await;
    }

    /// Delivers mails into INBOX in order (one APPEND each, one connection).
    pub async fn deliver_many(&self, raws: &[Vec<u8>]) {
        let mut session = self.client().await;
        for raw in raws {
            session
                .append("INBOX", None, None, raw)
                .await
                .expect("APPEND");
        }
        let _ = session.logout().await;
    }

    /// The UIDs in `mailbox` matching the search `query` (e.g. `ALL`, `SEEN`), ascending.
    pub async fn search(&self, mailbox: &str, query: &str) -> Vec<u32> {
        let mut session = self.client().await;
        session.examine(mailbox).await.expect("EXAMINE");
        let mut uids: Vec<u32> = session
            .uid_search(query)
            .await
            .expect("UID SEARCH")
            .into_iter()
            .collect();
        uids.sort_unstable();
        let _ = session.logout().await;
        uids
    }

    /// The bodies in `mailbox`, in UID order.
    pub async fn bodies(&self, mailbox: &str) -> Vec<Vec<u8>> {
        let uids = self.search(mailbox, "ALL").await;
        if uids.is_empty() {
            return Vec::new();
        }
        let mut session = self.client().await;
        session.examine(mailbox).await.expect("EXAMINE");
        let mut fetched: Vec<(u32, Vec<u8>)> = session
            .uid_fetch("1:*", "(UID BODY.PEEK[])")
            .await
            .expect("UID FETCH")
            .filter_map(|f| async move {
                let f = f.ok()?;
                Some((f.uid?, f.body()?.to_vec()))
            })
            .collect()
            .await;
        fetched.sort_by_key(|(uid, _)| *uid);
        let _ = session.logout().await;
        fetched.into_iter().map(|(_, body)| body).collect()
    }

    /// INBOX's current UIDVALIDITY.
    pub async fn uid_validity(&self) -> u32 {
        let mut session = self.client().await;
        let mailbox = session.examine("INBOX").await.expect("EXAMINE");
        let _ = session.logout().await;
        mailbox.uid_validity.expect("UIDVALIDITY")
    }

    /// Gives INBOX a new UIDVALIDITY (`doveadm mailbox update --uid-validity`), as a server
    /// whose mailbox was rebuilt would. Best done while no client has INBOX selected.
    pub fn set_uid_validity(&self, uid_validity: u32) {
        let status = Command::new("doveadm")
            .arg("-c")
            .arg(self.conf())
            .args(["mailbox", "update", "-u", USER, "--uid-validity"])
            .arg(uid_validity.to_string())
            .arg("INBOX")
            .stdin(Stdio::null())
            .status()
            .expect("run doveadm");
        assert!(status.success(), "doveadm mailbox update: {status}");
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Serves RFC 7662-style token introspection on a free port from a thread (for the test
/// process's lifetime): `{"active":"true","username":USER}` for [`OAUTH_TOKEN`], else
/// `{"active":"false"}`.
fn introspection_endpoint() -> u16 {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind introspection");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = std::io::Read::read_exact(&mut reader, &mut body);
            let body = String::from_utf8_lossy(&body);
            let active = body
                .split('&')
                .any(|kv| kv == format!("token={OAUTH_TOKEN}"));
            let json = if active {
                format!("{{\"active\":\"true\",\"username\":\"{USER}\"}}")
            } else {
                "{\"active\":\"false\"}".to_owned()
            };
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{json}",
                json.len()
            );
        }
    });
    port
}

/// A throwaway test CA (`ca.pem`) and a server certificate for 127.0.0.1 it signed
/// (`cert.pem`, `key.pem`) in `dir`, made with the `openssl` CLI. Trust `ca.pem` (e.g. with
/// `SSL_CERT_FILE`) to log in over TLS; without it the certificate is untrusted.
pub fn test_certificates(dir: &Path) {
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the extensions file");
    let steps: [Vec<String>; 3] = [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=omnibridge test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "key.pem",
            "-out",
            "server.csr",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            "cert.pem",
            "-extfile",
            "server.ext",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
    ];
    for args in steps {
        let status = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl {}: {status}", args[0]);
    }
}

/// uid and gid of a system user, from /etc/passwd.
fn passwd_ids(user: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&user) && fields.len() > 3)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
        .unwrap_or_else(|| panic!("no user {user:?} in /etc/passwd"))
}
