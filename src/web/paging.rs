//! Paging of list endpoints: `?limit=` and its bounds.

use serde::Deserialize;

/// Default page size of list endpoints.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page a client may ask for.
pub const MAX_LIMIT: usize = 500;

/// `?limit=` for list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LimitQuery {
    /// Items per page (1–500, default 50).
    pub limit: Option<usize>,
}

/// The page size to use: `limit`, or the default, within the bounds.
pub fn clamp_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}
