//! Every parser fuzzed, on stable: property tests (proptest) that feed each parser of
//! untrusted input arbitrary bytes, arbitrary JSON/TOML and generated near-valid shapes, and
//! check that none panics or hangs (each case runs on a thread with a deadline), plus the
//! round trips the formats allow. `fuzz_corpus/<target>/*` holds the interesting inputs
//! found, replayed by `corpus::*`.
//!
//! Case counts keep the whole suite within a few seconds on two cores; raise them locally
//! with e.g. `FUZZ_CASES_FACTOR=20 cargo nextest run --test fuzz`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub,
    dead_code
)]

mod fuzz {
    pub mod config;
    pub mod corpus;
    pub mod email;
    pub mod headers;
    pub mod mpp;
    pub mod strategies;
    pub mod telegram;
    pub mod webchat;
    pub mod whatsapp;
}
