//! Outbound mail with lettre: one [`OutgoingMail`] becomes a multipart/alternative message
//! (text + HTML) with our threading headers, sent over a pooled SMTP transport (implicit TLS,
//! STARTTLS, or plain when config says so for local use). SMTP replies are mapped so the
//! caller knows what to do next: 4xx and connection failures are [`SmtpError::Transient`]
//! (retry with backoff), 5xx is [`SmtpError::Permanent`] with the server's reply text.
//!
//! Split into `build` (mail → lettre message), `transport` (settings → pooled
//! transport) and `errors` (lettre error → [`SmtpError`]). Logging names the Message-ID,
//! the number of recipients and the mapped error (which may quote the server's reply):
//! never credentials, bodies or our own recipient list.

mod build;
mod errors;
mod transport;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lettre::transport::smtp::{AsyncSmtpTransport, AsyncSmtpTransportBuilder};
use lettre::{AsyncTransport, Tokio1Executor};
use serde::Deserialize;
use tokio::sync::Semaphore;

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// TLS from the first byte (port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS, required (port 587). The default.
    #[default]
    Starttls,
    /// No TLS at all: local test servers only.
    None,
}

/// The `smtp` table of an email channel.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Server host name (also the TLS name).
    pub host: String,
    /// Server port (default: 465 for implicit TLS, 587 for STARTTLS, 25 for none).
    #[serde(default)]
    pub port: Option<u16>,
    /// Connection security.
    #[serde(default)]
    pub tls: SmtpTls,
    /// Login user; no authentication when absent.
    #[serde(default)]
    pub username: Option<String>,
    /// Most pooled connections kept open (default 4).
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// Per-command timeout in seconds (default 30).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// How to authenticate to the SMTP server (resolved from env by the channel).
///
/// `Debug` shows the user names but never the password or the token.
#[derive(Clone, PartialEq, Eq)]
pub enum SmtpAuth {
    /// No authentication.
    None,
    /// LOGIN / PLAIN with a password.
    Password {
        /// Login user.
        username: String,
        /// Password.
        password: String,
    },
    /// XOAUTH2 with a bearer token.
    XOAuth2 {
        /// Login user.
        username: String,
        /// Access token.
        token: String,
    },
}

/// A file attached to an outgoing mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingAttachment {
    /// File name shown to the recipient.
    pub filename: String,
    /// `type/subtype`.
    pub mime_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// One mail to send, fully decided by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    /// `From` (`Name <addr>` or `addr`).
    pub from: String,
    /// Recipients (`To`).
    pub to: Vec<String>,
    /// `Reply-To`, when set (the conversation's plus-address).
    pub reply_to: Option<String>,
    /// The subject, already with its single `Re:` when it is a reply.
    pub subject: String,
    /// Our `Message-ID`, without angle brackets.
    pub message_id: String,
    /// `In-Reply-To`, without angle brackets.
    pub in_reply_to: Option<String>,
    /// `References`, root first, without angle brackets.
    pub references: Vec<String>,
    /// The text/plain part.
    pub text: String,
    /// The text/html part, when there is one (then the mail is multipart/alternative).
    pub html: Option<String>,
    /// Adds `Auto-Submitted: auto-replied` and `X-Auto-Response-Suppress: All`.
    pub automatic: bool,
    /// Attachments (then the mail is multipart/mixed around the alternative part).
    pub attachments: Vec<OutgoingAttachment>,
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmtpError {
    /// Try again later: a 4xx reply, a timeout or a connection failure.
    #[error("temporary SMTP failure: {0}")]
    Transient(String),
    /// Never retry: a 5xx reply (`code` like `550`, `text` the server's words).
    #[error("SMTP server refused the mail: {code} {text}")]
    Permanent {
        /// The reply code.
        code: String,
        /// The server's reply text.
        text: String,
    },
    /// The mail or the settings are unusable (bad address, bad host).
    #[error("invalid mail or SMTP settings: {0}")]
    Invalid(String),
}

impl fmt::Debug for SmtpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::XOAuth2 { username, .. } => f
                .debug_struct("XOAuth2")
                .field("username", username)
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}

impl OutgoingMail {
    /// The RFC 5322 bytes (CRLF line ends) exactly as [`SmtpSender::send`] would transmit
    /// them, built with lettre: for tests, archives or an IMAP `APPEND` to Sent. The `Date`
    /// is now, and MIME boundaries are random.
    pub fn render(&self) -> Result<Vec<u8>, SmtpError> {
        Ok(build::build_message(self)?.formatted())
    }
}

/// A pooled SMTP sender. Clones share one pool.
///
/// The lettre transport is created on the first [`send`](Self::send) or
/// [`check`](Self::check) (it spawns its pool janitor onto the current tokio runtime), so
/// [`new`](Self::new) works outside a runtime. At most `max_connections` sends run at once.
///
/// Timeouts: lettre's async client bounds only the TCP connect by `timeout_secs`, not the
/// replies, so each call also has an overall deadline of `timeout_secs` per command it may
/// need (see `transport::send_deadline`). When that deadline passes the call is
/// [`SmtpError::Transient`] and the pool is replaced by a fresh one: the abandoned
/// connection may sit in the middle of a command and must not be handed out again.
#[derive(Clone)]
pub struct SmtpSender {
    inner: Arc<Inner>,
}

struct Inner {
    settings: SmtpSettings,
    builder: AsyncSmtpTransportBuilder,
    /// The current pool and its generation (bumped when a timeout discards a pool).
    transport: Mutex<Option<(u64, AsyncSmtpTransport<Tokio1Executor>)>>,
    generation: AtomicU64,
    permits: Semaphore,
    timeout: Duration,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // lettre's pool spawns its shutdown onto the runtime when dropped, which panics
        // outside one (a sender dropped after its runtime ended): leak it then instead.
        if tokio::runtime::Handle::try_current().is_err() {
            let slot = self
                .transport
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(transport) = slot.take() {
                std::mem::forget(transport);
            }
        }
    }
}

impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.inner.settings;
        f.debug_struct("SmtpSender")
            .field("host", &s.host)
            .field("port", &s.port)
            .field("tls", &s.tls)
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// A sender for `settings` authenticating with `auth`. Connects lazily.
    ///
    /// [`SmtpError::Invalid`] for an empty host, a zero `max_connections` or
    /// `timeout_secs`, or a TLS setup that cannot be built. `auth` decides the login;
    /// `settings.username` is for the channel that resolves it.
    pub fn new(settings: SmtpSettings, auth: SmtpAuth) -> Result<Self, SmtpError> {
        let builder = transport::builder(&settings, &auth)?;
        let permits = usize::try_from(transport::max_connections(&settings)?)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        let timeout = transport::command_timeout(&settings)?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                builder,
                transport: Mutex::new(None),
                generation: AtomicU64::new(0),
                permits: Semaphore::new(permits),
                timeout,
            }),
        })
    }

    /// The current pool (built now when there is none) and its generation.
    fn transport(&self) -> (u64, AsyncSmtpTransport<Tokio1Executor>) {
        let mut slot = self
            .inner
            .transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert_with(|| {
            let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed);
            (generation, self.inner.builder.clone().build())
        })
        .clone()
    }

    /// Drops pool `generation` (if still current) so the next call starts a fresh one.
    fn discard(&self, generation: u64) {
        let mut slot = self
            .inner
            .transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot
            .as_ref()
            .is_some_and(|(current, _)| *current == generation)
        {
            *slot = None;
        }
    }

    /// Sends one mail.
    ///
    /// [`SmtpError::Invalid`] before any connection when the mail cannot be built (bad
    /// address or id); otherwise the SMTP outcome mapped as the module says.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), SmtpError> {
        let message = build::build_message(mail)?;
        let recipients = mail.to.len();
        let deadline = transport::send_deadline(self.inner.timeout, recipients);
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| SmtpError::Transient("the SMTP sender is closed".into()))?;
        let (generation, transport) = self.transport();
        let outcome = match tokio::time::timeout(deadline, transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(errors::from_lettre(&err)),
            Err(_) => {
                self.discard(generation);
                Err(SmtpError::Transient(format!(
                    "no SMTP answer within {}s",
                    deadline.as_secs()
                )))
            }
        };
        match &outcome {
            Ok(()) => tracing::debug!(message_id = %mail.message_id, recipients, "mail sent"),
            Err(err) => tracing::warn!(
                message_id = %mail.message_id,
                recipients,
                error = %err,
                "mail not sent"
            ),
        }
        outcome
    }

    /// Opens a connection and says NOOP: a cheap proof the settings work.
    ///
    /// With a pool the connection may be a pooled one (then NOOP proves it is still alive);
    /// a fresh connection goes through TLS and AUTH, so a wrong password shows here.
    pub async fn check(&self) -> Result<(), SmtpError> {
        let deadline = transport::check_deadline(self.inner.timeout);
        let (generation, transport) = self.transport();
        match tokio::time::timeout(deadline, transport.test_connection()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(SmtpError::Transient(
                "the SMTP server did not answer NOOP".into(),
            )),
            Ok(Err(err)) => Err(errors::from_lettre(&err)),
            Err(_) => {
                self.discard(generation);
                Err(SmtpError::Transient(format!(
                    "no SMTP answer within {}s",
                    deadline.as_secs()
                )))
            }
        }
    }
}
