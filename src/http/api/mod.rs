//! Business API v1: conversations, their history, sending messages, stored media, and
//! payment intents.

mod compose;
pub mod conversations;
pub mod media;
pub mod messages;
pub mod payments;

use serde::Deserialize;

/// Page size bounds shared by list endpoints.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// Largest page a client may ask for.
pub(crate) const MAX_LIMIT: usize = 500;

/// `?limit=` for list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LimitQuery {
    /// Items per page (1–500, default 50).
    pub limit: Option<usize>,
}

pub(crate) fn clamp_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}
