//! The web-chat channel of omnibridge: the WebSocket frame protocol, visitor sessions and
//! their signed tokens, the origin allow-list, the session hub and the embeddable widget.
//!
//! The bridge hosts the WebSocket route (this crate has no web framework); the route uses
//! these pieces in order: [`OriginPolicy::check`] on the upgrade, [`SessionTokens::verify`] on
//! a presented token (else [`SessionTokens::issue`]), [`SessionHub::attach`], a
//! [`ServerFrame::Welcome`], then [`parse_client_frame`] and
//! [`WebChatChannel::normalize_frame`] for every text frame. See the README.
//!
//! # Layout
//! - [`frames`]: client and server frames, parsing with limits.
//! - [`session`]: session ids and HMAC-signed session tokens.
//! - [`origin`]: the `Origin` allow-list.
//! - [`hub`]: live connections per session, and publishing to them.
//! - [`channel`]: [`WebChatChannel`], the [`omnibridge_sdk::Channel`] implementation.
//! - [`WIDGET_JS`], [`DEMO_HTML`]: the widget and the demo page, embedded.
#![forbid(unsafe_code)]

pub mod channel;
pub mod frames;
pub mod hub;
pub mod origin;
pub mod session;

pub use channel::{KIND, WebChatChannel, WebChatConfig};
pub use frames::{
    ClientFrame, FrameButton, MAX_FRAME_BYTES, MessageFrame, ServerFrame, parse_client_frame,
};
pub use hub::{ConnectionId, SessionHub};
pub use origin::{InvalidOrigin, OriginPolicy};
pub use session::{SessionId, SessionTokens, WeakSecret};

/// The embeddable widget, served by the bridge at `/webchat/widget.js`
/// (`application/javascript`).
pub const WIDGET_JS: &str = include_str!("../assets/widget.js");

/// The demo page, served by the bridge at `/` (`text/html`).
pub const DEMO_HTML: &str = include_str!("../assets/demo.html");
