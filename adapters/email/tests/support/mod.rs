//! Helpers shared by test binaries (`mod support;`); each binary uses some of them.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod dns;
pub mod dovecot;
pub mod memory_state;
pub(crate) mod smtp_server;
