//! End-to-end tests: the whole bridge on a random port with a temp store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub,
    dead_code
)]

#[path = "../support/mod.rs"]
mod support;

mod anywhere;
mod api;
mod browser;
mod browser_pay;
mod cli;
mod cluster;
mod crash;
mod docs_config;
mod email;
mod helpers;
mod http_channel;
mod inbound;
mod links;
mod logs;
mod mcp;
mod outbound;
mod payments;
mod process;
mod s3_media;
mod scopes;
mod sse;
mod studio;
mod telegram;
mod templates_api;
mod test_channel;
mod visitor;
mod webchat;
mod webhooks_out;
mod whatsapp;
