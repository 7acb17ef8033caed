//! End-to-end tests: the whole bridge on a random port with a temp store.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod api;
mod helpers;
mod inbound;
mod outbound;
mod sse;
mod test_channel;
mod webhooks_out;
