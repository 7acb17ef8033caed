//! Business API v1: conversations, their history, sending messages and stored media (the
//! payment-intent API is in [`crate::payments::api`]).

mod compose;
pub mod conversations;
pub mod media;
pub mod messages;
pub mod templates;

pub use crate::web::paging::LimitQuery;
pub(crate) use crate::web::paging::clamp_limit;
