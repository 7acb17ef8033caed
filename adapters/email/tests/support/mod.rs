//! Shared test helpers (each test binary uses some of them).
#![allow(dead_code, unreachable_pub)]

pub mod memory_state;
