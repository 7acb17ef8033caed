//! The selected mailbox: where to start (cursor vs UIDVALIDITY), fetching new mail in UID
//! order and batches, handing it to the sink, advancing the cursor, then `\Seen` or move.

use std::collections::BTreeSet;
use std::time::Duration;

use async_imap::types::{Capabilities, UnsolicitedResponse};
use futures_util::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::connect::Session;
use super::{CursorStore, FetchedMail, MailSink, MailboxCursor};

/// How long one ordinary command may take before the connection is presumed dead.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long fetching one batch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// Why the work on a session ended.
#[derive(Debug)]
pub(crate) enum SyncError {
    /// The connection is unusable (or the cursor store failed): reconnect with backoff.
    Connection(String),
    /// `stop` was cancelled.
    Stopped,
}

/// The per-mailbox settings with defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) mailbox: String,
    pub(crate) move_to: Option<String>,
    pub(crate) batch: usize,
    pub(crate) idle: Duration,
    pub(crate) poll: Duration,
}

/// What the server supports, from `CAPABILITY` after login.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub(crate) idle: bool,
    pub(crate) mv: bool,
    pub(crate) uidplus: bool,
}

impl Caps {
    pub(crate) fn from_capabilities(caps: &Capabilities) -> Self {
        Self {
            idle: caps.has_str("IDLE"),
            mv: caps.has_str("MOVE"),
            uidplus: caps.has_str("UIDPLUS"),
        }
    }
}

/// Runs `fut` (an IMAP command) with a timeout, mapping every failure to a connection error.
pub(crate) async fn io<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = async_imap::error::Result<T>>,
) -> Result<T, SyncError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(SyncError::Connection(format!("{what}: {e}"))),
        Err(_) => Err(SyncError::Connection(format!("{what}: timed out"))),
    }
}

/// Creates the move-to folder if it is missing (a `NO` because it exists is fine).
pub(crate) async fn ensure_folder(session: &mut Session, folder: &str) -> Result<(), SyncError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, session.create(folder)).await {
        Ok(Ok(())) => {
            info!(folder, "created the IMAP folder processed mail is moved to");
            Ok(())
        }
        Ok(Err(async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_))) => Ok(()),
        Ok(Err(e)) => Err(SyncError::Connection(format!("CREATE: {e}"))),
        Err(_) => Err(SyncError::Connection("CREATE: timed out".to_owned())),
    }
}

/// `SELECT`s the mailbox and decides where to resume: the saved cursor if its UIDVALIDITY
/// still holds, else UID 0 (everything again; the bridge de-duplicates on Message-ID).
pub(crate) async fn select(
    session: &mut Session,
    params: &Params,
    store: &dyn CursorStore,
) -> Result<MailboxCursor, SyncError> {
    let mailbox = io("SELECT", COMMAND_TIMEOUT, session.select(&params.mailbox)).await?;
    let uid_validity = mailbox.uid_validity.unwrap_or(0);
    let saved = store
        .load()
        .await
        .map_err(|e| SyncError::Connection(format!("loading the cursor: {e}")))?;
    let cursor = match saved {
        Some(saved) if saved.uid_validity == uid_validity => saved,
        Some(saved) => {
            info!(
                mailbox = %params.mailbox,
                old = saved.uid_validity,
                new = uid_validity,
                "UIDVALIDITY changed: re-reading the whole mailbox"
            );
            MailboxCursor {
                uid_validity,
                last_uid: 0,
            }
        }
        None => MailboxCursor {
            uid_validity,
            last_uid: 0,
        },
    };
    info!(
        mailbox = %params.mailbox,
        uid_validity,
        last_uid = cursor.last_uid,
        exists = mailbox.exists,
        "mailbox selected"
    );
    Ok(cursor)
}

/// Delivers every mail above the cursor, batch by batch, until a search finds nothing new
/// (and no `EXISTS` arrived meanwhile).
pub(crate) async fn drain(
    session: &mut Session,
    caps: Caps,
    params: &Params,
    store: &dyn CursorStore,
    sink: &dyn MailSink,
    stop: &CancellationToken,
    cursor: &mut MailboxCursor,
) -> Result<(), SyncError> {
    loop {
        // Anything the server announced before this search is covered by it.
        while session.unsolicited_responses.try_recv().is_ok() {}
        let uids = search_new(session, cursor.last_uid).await?;
        if uids.is_empty() {
            let mut grew = false;
            while let Ok(resp) = session.unsolicited_responses.try_recv() {
                grew |= matches!(
                    resp,
                    UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
                );
            }
            if grew {
                continue;
            }
            return Ok(());
        }
        debug!(count = uids.len(), after = cursor.last_uid, "new mail");
        for chunk in uids.chunks(params.batch) {
            if stop.is_cancelled() {
                return Err(SyncError::Stopped);
            }
            let Some(&highest) = chunk.last() else {
                continue;
            };
            let mails = fetch(session, chunk).await?;
            let next = MailboxCursor {
                uid_validity: cursor.uid_validity,
                // UIDs are never reused, so ones expunged since the search are done too.
                last_uid: highest,
            };
            hand_over(sink, store, stop, mails, next).await?;
            *cursor = next;
            acknowledge(session, caps, params, chunk).await?;
        }
    }
}

/// The UIDs above `last`, ascending (`N:*` always matches the newest mail, hence the filter).
async fn search_new(session: &mut Session, last: u32) -> Result<Vec<u32>, SyncError> {
    let query = format!("UID {}:*", last.saturating_add(1));
    let found = io("UID SEARCH", COMMAND_TIMEOUT, session.uid_search(query)).await?;
    let uids: BTreeSet<u32> = found.into_iter().filter(|uid| *uid > last).collect();
    Ok(uids.into_iter().collect())
}

/// `UID FETCH <chunk> (UID BODY.PEEK[])`: the mails in UID order (peek: no `\Seen` yet).
async fn fetch(session: &mut Session, chunk: &[u32]) -> Result<Vec<FetchedMail>, SyncError> {
    let set = uid_set(chunk);
    let fetch_all = async {
        let mut stream = session.uid_fetch(&set, "(UID BODY.PEEK[])").await?;
        let mut mails = Vec::with_capacity(chunk.len());
        while let Some(item) = stream.next().await {
            let item = item?;
            if let (Some(uid), Some(body)) = (item.uid, item.body())
                && chunk.binary_search(&uid).is_ok()
            {
                mails.push(FetchedMail {
                    uid,
                    raw: body.to_vec(),
                });
            }
        }
        Ok(mails)
    };
    let mut mails = io("UID FETCH", FETCH_TIMEOUT, fetch_all).await?;
    mails.sort_by_key(|mail| mail.uid);
    mails.dedup_by_key(|mail| mail.uid);
    Ok(mails)
}

/// Gives the batch to the sink and saves the cursor after it, retrying both (same batch,
/// cursor untouched) with backoff until they succeed or `stop` is cancelled.
async fn hand_over(
    sink: &dyn MailSink,
    store: &dyn CursorStore,
    stop: &CancellationToken,
    mails: Vec<FetchedMail>,
    next: MailboxCursor,
) -> Result<(), SyncError> {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let result = if mails.is_empty() {
            Ok(())
        } else {
            sink.deliver(mails.clone())
                .await
                .map_err(|e| format!("the bridge did not take the mail: {e}"))
        };
        let result = match result {
            Ok(()) => store
                .save(next)
                .await
                .map_err(|e| format!("saving the cursor: {e}")),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                debug!(
                    count = mails.len(),
                    last_uid = next.last_uid,
                    "batch delivered"
                );
                return Ok(());
            }
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(error = %e, retry_in = ?delay, count = mails.len(), "mail batch not delivered; retrying");
                tokio::select! {
                    () = stop.cancelled() => return Err(SyncError::Stopped),
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Marks the delivered mails `\Seen`, or moves them. A refusal (`NO`/`BAD`) is only logged:
/// the mail is already durable and the cursor is past it.
async fn acknowledge(
    session: &mut Session,
    caps: Caps,
    params: &Params,
    chunk: &[u32],
) -> Result<(), SyncError> {
    let set = uid_set(chunk);
    let result = match &params.move_to {
        None => store_flags(session, &set, "+FLAGS.SILENT (\\Seen)").await,
        Some(folder) if caps.mv => {
            tokio::time::timeout(COMMAND_TIMEOUT, session.uid_mv(&set, folder))
                .await
                .unwrap_or_else(|_| Err(timed_out()))
        }
        Some(folder) => move_by_copy(session, caps, &set, folder).await,
    };
    match result {
        Ok(()) => Ok(()),
        Err(async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text)) => {
            warn!(uids = %set, reply = %text, "could not flag or move delivered mail");
            Ok(())
        }
        Err(e) => Err(SyncError::Connection(format!("acknowledging mail: {e}"))),
    }
}

fn timed_out() -> async_imap::error::Error {
    async_imap::error::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "timed out",
    ))
}

async fn store_flags(
    session: &mut Session,
    set: &str,
    query: &str,
) -> async_imap::error::Result<()> {
    let run = async {
        let stream = session.uid_store(set, query).await?;
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            item?;
        }
        Ok(())
    };
    tokio::time::timeout(COMMAND_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| Err(timed_out()))
}

/// No `MOVE`: `UID COPY`, flag `\Deleted`, and `UID EXPUNGE` when UIDPLUS allows expunging
/// only these mails (else they stay flagged for the user's client to expunge).
async fn move_by_copy(
    session: &mut Session,
    caps: Caps,
    set: &str,
    folder: &str,
) -> async_imap::error::Result<()> {
    tokio::time::timeout(COMMAND_TIMEOUT, session.uid_copy(set, folder))
        .await
        .unwrap_or_else(|_| Err(timed_out()))?;
    store_flags(session, set, "+FLAGS.SILENT (\\Seen \\Deleted)").await?;
    if caps.uidplus {
        let run = async {
            let stream = session.uid_expunge(set).await?;
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                item?;
            }
            Ok(())
        };
        tokio::time::timeout(COMMAND_TIMEOUT, run)
            .await
            .unwrap_or_else(|_| Err(timed_out()))?;
    }
    Ok(())
}

/// An IMAP sequence set for ascending UIDs, runs collapsed: `1:3,7,9:10`.
pub(crate) fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_collapse_runs() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[4, 6, 8]), "4,6,8");
    }
}
