//! Meta's JSON shapes, as documented for the WhatsApp Cloud API.
//!
//! - [`webhook`]: what Meta posts to us (messages, statuses, errors). Every field is optional
//!   so one odd message never sinks a batch.
//! - [`graph`]: what we post to `/{version}/{phone-number-id}/messages` and what comes back.
//! - [`number`]: byte counts Meta writes as a number or as a numeric string.

pub mod graph;
pub mod number;
pub mod webhook;
