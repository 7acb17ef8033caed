//! The web chat, hosted by the bridge: the demo page at `/`, the widget script, and the
//! WebSocket at `/webchat/ws`.
//!
//! The socket is driven by the bus: after the welcome frame it replays the conversation's
//! `message.sent` events after the widget's `after` seq, then reads the conversation again each
//! time the [`hub`] wakes it, so a reconnecting visitor gets exactly what they missed and
//! nothing falls between a send and a reconnect. The hub is the one reader of append notices
//! (and of other instances' appends) and wakes only the sockets of the conversation a message
//! was sent to. A frame written to the socket is reported as a `delivered` delivery event.
//! Visitor frames are appended durably before their `ack`. Each socket is one task with small
//! buffers, so idle visitors cost little.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRef, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use omnibridge_sdk::{
    ChannelContext, ChannelKind, ConversationId, Delivery, DeliveryStatus, Envelope, EventBody,
    InboundEvent,
};
use omnibridge_webchat::{
    ClientFrame, FrameButton, MessageFrame, OriginPolicy, ServerFrame, SessionId, WebChatChannel,
    parse_client_frame,
};
use serde::Deserialize;
use tokio::time::Instant;
use tracing::Instrument;

use tokio_util::sync::CancellationToken;

use crate::bus::EventLog;
use crate::channels::{ChannelFactories, ChannelRegistry};
use crate::config::{ChannelSettings, Settings};
use crate::ingest::{Ingest, conversation_id};
use crate::startup::StartupError;
use crate::web::problem::ApiError;

/// The channel id the web chat is registered under.
pub const CHANNEL_ID: &str = "webchat";
/// Env var holding the session-token secret (at least 32 bytes); without it a random secret
/// is generated once and kept in `<data_dir>/webchat.secret`.
pub const SECRET_ENV: &str = "OMNIBRIDGE_WEBCHAT_SECRET";
/// Events read from the bus per replay query.
const REPLAY_BATCH: usize = 128;
/// How often the hub reads the log even though the bus head did not move (a fallback: other
/// instances' appends move the head watch).
const FOLLOW_POLL: Duration = Duration::from_secs(1);
/// How long a socket waits before reading again after a failed replay read.
const REPLAY_RETRY: Duration = Duration::from_secs(1);
/// The socket's read buffer: visitor frames are small (a larger one still fits, the buffer
/// grows for it). tungstenite's default (128 KiB, zero-filled on first read) was most of an
/// idle socket's memory.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Frames are written as they are sent (no write-side batching buffer). The write buffer has
/// no cap: a socket awaits each frame's write before the next, so it holds one frame at most.
const WRITE_BUFFER_BYTES: usize = 0;

pub mod hub;

/// What the web-chat routes need.
#[derive(Clone)]
pub struct WebChatState {
    channel: Arc<WebChatChannel>,
    origins: Arc<OriginPolicy>,
    kind: ChannelKind,
    hub: hub::Hub,
}

impl WebChatState {
    /// The sockets' fan-out hub (tests and metrics count its registrations).
    pub fn hub(&self) -> &hub::Hub {
        &self.hub
    }

    /// The hub's one task, to spawn with the bridge's workers: it wakes sockets from this
    /// instance's append notices (subscribed now, before the server serves) and polls `bus`
    /// for other instances' appends, until `shutdown`.
    pub fn hub_task(
        &self,
        ingest: &Ingest,
        bus: Arc<dyn EventLog>,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.hub
            .clone()
            .run(ingest.subscribe(), bus, FOLLOW_POLL, shutdown)
    }
}

/// What the web-chat handlers need, taken out of the server's state with [`FromRef`].
#[derive(Clone)]
pub struct WebChatContext {
    /// The web chat, when enabled.
    pub web: Option<WebChatState>,
    /// The event log (replays a conversation's sent messages).
    pub bus: Arc<dyn EventLog>,
    /// The path onto the bus (visitor frames, delivery reports, append notices).
    pub ingest: Ingest,
    /// Cancelled when the bridge shuts down (ends the sockets).
    pub shutdown: CancellationToken,
}

/// Builds the web chat of the `[webchat]` section through its channel factory (like every
/// channel) and registers it as [`CHANNEL_ID`]. `cx` carries its secrets and state.
pub fn build(
    settings: &Settings,
    factories: &ChannelFactories,
    cx: &ChannelContext,
    channels: &mut ChannelRegistry,
) -> Result<WebChatState, StartupError> {
    let fail = |reason: String| StartupError::Channel {
        id: CHANNEL_ID.into(),
        reason,
    };
    let entry = section_as_channel(settings);
    let built = factories.build(&entry, cx).map_err(fail)?;
    let any: Arc<dyn std::any::Any + Send + Sync> = built.clone();
    let channel = any.downcast::<WebChatChannel>().map_err(|_| {
        fail("the webchat factory built something other than the hosted web chat".into())
    })?;
    channels.register(CHANNEL_ID, built).map_err(fail)?;
    let kind = omnibridge_sdk::Channel::kind(channel.as_ref());
    Ok(WebChatState {
        origins: Arc::new(channel.origins().clone()),
        channel,
        kind,
        hub: hub::Hub::new(),
    })
}

/// The `[webchat]` section as the `[[channels]]` table the web chat's factory takes.
fn section_as_channel(settings: &Settings) -> ChannelSettings {
    let web = &settings.webchat;
    let table = serde_json::json!({
        "account": web.account,
        "session_ttl_secs": web.session_ttl_secs,
        "allowed_origins": web.allowed_origins,
        "secret_env": SECRET_ENV,
        "secret_file": settings.storage.data_dir.join("webchat.secret"),
    });
    let rest = match table {
        serde_json::Value::Object(rest) => rest,
        _ => serde_json::Map::new(),
    };
    ChannelSettings::new(CHANNEL_ID, omnibridge_webchat::KIND, rest)
}

/// Refuses a web chat configured as a `[[channels]]` table: its socket is the bridge's own
/// and serves the `[webchat]` one only.
pub fn refuse_unhosted(channels: &ChannelRegistry) -> Result<(), StartupError> {
    for handle in channels.iter() {
        let any: Arc<dyn std::any::Any + Send + Sync> = handle.channel.clone();
        if handle.id != CHANNEL_ID && any.downcast::<WebChatChannel>().is_ok() {
            return Err(StartupError::Channel {
                id: handle.id.clone(),
                reason: "the web chat is configured in the [webchat] section, not as [[channels]]"
                    .into(),
            });
        }
    }
    Ok(())
}

/// The web-chat routes, for any server state that hands out a [`WebChatContext`].
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    WebChatContext: FromRef<S>,
{
    Router::new()
        .route("/", get(demo))
        .route("/webchat/widget.js", get(widget))
        .route("/webchat/ws", get(connect))
}

async fn demo() -> Html<&'static str> {
    Html(omnibridge_webchat::DEMO_HTML)
}

async fn widget() -> Response {
    let mut response = omnibridge_webchat::WIDGET_JS.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    response
}

/// Query of the socket: the stored token and the highest seq the widget has seen.
#[derive(Debug, Deserialize)]
struct ConnectQuery {
    token: Option<String>,
    after: Option<u64>,
}

async fn connect(
    State(state): State<WebChatContext>,
    headers: HeaderMap,
    Query(query): Query<ConnectQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let web = state
        .web
        .clone()
        .ok_or_else(|| ApiError::not_found("not_found", "web chat is disabled"))?;
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !same_origin(origin, &headers) && web.origins.check(origin).is_err() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this page's origin is not in webchat.allowed_origins",
        ));
    }
    let now = chrono::Utc::now();
    let tokens = web.channel.tokens();
    let session = query
        .token
        .as_deref()
        .and_then(|token| tokens.verify(token, now).ok());
    let (session, token) = match session {
        Some(session) => {
            let token = tokens.issue_for(&session, now);
            (session, token)
        }
        None => tokens.issue(now),
    };
    let after = query.after.unwrap_or(0);
    Ok(upgrade
        .max_message_size(omnibridge_webchat::MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| serve(socket, state, web, session, token, after)))
}

/// The page is served by the bridge itself when its Origin is this Host.
fn same_origin(origin: Option<&str>, headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => {
            origin.eq_ignore_ascii_case(&format!("http://{host}"))
                || origin.eq_ignore_ascii_case(&format!("https://{host}"))
        }
        _ => false,
    }
}

async fn serve(
    socket: WebSocket,
    state: WebChatContext,
    web: WebChatState,
    session: SessionId,
    token: String,
    after: u64,
) {
    let conversation = web.channel.conversation(&session);
    let conv_id = conversation_id(&web.kind, &conversation);
    let span = tracing::info_span!("webchat", channel = %web.kind, conversation_id = %conv_id);
    async move {
        let mut visitor = Visitor {
            socket,
            state: &state,
            web: &web,
            conv_id: &conv_id,
            after,
        };
        // Registered before the replay read, so a message sent meanwhile wakes it again.
        let mut waiter = web.hub.register(&conv_id);
        let welcome = ServerFrame::Welcome {
            session: session.clone(),
            token,
            conversation_id: Some(conv_id.to_string()),
        };
        if visitor.send(welcome).await.is_err() {
            return;
        }
        tracing::debug!("Visitor connected.");
        let mut retry = match visitor.replay().await {
            Ok(()) => None,
            Err(Replay::Closed) => return,
            Err(Replay::Read) => Some(Instant::now() + REPLAY_RETRY),
        };
        loop {
            let wake = tokio::select! {
                () = state.shutdown.cancelled() => break,
                message = visitor.socket.recv() => Wake::Frame(message),
                () = waiter.woken() => Wake::Sent,
                () = sleep_until_some(retry) => Wake::Sent,
            };
            match wake {
                Wake::Sent => {
                    retry = match visitor.replay().await {
                        Ok(()) => None,
                        Err(Replay::Closed) => break,
                        Err(Replay::Read) => Some(Instant::now() + REPLAY_RETRY),
                    };
                }
                Wake::Frame(message) => {
                    let Some(Ok(message)) = message else { break };
                    let text = match message {
                        Message::Text(text) => text,
                        Message::Close(_) => break,
                        _ => continue,
                    };
                    let reply = handle_frame(&state, &web, &session, text.as_str()).await;
                    if let Some(frame) = reply
                        && visitor.send(frame).await.is_err()
                    {
                        break;
                    }
                }
            }
        }
        drop(waiter);
        tracing::debug!("Visitor disconnected.");
    }
    .instrument(span)
    .await;
}

/// What woke a socket's task.
enum Wake {
    /// A frame (or the end) from the visitor.
    Frame(Option<Result<Message, axum::Error>>),
    /// Something may have been sent to the conversation (or a failed read is due again).
    Sent,
}

/// Why a replay stopped.
enum Replay {
    /// The socket is gone (or the bridge is stopping).
    Closed,
    /// The bus could not be read; retried after [`REPLAY_RETRY`].
    Read,
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// One visitor's socket and the seq it has been sent up to.
struct Visitor<'a> {
    /// The socket (one task reads and writes it).
    socket: WebSocket,
    /// The bus, the ingest path and the shutdown signal.
    state: &'a WebChatContext,
    /// The web chat.
    web: &'a WebChatState,
    /// The conversation followed.
    conv_id: &'a ConversationId,
    /// The highest seq read from the conversation.
    after: u64,
}

impl Visitor<'_> {
    /// Writes one frame; `Err` when the socket is gone or the bridge stops meanwhile.
    async fn send(&mut self, frame: ServerFrame) -> Result<(), ()> {
        let message = Message::Text(frame.to_json().into());
        tokio::select! {
            () = self.state.shutdown.cancelled() => Err(()),
            sent = self.socket.send(message) => sent.map_err(|_| ()),
        }
    }

    /// Sends the conversation's messages after `after`, each reported as delivered.
    async fn replay(&mut self) -> Result<(), Replay> {
        loop {
            let events = match self
                .state
                .bus
                .read_conversation(self.conv_id, self.after, REPLAY_BATCH)
                .await
            {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, "Web-chat replay read failed; retrying.");
                    return Err(Replay::Read);
                }
            };
            if events.is_empty() {
                return Ok(());
            }
            for event in events {
                self.after = event.seq.unwrap_or(self.after);
                if let Some((frame, outbound)) = message_frame(&event) {
                    if self.send(ServerFrame::Message(frame)).await.is_err() {
                        return Err(Replay::Closed);
                    }
                    report_delivered(self.state, self.web, &event, outbound).await;
                }
            }
        }
    }
}

/// Handles one visitor frame; the answer is an `ack` only after the durable append.
async fn handle_frame(
    state: &WebChatContext,
    web: &WebChatState,
    session: &SessionId,
    text: &str,
) -> Option<ServerFrame> {
    let frame = match parse_client_frame(text) {
        Ok(frame) => frame,
        Err(error) => return Some(ServerFrame::from_error(&error)),
    };
    if matches!(frame, ClientFrame::Ping) {
        return Some(ServerFrame::Pong);
    }
    let client_msg_id = frame.client_msg_id().map(str::to_owned)?;
    let event = web.channel.normalize_frame(session, frame)?;
    match state
        .ingest
        .accept(CHANNEL_ID, &web.kind, vec![event])
        .await
    {
        Ok(_) => Some(ServerFrame::ack(client_msg_id)),
        Err(error) => {
            tracing::warn!(%error, "Could not store a visitor frame; the widget will resend it.");
            Some(ServerFrame::error(
                "unavailable",
                "the message could not be stored yet; retrying",
            ))
        }
    }
}

fn message_frame(event: &Envelope) -> Option<(MessageFrame, omnibridge_sdk::OutboundId)> {
    let EventBody::MessageSent(message) = &event.body else {
        return None;
    };
    let outbound = message.outbound_id.clone()?;
    let text = message.content.text_body().unwrap_or_default();
    let mut frame = MessageFrame::new(outbound.to_string(), text);
    frame.buttons = message
        .buttons
        .iter()
        .filter_map(FrameButton::from_button)
        .collect();
    Some((frame.with_seq(event.seq.unwrap_or_default()), outbound))
}

async fn report_delivered(
    state: &WebChatContext,
    web: &WebChatState,
    event: &Envelope,
    outbound: omnibridge_sdk::OutboundId,
) {
    let delivered = InboundEvent::delivery(
        event.conversation.clone(),
        Delivery::new(DeliveryStatus::Delivered).for_outbound(outbound.clone()),
    )
    .with_dedup_key(format!("delivery:{outbound}:Delivered"));
    if let Err(error) = state
        .ingest
        .accept(CHANNEL_ID, &web.kind, vec![delivered])
        .await
    {
        tracing::warn!(%error, "Could not record a web-chat delivery.");
    }
}
