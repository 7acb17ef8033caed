//! Waiting for new mail: IDLE (RFC 2177) when the server has it, else NOOP polling.
//!
//! IDLE is driven by hand over the session's raw command/response API rather than
//! async-imap's `Handle`, so that data the server sends before its `+ idling` continuation
//! also counts as a wake-up, and so the wait can end on `stop` or after `idle_secs` even
//! while the server sends `* OK Still here` keepalives.

use std::time::Duration;

use async_imap::imap_proto::{RequestId, Response, Status};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::connect::Session;
use super::sync::{COMMAND_TIMEOUT, SyncError, io};

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woke {
    /// The mailbox may have changed (or the poll interval passed): search again.
    Changed,
    /// IDLE was re-issued after `idle_secs` without news: search anyway, it is cheap.
    Timeout,
    /// `stop` was cancelled.
    Stopped,
}

fn lost(what: &str, e: impl std::fmt::Display) -> SyncError {
    SyncError::Connection(format!("{what}: {e}"))
}

/// One server response, as far as IDLE cares.
#[derive(Debug)]
enum Event {
    /// `+ idling`
    Continue,
    /// The tagged completion of our IDLE, with whether it was OK.
    Done(Result<(), String>),
    /// `* OK ...` (keepalive) or a completion of some other tag.
    Nothing,
    /// `* BYE`
    Bye,
    /// `* N EXISTS`, `* N EXPUNGE`, `* N FETCH`, ...: the mailbox changed.
    Data,
}

fn classify(resp: &Response<'_>, tag: &RequestId) -> Event {
    match resp {
        Response::Continue(_) => Event::Continue,
        Response::Done {
            tag: done, status, ..
        } if done == tag => match status {
            Status::Ok => Event::Done(Ok(())),
            other => Event::Done(Err(format!("{other:?}"))),
        },
        Response::Done { .. }
        | Response::Data {
            status: Status::Ok, ..
        } => Event::Nothing,
        Response::Data {
            status: Status::Bye,
            ..
        } => Event::Bye,
        _ => Event::Data,
    }
}

/// Reads and classifies one response, with a deadline (a dead peer must not hang us).
async fn next_event(session: &mut Session, tag: &RequestId) -> Result<Event, SyncError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, session.read_response()).await {
        Ok(Ok(Some(resp))) => Ok(classify(resp.parsed(), tag)),
        Ok(Ok(None)) => Err(SyncError::Connection("connection closed".to_owned())),
        Ok(Err(e)) => Err(lost("reading", e)),
        Err(_) => Err(SyncError::Connection(
            "IDLE: server did not answer".to_owned(),
        )),
    }
}

/// Issues IDLE and waits until the server reports a change, `idle` passes, or `stop` fires;
/// then ends IDLE with `DONE` and reads the tagged completion.
pub(crate) async fn idle(
    session: &mut Session,
    idle: Duration,
    stop: &CancellationToken,
) -> Result<Woke, SyncError> {
    let tag = io("IDLE", COMMAND_TIMEOUT, session.run_command("IDLE")).await?;
    let mut changed = false;
    // Until the continuation: untagged data here is news too.
    loop {
        match next_event(session, &tag).await? {
            Event::Continue => break,
            Event::Done(result) => {
                return Err(SyncError::Connection(format!(
                    "server refused IDLE ({})",
                    result.err().unwrap_or_default()
                )));
            }
            Event::Nothing => {}
            Event::Bye => return Err(SyncError::Connection("server said BYE".to_owned())),
            Event::Data => changed = true,
        }
    }
    let woke = if changed {
        Woke::Changed
    } else {
        let deadline = tokio::time::sleep(idle);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = stop.cancelled() => break Woke::Stopped,
                () = &mut deadline => break Woke::Timeout,
                // Cancel-safe: the read buffer lives in the session's stream.
                resp = session.read_response() => {
                    let event = match resp {
                        Ok(Some(resp)) => classify(resp.parsed(), &tag),
                        Ok(None) => return Err(SyncError::Connection("connection closed".to_owned())),
                        Err(e) => return Err(lost("IDLE", e)),
                    };
                    match event {
                        Event::Continue | Event::Nothing => {}
                        Event::Bye => return Err(SyncError::Connection("server said BYE".to_owned())),
                        Event::Done(_) => {
                            return Err(SyncError::Connection("server ended IDLE".to_owned()));
                        }
                        Event::Data => break Woke::Changed,
                    }
                }
            }
        }
    };
    debug!(?woke, "leaving IDLE");
    io(
        "DONE",
        COMMAND_TIMEOUT,
        session.run_command_untagged("DONE"),
    )
    .await?;
    loop {
        match next_event(session, &tag).await? {
            Event::Done(Ok(())) => return Ok(woke),
            Event::Done(Err(status)) => {
                return Err(SyncError::Connection(format!("IDLE ended with {status}")));
            }
            Event::Bye => return Err(SyncError::Connection("server said BYE".to_owned())),
            Event::Continue | Event::Nothing | Event::Data => {}
        }
    }
}

/// Sleeps `every` (or until `stop`), then NOOPs so the server reports news and the connection
/// is known to be alive.
pub(crate) async fn poll(
    session: &mut Session,
    every: Duration,
    stop: &CancellationToken,
) -> Result<Woke, SyncError> {
    tokio::select! {
        () = stop.cancelled() => return Ok(Woke::Stopped),
        () = tokio::time::sleep(every) => {}
    }
    io("NOOP", COMMAND_TIMEOUT, session.noop()).await?;
    Ok(Woke::Changed)
}
