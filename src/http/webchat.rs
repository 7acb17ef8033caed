//! The web chat, hosted by the bridge: the demo page at `/`, the widget script, and the
//! WebSocket at `/webchat/ws`.
//!
//! The socket is driven by the bus, not by a push hub: after the welcome frame it replays the
//! conversation's `message.sent` events after the widget's `after` seq, then follows the bus
//! live, so a reconnecting visitor gets exactly what they missed and nothing falls between a
//! send and a reconnect. A frame written to the socket is reported as a `delivered`
//! delivery event. Visitor frames are appended durably before their `ack`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRef, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use omnibridge_sdk::{
    ChannelContext, ChannelKind, ConversationId, Delivery, DeliveryStatus, Envelope, EventBody,
    InboundEvent,
};
use omnibridge_webchat::{
    ClientFrame, FrameButton, MessageFrame, OriginPolicy, ServerFrame, SessionId, WebChatChannel,
    parse_client_frame,
};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};
use tracing::Instrument;

use tokio_util::sync::CancellationToken;

use crate::bus::EventLog;
use crate::channels::{ChannelFactories, ChannelRegistry};
use crate::config::{ChannelSettings, Settings};
use crate::ingest::{AppendNotice, Ingest, conversation_id};
use crate::startup::StartupError;
use crate::web::problem::ApiError;

/// The channel id the web chat is registered under.
pub const CHANNEL_ID: &str = "webchat";
/// Env var holding the session-token secret (at least 32 bytes); without it a random secret
/// is generated once and kept in `<data_dir>/webchat.secret`.
pub const SECRET_ENV: &str = "OMNIBRIDGE_WEBCHAT_SECRET";
/// Events read from the bus per replay query.
const REPLAY_BATCH: usize = 128;
/// How often a socket looks for messages appended by other bridge instances.
const FOLLOW_POLL: Duration = Duration::from_secs(1);

/// What the web-chat routes need.
#[derive(Clone)]
pub struct WebChatState {
    channel: Arc<WebChatChannel>,
    origins: Arc<OriginPolicy>,
    kind: ChannelKind,
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
        let (mut sink, mut stream) = socket.split();
        let (out, mut outgoing) = mpsc::channel::<ServerFrame>(64);
        let welcome = ServerFrame::Welcome {
            session: session.clone(),
            token,
            conversation_id: Some(conv_id.to_string()),
        };
        if out.send(welcome).await.is_err() {
            return;
        }
        let writer = tokio::spawn(async move {
            while let Some(frame) = outgoing.recv().await {
                if sink
                    .send(Message::Text(frame.to_json().into()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        let follower = tokio::spawn(follow(
            state.clone(),
            web.clone(),
            conv_id.clone(),
            after,
            out.clone(),
        ));
        tracing::debug!("Visitor connected.");
        loop {
            let message = tokio::select! {
                () = state.shutdown.cancelled() => break,
                message = stream.next() => message,
            };
            let Some(Ok(message)) = message else { break };
            let text = match message {
                Message::Text(text) => text,
                Message::Close(_) => break,
                _ => continue,
            };
            let reply = handle_frame(&state, &web, &session, text.as_str()).await;
            if let Some(frame) = reply
                && out.send(frame).await.is_err()
            {
                break;
            }
        }
        follower.abort();
        drop(out);
        let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
        tracing::debug!("Visitor disconnected.");
    }
    .instrument(span)
    .await;
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

/// Replays and then follows the conversation's sent messages onto the socket. It wakes when
/// this instance appends to the conversation, and polls for other instances' appends.
async fn follow(
    state: WebChatContext,
    web: WebChatState,
    conv_id: ConversationId,
    mut after: u64,
    out: mpsc::Sender<ServerFrame>,
) {
    let mut notices = state.ingest.subscribe();
    loop {
        match state
            .bus
            .read_conversation(&conv_id, after, REPLAY_BATCH)
            .await
        {
            Ok(events) if !events.is_empty() => {
                for event in events {
                    after = event.seq.unwrap_or(after);
                    if let Some((frame, outbound)) = message_frame(&event) {
                        if out.send(ServerFrame::Message(frame)).await.is_err() {
                            return;
                        }
                        report_delivered(&state, &web, &event, outbound).await;
                    }
                }
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "Web-chat replay read failed; retrying."),
        }
        if !next_wake(&state, &mut notices, &conv_id, after).await {
            return;
        }
    }
}

/// Waits until something may have been sent to `conv_id` after `after`: a `message.sent`
/// notice for it, a lagged notice stream, or the poll interval. `false` on shutdown.
async fn next_wake(
    state: &WebChatContext,
    notices: &mut broadcast::Receiver<AppendNotice>,
    conv_id: &ConversationId,
    after: u64,
) -> bool {
    let poll = tokio::time::sleep(FOLLOW_POLL);
    tokio::pin!(poll);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return false,
            () = &mut poll => return true,
            notice = notices.recv() => match notice {
                Ok(notice) => {
                    if notice.conversation_id == *conv_id
                        && notice.seq > after
                        && notice.event_type == "message.sent"
                    {
                        return true;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return true,
                Err(broadcast::error::RecvError::Closed) => return false,
            },
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
