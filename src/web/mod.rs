//! Request and answer helpers shared by every HTTP handler, whichever module owns it (the
//! business API in `http`, the payment endpoints in `payments`): problem+json answers, body
//! and header parsing, paging, API-key authentication. A leaf: it imports neither `http` nor
//! `payments`, so both can depend on it (`tests/architecture.rs` checks).

pub mod auth;
pub mod extract;
pub mod paging;
pub mod problem;
