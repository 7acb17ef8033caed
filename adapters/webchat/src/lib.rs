//! The web-chat channel of omnibridge: the WebSocket frame protocol, visitor sessions and
//! their signed tokens, the origin allow-list and the embeddable widget.
//!
//! The bridge hosts the WebSocket route (this crate has no web framework) and uses these
//! pieces: on the upgrade, [`OriginPolicy::check`] for origins other than the bridge's own;
//! [`SessionTokens::verify`] on a presented token, where a token that does not verify
//! (tampered or expired) starts a fresh session through [`SessionTokens::issue`] instead of
//! failing; a [`ServerFrame::Welcome`] with a fresh token and the conversation id; then
//! [`parse_client_frame`] and [`WebChatChannel::normalize_frame`] for every text frame, with an
//! `ack` only after the durable append. Business messages reach the socket from the bridge's
//! bus (replay after the widget's `after` seq, then live, each [`MessageFrame`] with its bus
//! `seq`), and the bridge records `delivered` when it writes a frame; [`WebChatChannel`]'s
//! `send` only validates and reports `sent`. See the README.
//!
//! # Layout
//! - [`frames`]: client and server frames, parsing with limits.
//! - [`session`]: session ids and HMAC-signed session tokens.
//! - [`origin`]: the `Origin` allow-list.
//! - [`channel`]: [`WebChatChannel`], the [`omnibridge_sdk::Channel`] implementation.
//! - [`WIDGET_JS`], [`DEMO_HTML`]: the widget and the demo page, embedded.
#![forbid(unsafe_code)]

pub mod channel;
pub mod factory;
pub mod frames;
pub mod origin;
pub mod session;

pub use channel::{KIND, WebChatChannel, WebChatConfig, capabilities};
pub use factory::{WebChatFactory, WebChatTable};
pub use frames::{
    ClientFrame, FrameButton, MAX_FRAME_BYTES, MessageFrame, ServerFrame, parse_client_frame,
};
pub use origin::{InvalidOrigin, OriginPolicy};
pub use session::{SessionId, SessionTokens, WeakSecret};

/// The embeddable widget, served by the bridge at `/webchat/widget.js`
/// (`text/javascript; charset=utf-8`).
pub const WIDGET_JS: &str = include_str!("../assets/widget.js");

/// The demo page, served by the bridge at `/` (`text/html`).
pub const DEMO_HTML: &str = include_str!("../assets/demo.html");
