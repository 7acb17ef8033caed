//! Helpers shared by the integration tests (each test file declares `mod support;`).
#![allow(dead_code, unreachable_pub)]

pub mod dovecot;
