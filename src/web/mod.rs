//! Request and answer helpers shared by every HTTP handler, whichever module owns it (the
//! business API in [`crate::http`], the payment endpoints in [`crate::payments`]): problem+json
//! answers, body and header parsing, API-key authentication. A leaf: it imports neither
//! `http` nor `payments`, so both can depend on it.

pub mod auth;
pub mod extract;
pub mod paging;
pub mod problem;
