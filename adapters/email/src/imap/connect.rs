//! Opening an authenticated IMAP session: TCP, then implicit TLS, STARTTLS or nothing, then
//! LOGIN or `AUTHENTICATE XOAUTH2`.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_imap::imap_proto::{Response, Status};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, pki_types::ServerName};

use super::{ImapAuth, ImapSettings, ImapTls, TokenSource};

/// How long the TCP connect, the TLS handshake and the greeting may take together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the login / authentication exchange may take (the token command included).
const AUTH_TIMEOUT: Duration = Duration::from_secs(60);

/// Any byte stream the session can run over (plain TCP or TLS).
pub(crate) trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> ImapIo for T {}

/// The session type the follower uses.
pub(crate) type Session = async_imap::Session<Box<dyn ImapIo>>;
type Client = async_imap::Client<Box<dyn ImapIo>>;

/// Why a connection attempt failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// Network, TLS or protocol trouble: retry soon.
    Connection(String),
    /// The server refused the credentials (its text, never ours): retry slowly.
    Auth(String),
}

/// What a connection needs that does not change between attempts.
#[derive(Clone)]
pub(crate) struct Connector {
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    starttls: bool,
}

impl Connector {
    /// Validates the settings and builds the TLS client configuration once.
    pub(crate) fn new(settings: &ImapSettings) -> Result<Self, String> {
        let port = settings.port.unwrap_or(match settings.tls {
            ImapTls::Implicit => 993,
            ImapTls::Starttls | ImapTls::None => 143,
        });
        if settings.host.trim().is_empty() {
            return Err("empty host".to_owned());
        }
        let tls = match settings.tls {
            ImapTls::None => None,
            ImapTls::Implicit | ImapTls::Starttls => {
                let name = ServerName::try_from(settings.host.clone()).map_err(|e| {
                    format!("host {:?} is not a TLS server name: {e}", settings.host)
                })?;
                Some((TlsConnector::from(Arc::new(tls_config()?)), name))
            }
        };
        Ok(Self {
            host: settings.host.clone(),
            port,
            tls,
            starttls: settings.tls == ImapTls::Starttls,
        })
    }

    /// `host:port`, for logs.
    pub(crate) fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Connects, secures the stream and logs in.
    pub(crate) async fn connect(&self, auth: &ImapAuth) -> Result<Session, ConnectError> {
        let client = tokio::time::timeout(CONNECT_TIMEOUT, self.open())
            .await
            .map_err(|_| ConnectError::Connection("timed out connecting".to_owned()))??;
        tokio::time::timeout(AUTH_TIMEOUT, login(client, auth))
            .await
            .map_err(|_| ConnectError::Connection("timed out logging in".to_owned()))?
    }

    /// TCP (+ TLS) up to a client that has read the greeting.
    async fn open(&self) -> Result<Client, ConnectError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| conn_err("connect", e))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => {
                let mut client = Client::new(Box::new(tcp));
                read_greeting(&mut client).await?;
                Ok(client)
            }
            Some((tls, name)) if self.starttls => {
                let mut plain = async_imap::Client::new(tcp);
                read_greeting(&mut plain).await?;
                plain
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| conn_err("STARTTLS", e))?;
                let tcp = plain.into_inner();
                let stream = tls
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| conn_err("TLS handshake", e))?;
                Ok(Client::new(Box::new(stream)))
            }
            Some((tls, name)) => {
                let stream = tls
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| conn_err("TLS handshake", e))?;
                let mut client = Client::new(Box::new(stream));
                read_greeting(&mut client).await?;
                Ok(client)
            }
        }
    }
}

fn conn_err(what: &str, e: impl std::fmt::Display) -> ConnectError {
    ConnectError::Connection(format!("{what}: {e}"))
}

/// rustls with the ring provider and the platform's CA roots (`rustls-native-certs`, which
/// honours `SSL_CERT_FILE` / `SSL_CERT_DIR`), or Mozilla's set when the platform has none.
fn tls_config() -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::warn!(
            errors = native.errors.len(),
            "no platform CA certificates found; using the Mozilla root set"
        );
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS configuration: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(config)
}

/// Reads the server greeting (`* OK`); a `* BYE` or a closed stream is an error.
async fn read_greeting<T: AsyncRead + AsyncWrite + Unpin + Send + Debug>(
    client: &mut async_imap::Client<T>,
) -> Result<(), ConnectError> {
    let greeting = client
        .read_response()
        .await
        .map_err(|e| conn_err("reading the greeting", e))?
        .ok_or_else(|| ConnectError::Connection("closed before the greeting".to_owned()))?;
    match greeting.parsed() {
        Response::Data {
            status: Status::Bye,
            outcome,
        } => Err(ConnectError::Connection(format!(
            "server said BYE: {}",
            outcome.information.as_deref().unwrap_or("")
        ))),
        _ => Ok(()),
    }
}

/// LOGIN or XOAUTH2.
async fn login(client: Client, auth: &ImapAuth) -> Result<Session, ConnectError> {
    let result = match auth {
        ImapAuth::Password { username, password } => client.login(username, password).await,
        ImapAuth::XOAuth2 { username, token } => {
            let token = fetch_token(token).await.map_err(ConnectError::Auth)?;
            client
                .authenticate("XOAUTH2", XOAuth2::new(username.clone(), token))
                .await
        }
    };
    result.map_err(|(e, _client)| classify_auth_error(e))
}

/// A refusal (`NO`, `BAD`, unsendable credentials) is an auth failure; the rest is the
/// connection's fault. The text is the server's, which carries no secret of ours.
fn classify_auth_error(e: async_imap::error::Error) -> ConnectError {
    use async_imap::error::Error;
    match e {
        Error::No(text) | Error::Bad(text) => ConnectError::Auth(server_text(&text)),
        Error::Validate(_) => {
            ConnectError::Auth("credentials contain characters IMAP cannot send".to_owned())
        }
        other => ConnectError::Connection(format!("login: {other}")),
    }
}

/// The server's human-readable reply out of async-imap's `code: .., info: Some("..")`
/// rendering of a `NO`/`BAD`.
fn server_text(rendered: &str) -> String {
    let text = match rendered.split_once("info: Some(\"") {
        Some((_, rest)) => rest
            .strip_suffix("\")")
            .unwrap_or(rest)
            .replace("\\\"", "\""),
        None => rendered.to_owned(),
    };
    let text = text.trim();
    if text.is_empty() || text == "code: None, info: None" {
        "authentication refused".to_owned()
    } else {
        text.to_owned()
    }
}

/// The bearer token for this connection: fixed, or the trimmed stdout of `sh -c <command>`.
async fn fetch_token(source: &TokenSource) -> Result<String, String> {
    let token = match source {
        TokenSource::Fixed(token) => token.trim().to_owned(),
        TokenSource::Command(command) => {
            let output = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .output()
                .await
                .map_err(|e| format!("token command could not run: {e}"))?;
            if !output.status.success() {
                return Err(format!("token command failed ({})", output.status));
            }
            String::from_utf8(output.stdout)
                .map_err(|_| "token command printed non-UTF-8 output".to_owned())?
                .trim()
                .to_owned()
        }
    };
    if token.is_empty() {
        return Err("the XOAUTH2 token is empty".to_owned());
    }
    Ok(token)
}

/// The SASL XOAUTH2 client: sends `user=<u>^Aauth=Bearer <token>^A^A` first; answers any
/// later challenge (the server's JSON error) with an empty response so the server can finish
/// with `NO`.
pub(crate) struct XOAuth2 {
    user: String,
    token: String,
    sent: bool,
}

impl XOAuth2 {
    pub(crate) fn new(user: String, token: String) -> Self {
        Self {
            user,
            token,
            sent: false,
        }
    }

    /// The initial client response (before base64).
    pub(crate) fn initial_response(&self) -> String {
        format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
    }
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;

    fn process(&mut self, _challenge: &[u8]) -> String {
        if self.sent {
            String::new()
        } else {
            self.sent = true;
            self.initial_response()
        }
    }
}

// Never print the token.
impl Debug for XOAuth2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XOAuth2")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use async_imap::Authenticator;

    use super::*;

    #[test]
    fn xoauth2_initial_response_then_empty() {
        let mut auth = XOAuth2::new("me@example.com".into(), "ya29.tok".into());
        assert_eq!(
            auth.process(b""),
            "user=me@example.com\x01auth=Bearer ya29.tok\x01\x01"
        );
        // A failed XOAUTH2 sends a base64 JSON challenge; the client answers with nothing.
        assert_eq!(auth.process(b"{\"status\":\"401\"}"), "");
        assert!(!format!("{auth:?}").contains("ya29"));
    }

    #[tokio::test]
    async fn token_from_command_is_trimmed() {
        let token = fetch_token(&TokenSource::Command("printf '  abc.def \\n'".into())).await;
        assert_eq!(token.as_deref(), Ok("abc.def"));
        assert!(
            fetch_token(&TokenSource::Command("exit 3".into()))
                .await
                .is_err()
        );
        assert!(
            fetch_token(&TokenSource::Command("true".into()))
                .await
                .is_err()
        );
        assert_eq!(
            fetch_token(&TokenSource::Fixed("t0k".into()))
                .await
                .as_deref(),
            Ok("t0k")
        );
    }

    #[test]
    fn server_text_is_unwrapped() {
        assert_eq!(
            server_text(
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(
            server_text(r#"code: None, info: Some("say \"hi\"")"#),
            r#"say "hi""#
        );
        assert_eq!(
            server_text("code: None, info: None"),
            "authentication refused"
        );
        assert_eq!(server_text("plain"), "plain");
    }

    #[test]
    fn settings_validation() {
        let mut settings = ImapSettings {
            host: "imap.example.com".into(),
            port: None,
            tls: ImapTls::Implicit,
            username: "u".into(),
            mailbox: None,
            move_to: None,
            poll_secs: None,
            idle_secs: None,
            batch: None,
        };
        assert_eq!(
            Connector::new(&settings).map(|c| c.addr()).ok().as_deref(),
            Some("imap.example.com:993")
        );
        settings.tls = ImapTls::Starttls;
        assert_eq!(
            Connector::new(&settings).map(|c| c.addr()).ok().as_deref(),
            Some("imap.example.com:143")
        );
        settings.host = "bad host name".into();
        assert!(Connector::new(&settings).is_err());
        settings.tls = ImapTls::None;
        assert!(Connector::new(&settings).is_ok());
    }
}
