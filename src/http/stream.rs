//! `GET /v1/events`: the bus as Server-Sent Events for business consumers.
//!
//! Each SSE `id` is the event's bus `seq`; reconnecting with `Last-Event-ID` (or `?after=`)
//! resumes right after it, so no event is missed or repeated across a reconnect. Filters:
//! `?channel=webchat,whatsapp` and `?type=message.received,action.invoked`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use omnibridge_sdk::Envelope;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{ApiCaller, AppState};
use crate::bus::{EventLog, Seq};
use crate::web::problem::ApiError;

/// Events read from the bus per query.
const READ_BATCH: usize = 256;
/// How often to look at the bus when no wake-up came (appends by other instances).
const POLL: Duration = Duration::from_millis(500);

/// Query of the event stream.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// Comma-separated channel kinds to include (default: all).
    pub channel: Option<String>,
    /// Comma-separated event types to include (default: all).
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Start after this seq (the `Last-Event-ID` header wins when both are given).
    pub after: Option<u64>,
}

/// Which events a stream forwards.
#[derive(Clone, Debug, Default)]
struct Filter {
    channels: Option<Vec<String>>,
    types: Option<Vec<String>>,
}

impl Filter {
    fn from_query(query: &StreamQuery) -> Self {
        let list = |value: &Option<String>| {
            value.as_ref().map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
        };
        Self {
            channels: list(&query.channel),
            types: list(&query.event_type),
        }
    }

    fn matches(&self, envelope: &Envelope) -> bool {
        let channel_ok = self
            .channels
            .as_ref()
            .is_none_or(|c| c.iter().any(|c| c == envelope.channel.as_str()));
        let type_ok = self
            .types
            .as_ref()
            .is_none_or(|t| t.iter().any(|t| t == envelope.event_type()));
        channel_ok && type_ok
    }
}

/// Streams the bus.
#[utoipa::path(get, path = "/v1/events", params(StreamQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq")),
    responses((status = 200, description = "text/event-stream of envelopes; `id` is the seq, `event` the type")),
    security(("api_key" = ["messages"])))]
pub async fn events(
    _caller: ApiCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = match headers.get("last-event-id") {
        Some(value) => parse_last_event_id(value.as_bytes()).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_last_event_id",
                "Last-Event-ID must be a seq number",
            )
        })?,
        None => query.after.unwrap_or(0),
    };
    let cursor = Cursor {
        bus: state.bus.clone(),
        head: state.bus.watch_head(),
        after,
        buffer: VecDeque::new(),
        filter: Filter::from_query(&query),
        stop: state.shutdown.clone(),
        caught_up: false,
    };
    let stream = futures_util::stream::unfold(cursor, |mut cursor| async move {
        cursor.next_event().await.map(|event| (Ok(event), cursor))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// A reader's position on the bus.
struct Cursor {
    bus: std::sync::Arc<dyn EventLog>,
    head: watch::Receiver<Seq>,
    after: Seq,
    buffer: VecDeque<Envelope>,
    filter: Filter,
    stop: CancellationToken,
    /// The last read reached the end of the log; read again only once the head moves past
    /// `after` or the poll fires.
    caught_up: bool,
}

impl Cursor {
    /// The next matching event as SSE, waiting for it; `None` ends the stream (shutdown).
    ///
    /// A read that returns less than a full batch reached the end of the log, so the cursor
    /// waits for the head to move past it (or the poll, for other instances' appends) instead
    /// of confirming with a second, empty read: one read per wake-up, not two.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(envelope) = self.buffer.pop_front() {
                return Some(to_sse(&envelope));
            }
            if !self.caught_up {
                // Seen before the read: a move during the read wakes the wait below.
                self.head.borrow_and_update();
                match self.bus.read_after(self.after, READ_BATCH).await {
                    Ok(batch) => {
                        self.caught_up = batch.len() < READ_BATCH;
                        if let Some(seq) = batch.last().and_then(|e| e.seq) {
                            self.after = seq;
                        }
                        self.buffer
                            .extend(batch.into_iter().filter(|e| self.filter.matches(e)));
                        continue;
                    }
                    Err(error) => tracing::warn!(%error, "SSE read failed; retrying."),
                }
            }
            tokio::select! {
                () = self.stop.cancelled() => return None,
                () = crate::bus::head_moved(&mut self.head) => {
                    // A move this cursor already read past (during its last read) needs no read.
                    if *self.head.borrow_and_update() > self.after {
                        self.caught_up = false;
                    }
                }
                () = tokio::time::sleep(POLL) => self.caught_up = false,
            }
        }
    }
}

/// The seq a `Last-Event-ID` header value names (ASCII digits, surrounding whitespace
/// allowed); `None` for anything else.
pub fn parse_last_event_id(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value)
        .ok()?
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .parse::<u64>()
        .ok()
}

fn to_sse(envelope: &Envelope) -> Event {
    let event = Event::default().event(envelope.event_type());
    let event = match envelope.seq {
        Some(seq) => event.id(seq.to_string()),
        None => event,
    };
    match serde_json::to_string(envelope) {
        Ok(json) => event.data(json),
        Err(error) => event.comment(format!("unencodable event: {error}")),
    }
}
