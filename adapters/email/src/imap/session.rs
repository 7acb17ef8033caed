//! One connection's life: connect and log in, select, drain, wait, drain, ... until the
//! connection breaks or `stop` is cancelled.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::connect::{ConnectError, Connector, Session};
use super::sync::{self, COMMAND_TIMEOUT, Caps, Params, SyncError, io};
use super::wait::{self, Woke};
use super::{CursorStore, ImapAuth, ImapHealth, ImapState, MailSink};

/// How a connection ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// `stop` was cancelled (logged out, best effort).
    Stopped,
    /// The server refused the credentials.
    AuthFailed(String),
    /// The connection failed or broke.
    Lost {
        /// What went wrong.
        error: String,
        /// Whether login succeeded before.
        authenticated: bool,
        /// Whether the mailbox had been selected (the follower was healthy).
        selected: bool,
    },
}

/// Everything a connection needs, borrowed from `follow`.
pub(crate) struct Ctx<'a> {
    pub(crate) connector: &'a Connector,
    pub(crate) auth: &'a ImapAuth,
    pub(crate) params: &'a Params,
    pub(crate) store: &'a dyn CursorStore,
    pub(crate) sink: &'a dyn MailSink,
    pub(crate) health: &'a ImapHealth,
    pub(crate) stop: &'a CancellationToken,
}

/// Runs one connection to its end.
pub(crate) async fn run(ctx: &Ctx<'_>) -> Outcome {
    debug!(server = %ctx.connector.addr(), "connecting to IMAP");
    let mut session = match ctx.connector.connect(ctx.auth).await {
        Ok(session) => session,
        Err(ConnectError::Auth(text)) => return Outcome::AuthFailed(text),
        Err(ConnectError::Connection(error)) => {
            return Outcome::Lost {
                error,
                authenticated: false,
                selected: false,
            };
        }
    };
    debug!(server = %ctx.connector.addr(), "logged in to IMAP");
    let mut selected = false;
    match follow_mailbox(&mut session, ctx, &mut selected).await {
        SyncError::Stopped => {
            let _ = tokio::time::timeout(Duration::from_secs(2), session.logout()).await;
            info!("IMAP follower stopped");
            Outcome::Stopped
        }
        SyncError::Connection(error) => Outcome::Lost {
            error,
            authenticated: true,
            selected,
        },
    }
}

/// Select, then alternate draining new mail and waiting; returns only on failure or stop.
async fn follow_mailbox(session: &mut Session, ctx: &Ctx<'_>, selected: &mut bool) -> SyncError {
    let caps = match io("CAPABILITY", COMMAND_TIMEOUT, session.capabilities()).await {
        Ok(caps) => Caps::from_capabilities(&caps),
        Err(e) => return e,
    };
    if let Some(folder) = &ctx.params.move_to
        && let Err(e) = sync::ensure_folder(session, folder).await
    {
        return e;
    }
    let mut cursor = match sync::select(session, ctx.params, ctx.store).await {
        Ok(cursor) => cursor,
        Err(e) => return e,
    };
    *selected = true;
    ctx.health.set(ImapState::Connected);
    if !caps.idle {
        info!(every = ?ctx.params.poll, "server has no IDLE; polling");
    }
    loop {
        if let Err(e) = sync::drain(
            session,
            caps,
            ctx.params,
            ctx.store,
            ctx.sink,
            ctx.stop,
            &mut cursor,
        )
        .await
        {
            return e;
        }
        let woke = if caps.idle {
            wait::idle(session, ctx.params.idle, ctx.stop).await
        } else {
            wait::poll(session, ctx.params.poll, ctx.stop).await
        };
        match woke {
            Ok(Woke::Stopped) => return SyncError::Stopped,
            Ok(Woke::Changed | Woke::Timeout) => {}
            Err(e) => return e,
        }
    }
}
