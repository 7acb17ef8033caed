//! `wait_for_events`: the next events after a cursor, waiting (up to a minute) for the bus to
//! move instead of making the agent poll.

use std::time::Duration;

use omnibridge_sdk::{ConversationId, Envelope};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::tools::WaitArgs;
use super::transcript;
use crate::bus::Seq;
use crate::http::AppState;
use crate::web::problem::ApiError;

/// Longest wait a call may ask for.
pub(super) const MAX_TIMEOUT_SECS: u64 = 60;
/// Wait when the call names none.
const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Default and largest number of events returned.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
/// Events read from the bus per query.
const READ_BATCH: usize = 256;
/// How often to look at the bus when no wake-up came (appends by other instances).
const POLL: Duration = Duration::from_millis(500);

/// Waits for events matching `args`; ends early when `cancel` fires (the client gave up).
pub(super) async fn wait(
    state: &AppState,
    args: WaitArgs,
    cancel: CancellationToken,
) -> Result<Value, ApiError> {
    let timeout = args.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if timeout == 0 || timeout > MAX_TIMEOUT_SECS {
        return Err(ApiError::new(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_timeout",
            format!("timeout_secs must be 1-{MAX_TIMEOUT_SECS}"),
        ));
    }
    if let Some(unknown) = args
        .types
        .iter()
        .find(|t| !omnibridge_sdk::EventBody::TYPE_NAMES.contains(&t.as_str()))
    {
        return Err(ApiError::new(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_event_type",
            format!(
                "{unknown:?} is not an event type; use some of: {}",
                omnibridge_sdk::EventBody::TYPE_NAMES.join(", ")
            ),
        ));
    }
    let conversation = match &args.conversation_id {
        Some(id) => {
            let id = ConversationId::new(id);
            if state.store.conversation(&id).await?.is_none() {
                return Err(ApiError::not_found(
                    "unknown_conversation",
                    format!("no conversation {:?}", id.as_str()),
                ));
            }
            Some(id)
        }
        None => None,
    };
    let limit = args.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let mut cursor: Seq = match args.cursor {
        Some(cursor) => cursor,
        None => state.bus.head().await?,
    };
    let mut head = state.bus.watch_head();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let batch = match &conversation {
            Some(id) => state.bus.read_conversation(id, cursor, READ_BATCH).await?,
            None => state.bus.read_after(cursor, READ_BATCH).await?,
        };
        let read_all = batch.len() < READ_BATCH;
        let mut found = Vec::new();
        for envelope in batch {
            let seq = envelope.seq.unwrap_or(cursor);
            if matches(&args.types, &envelope) {
                found.push(event_json(&envelope));
            }
            cursor = seq;
            if found.len() == limit {
                break;
            }
        }
        if !found.is_empty() {
            return Ok(json!({ "events": found, "cursor": cursor, "timed_out": false }));
        }
        if !read_all {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                return Ok(json!({ "events": [], "cursor": cursor, "timed_out": true }));
            }
            () = cancel.cancelled() => {
                return Ok(json!({ "events": [], "cursor": cursor, "timed_out": true }));
            }
            () = state.shutdown.cancelled() => {
                return Ok(json!({ "events": [], "cursor": cursor, "timed_out": true }));
            }
            () = crate::bus::head_moved(&mut head) => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

fn matches(types: &[String], envelope: &Envelope) -> bool {
    types.is_empty() || types.iter().any(|t| t == envelope.event_type())
}

/// An event as the agent sees it: position, type, conversation, a readable line and the data.
fn event_json(envelope: &Envelope) -> Value {
    let line = transcript::line(envelope).map(|l| format!("{}: {}", l.from, l.text));
    let data = serde_json::to_value(&envelope.body)
        .ok()
        .and_then(|mut v| v.get_mut("data").map(Value::take))
        .unwrap_or(Value::Null);
    // Confirmation links are for the customer only (JSON strings hold no whitespace-free
    // link edges other than quotes, so redacting the serialized data is exact).
    let data = match serde_json::to_string(&data) {
        Ok(json) if json.contains(crate::payments::confirm_link::PATH) => {
            serde_json::from_str(&super::redact::confirmation_links(&json)).unwrap_or(Value::Null)
        }
        _ => data,
    };
    json!({
        "seq": envelope.seq,
        "type": envelope.event_type(),
        "conversation_id": envelope.conversation_id,
        "channel": envelope.channel.as_str(),
        "occurred_at": envelope.occurred_at,
        "text": line,
        "data": data,
    })
}
