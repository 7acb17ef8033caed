//! Helpers shared by test binaries (`mod support;`).
#![allow(dead_code)]

pub(crate) mod child_server;
pub(crate) mod haproxy;
pub(crate) mod moto_server;
pub(crate) mod postgres;
pub(crate) mod redis_server;
pub(crate) mod stripe_fake;
