//! Helpers shared by test binaries (`mod support;`).
#![allow(dead_code)]

pub(crate) mod dns;
