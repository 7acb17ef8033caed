//! The email channel of omnibridge: IMAP (IDLE, polling fallback) and a signed raw-MIME
//! webhook in, SMTP out, threading by Message-ID / References / plus-address / subject token,
//! payment confirmation by reply guarded by a sender check.
//!
//! # Layout
//! - [`config`]: [`EmailConfig`] (the `[[channels]]` table) and [`EmailSecrets`].
//! - [`channel`]: [`EmailChannel`], the [`omnibridge_sdk::Channel`] implementation.
//! - [`inbound`]: one raw mail → canonical events (thread, strip, classify, confirm check).
//! - [`outbound`]: one outbound message → one mail in the customer's thread.
//! - [`text_html`]: the HTML part of a mail whose message has only text; pure.
//! - [`threading`]: thread tokens, plus-addresses, subjects, the Message-ID map.
//! - [`webhook`]: the raw-MIME webhook's signature (`X-Omnibridge-Signature`).
//! - [`listen`]: the IMAP follower's cursor and sink on the bridge's side.
//! - [`parse`]: one RFC 5322 message → [`parse::ParsedMail`]; pure.
//! - [`quote`]: quoted-reply and signature stripping; pure.
//! - [`smtp`]: outbound mail with lettre, SMTP replies mapped to transient / permanent.
//! - [`imap`]: the mailbox follower (async-imap): cursor, backfill, IDLE or polling.
//! - [`state_buffer`]: thread-map writes of a batch of mails flushed in one durable write.
//! - [`sender_check`]: DKIM / Authentication-Results check of a reply's sender.
#![forbid(unsafe_code)]

pub mod channel;
pub mod config;
pub mod factory;
pub mod imap;
pub mod inbound;
pub mod listen;
pub mod outbound;
pub mod parse;
pub mod quote;
pub mod sender_check;
pub mod smtp;
pub mod state_buffer;
pub mod text_html;
pub mod threading;
pub mod webhook;

pub use channel::{EmailChannel, KIND, capabilities};
pub use config::{ConfigError, EmailConfig, EmailSecrets};
pub use factory::EmailFactory;
