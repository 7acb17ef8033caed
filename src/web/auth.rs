//! Bearer API-key authentication for the business API.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use crate::config::ApiKeys;
use crate::web::problem::ApiError;

/// Checks a presented API key; returns the key's configured name when it is valid.
pub trait Authenticator: Send + Sync + 'static {
    /// The name of the key `presented`, or `None` when it is not a valid key.
    fn authenticate(&self, presented: &str) -> Option<String>;
}

impl Authenticator for ApiKeys {
    fn authenticate(&self, presented: &str) -> Option<String> {
        self.verify(presented).map(str::to_owned)
    }
}

/// The caller of a business API request, proven by its API key. Extracted from any router
/// state that hands out the [`Authenticator`] (`Arc<dyn Authenticator>: FromRef<S>`).
#[derive(Clone, Debug)]
pub struct ApiCaller {
    /// The configured name of the key used (scopes idempotency keys).
    pub key_name: String,
}

impl<S> FromRequestParts<S> for ApiCaller
where
    Arc<dyn Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <api key>"))?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
        let key = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("use the Bearer scheme: Authorization: Bearer <api key>")
            })?;
        let key_name = Arc::<dyn Authenticator>::from_ref(state)
            .authenticate(key.trim())
            .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
        Ok(Self { key_name })
    }
}
