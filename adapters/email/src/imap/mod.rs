//! The mailbox follower: keeps one IMAP mailbox's new mail flowing into the bridge.
//!
//! On each connection: authenticate (LOGIN/PLAIN or XOAUTH2), `SELECT` the mailbox, compare
//! its UIDVALIDITY with the persisted [`MailboxCursor`] (changed: re-scan everything; the
//! bridge de-duplicates on Message-ID), fetch every UID above the cursor in batches (backfill),
//! hand each batch to the [`MailSink`] and only after it returns (durable append) advance the
//! cursor and flag the mails `\Seen` or move them to the configured folder. Then wait for
//! more with IDLE, or poll when the server has no IDLE. Disconnects reconnect with backoff;
//! a refused login is reported through [`ImapHealth`] and retried slowly, never in a tight
//! loop.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

mod backoff;
mod connect;
mod session;
mod sync;
mod wait;

use backoff::Backoff;
use session::{Ctx, Outcome};

/// How the IMAP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImapTls {
    /// TLS from the first byte (port 993). The default.
    #[default]
    Implicit,
    /// Plain connection upgraded with STARTTLS (port 143).
    Starttls,
    /// No TLS at all: local test servers only.
    None,
}

/// The `imap` table of an email channel.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSettings {
    /// Server host name (also the TLS name).
    pub host: String,
    /// Server port (default 993 for implicit TLS, 143 otherwise).
    #[serde(default)]
    pub port: Option<u16>,
    /// Connection security.
    #[serde(default)]
    pub tls: ImapTls,
    /// Login user.
    pub username: String,
    /// The mailbox to follow (default `INBOX`).
    #[serde(default)]
    pub mailbox: Option<String>,
    /// Move processed mail here instead of flagging it `\Seen`.
    #[serde(default)]
    pub move_to: Option<String>,
    /// Poll interval in seconds when the server has no IDLE (default 30).
    #[serde(default)]
    pub poll_secs: Option<u64>,
    /// Re-issue IDLE after this many seconds (default 300; RFC 2177 says at most 29 min).
    #[serde(default)]
    pub idle_secs: Option<u64>,
    /// Mails fetched per batch (default 50).
    #[serde(default)]
    pub batch: Option<u32>,
}

/// How to log in (resolved from env or a command by the channel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImapAuth {
    /// LOGIN with a password.
    Password {
        /// Login user.
        username: String,
        /// Password.
        password: String,
    },
    /// `AUTHENTICATE XOAUTH2` with a bearer token (fetched anew on every connection).
    XOAuth2 {
        /// Login user.
        username: String,
        /// Where the token comes from.
        token: TokenSource,
    },
}

/// Where an XOAUTH2 bearer token comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// A fixed token (from an environment variable).
    Fixed(String),
    /// A command whose standard output (trimmed) is the token, run on each connection
    /// (`sh -c`), e.g. an OAuth refresh helper.
    Command(String),
}

/// How far the bridge has read the mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct MailboxCursor {
    /// The mailbox's UIDVALIDITY when `last_uid` was read.
    pub uid_validity: u32,
    /// The highest UID durably handed to the bridge.
    pub last_uid: u32,
}

/// Where the cursor is persisted (the bridge's store).
#[async_trait::async_trait]
pub trait CursorStore: Send + Sync + 'static {
    /// The saved cursor, if any.
    async fn load(&self) -> Result<Option<MailboxCursor>, String>;
    /// Saves the cursor (called only after the mails up to it are durable).
    async fn save(&self, cursor: MailboxCursor) -> Result<(), String>;
}

/// One fetched mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedMail {
    /// Its UID in the mailbox.
    pub uid: u32,
    /// The whole RFC 5322 message as stored.
    pub raw: Vec<u8>,
}

/// Where fetched mail goes; returns only once the mails are durable on the bus.
#[async_trait::async_trait]
pub trait MailSink: Send + Sync + 'static {
    /// Takes a batch, in UID order. An error means nothing may be acknowledged: the follower
    /// retries the same batch later.
    async fn deliver(&self, mails: Vec<FetchedMail>) -> Result<(), String>;
}

/// The follower's state, for `/health` and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImapState {
    /// Not connected yet.
    Starting,
    /// Connected and following the mailbox.
    Connected,
    /// Disconnected; retrying (the last error).
    Reconnecting(String),
    /// The server refused the credentials (retried slowly).
    AuthFailed(String),
}

/// The follower's shared state cell.
#[derive(Clone, Debug)]
pub struct ImapHealth(Arc<std::sync::Mutex<ImapState>>);

impl Default for ImapHealth {
    fn default() -> Self {
        Self(Arc::new(std::sync::Mutex::new(ImapState::Starting)))
    }
}

impl ImapHealth {
    /// The current state.
    pub fn get(&self) -> ImapState {
        match self.0.lock() {
            Ok(state) => state.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Sets the state.
    pub fn set(&self, state: ImapState) {
        match self.0.lock() {
            Ok(mut guard) => *guard = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
    }
}

/// Why the follower stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The settings cannot work (bad host name for TLS, ...).
    #[error("invalid IMAP settings: {0}")]
    Invalid(String),
}

/// First delay after a broken connection; doubles up to [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_secs(1);
/// Longest delay between reconnection attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(60);
/// First delay after refused credentials; doubles up to [`AUTH_RETRY_MAX`].
const AUTH_RETRY_FIRST: Duration = Duration::from_secs(30);
/// Longest delay between login attempts with refused credentials.
const AUTH_RETRY_MAX: Duration = Duration::from_secs(600);
/// How long a connection may take to log out once `stop` is cancelled.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Follows the mailbox until `stop` is cancelled (then returns `Ok`).
///
/// Errors only when the settings cannot work (e.g. a host that is no TLS server name);
/// connection and authentication failures are retried forever with backoff and reported
/// through `health`.
pub async fn follow(
    settings: ImapSettings,
    auth: ImapAuth,
    cursor: Arc<dyn CursorStore>,
    sink: Arc<dyn MailSink>,
    health: ImapHealth,
    stop: CancellationToken,
) -> Result<(), ImapError> {
    let connector = connect::Connector::new(&settings).map_err(ImapError::Invalid)?;
    let params = sync::Params {
        mailbox: settings
            .mailbox
            .clone()
            .unwrap_or_else(|| "INBOX".to_owned()),
        move_to: settings.move_to.clone(),
        batch: usize::try_from(settings.batch.unwrap_or(50).max(1)).unwrap_or(50),
        idle: Duration::from_secs(settings.idle_secs.unwrap_or(300).clamp(1, 29 * 60)),
        poll: Duration::from_secs(settings.poll_secs.unwrap_or(30).max(1)),
    };
    let ctx = Ctx {
        connector: &connector,
        auth: &auth,
        params: &params,
        store: cursor.as_ref(),
        sink: sink.as_ref(),
        health: &health,
        stop: &stop,
    };
    let mut reconnect = Backoff::new(RECONNECT_FIRST, RECONNECT_MAX);
    let mut auth_retry = Backoff::new(AUTH_RETRY_FIRST, AUTH_RETRY_MAX);
    info!(server = %connector.addr(), mailbox = %params.mailbox, "following IMAP mailbox");
    loop {
        if stop.is_cancelled() {
            return Ok(());
        }
        // A connection notices `stop` while waiting and logs out; anywhere else (connecting,
        // fetching, ...) it gets STOP_GRACE to finish before it is dropped.
        let outcome = tokio::select! {
            outcome = session::run(&ctx) => outcome,
            () = async { stop.cancelled().await; tokio::time::sleep(STOP_GRACE).await } => {
                Outcome::Stopped
            }
        };
        let delay = match outcome {
            Outcome::Stopped => return Ok(()),
            Outcome::AuthFailed(text) => {
                reconnect.reset();
                let delay = auth_retry.next_delay();
                warn!(server = %connector.addr(), reply = %text, retry_in = ?delay, "IMAP login refused");
                health.set(ImapState::AuthFailed(text));
                delay
            }
            Outcome::Lost {
                error,
                authenticated,
                selected,
            } => {
                if authenticated {
                    auth_retry.reset();
                }
                if selected {
                    reconnect.reset();
                }
                let delay = reconnect.next_delay();
                warn!(server = %connector.addr(), %error, retry_in = ?delay, "IMAP connection lost");
                health.set(ImapState::Reconnecting(error));
                delay
            }
        };
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(delay) => {}
        }
    }
}
