//! The email channel of omnibridge: IMAP (IDLE, polling fallback) and a signed raw-MIME
//! webhook in, SMTP out, threading by Message-ID / References / plus-address / subject token.
//!
//! # Layout
//! - [`parse`]: one RFC 5322 message → [`parse::ParsedMail`] (headers, bodies, attachments,
//!   auto-reply and bounce classification); pure.
//! - [`quote`]: quoted-reply and signature stripping; pure.
//! - [`smtp`]: outbound mail with lettre (multipart/alternative, threading headers, pooled
//!   SMTP with implicit TLS or STARTTLS), SMTP replies mapped to transient / permanent.
//! - [`imap`]: the mailbox follower (async-imap): cursor (UIDVALIDITY + last UID), backfill,
//!   IDLE or polling, reconnect with backoff, `\Seen` or move.
//! - [`sender_check`]: is an inbound mail's sender authenticated (own DKIM + DMARC check with
//!   mail-auth, or our MTA's `Authentication-Results`)? Gates payment confirmation by reply.
#![forbid(unsafe_code)]

pub mod imap;
pub mod parse;
pub mod quote;
pub mod sender_check;
pub mod smtp;
