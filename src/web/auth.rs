//! Bearer API-key authentication for the business API, and the scopes a route requires.
//!
//! Every business API handler takes an [`ApiCaller`]: the caller proven by its API key, with
//! the key's [`Scopes`]. A missing or unknown key is answered 401 `unauthorized`; a known key
//! without the scope an operation needs is answered 403 `insufficient_scope`.
//!
//! Two ways to require a scope:
//! - for a group of routes, [`require_scope`] wraps a router: every route in it authenticates
//!   and checks the scope before any other extractor runs (so a caller without the scope learns
//!   nothing from validation errors), and its handlers' [`ApiCaller`] reuses that check;
//! - inside a handler, [`ApiCaller::require`] (`caller.require(Scope::Payments)?`), for an
//!   operation that needs a scope only in some cases.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::{ApiKeys, Guardrails, SpendGuard};
pub use crate::config::{Scope, Scopes};
use crate::web::problem::ApiError;

/// The problem code of a 403 for a key lacking the scope an operation needs.
pub const INSUFFICIENT_SCOPE: &str = "insufficient_scope";

/// Checks a presented API key; returns the caller it proves when it is valid.
pub trait Authenticator: Send + Sync + 'static {
    /// The caller (key name and scopes) holding `presented`, or `None` when it is not a valid
    /// key.
    fn authenticate(&self, presented: &str) -> Option<ApiCaller>;
}

impl Authenticator for ApiKeys {
    fn authenticate(&self, presented: &str) -> Option<ApiCaller> {
        self.verify(presented).map(|key| ApiCaller {
            key_name: key.name.clone(),
            scopes: key.scopes,
            guardrails: key.guardrails.clone().map(Arc::new),
        })
    }
}

/// The caller of a business API request, proven by its API key. Extracted from any router
/// state that hands out the [`Authenticator`] (`Arc<dyn Authenticator>: FromRef<S>`), or
/// taken from the request when a [`require_scope`] gate already authenticated it.
#[derive(Clone, Debug)]
pub struct ApiCaller {
    /// The configured name of the key used (scopes idempotency keys).
    pub key_name: String,
    /// What the key may do.
    pub scopes: Scopes,
    /// The key's limits on money (`[api.keys.guardrails]`); `None` = no limits.
    pub guardrails: Option<Arc<Guardrails>>,
}

impl ApiCaller {
    /// Authenticates the `Authorization: Bearer <key>` of `headers`; 401 when it is missing,
    /// malformed or unknown.
    pub fn from_headers(headers: &HeaderMap, auth: &dyn Authenticator) -> Result<Self, ApiError> {
        let header = headers
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
        auth.authenticate(key.trim())
            .ok_or_else(|| ApiError::unauthorized("unknown API key"))
    }

    /// What the payment engine checks this caller's intents and refunds against; `None` for
    /// a key without guardrails.
    pub fn spend_guard(&self) -> Option<SpendGuard> {
        self.guardrails.as_ref().map(|guardrails| SpendGuard {
            key_name: self.key_name.clone(),
            guardrails: guardrails.clone(),
        })
    }

    /// True if the key has `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// `Ok` if the key has `scope`, else 403 `insufficient_scope` naming it.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                INSUFFICIENT_SCOPE,
                format!(
                    "this operation needs the `{scope}` scope, which this API key lacks (it has: {})",
                    self.scopes
                ),
            ))
        }
    }
}

impl<S> FromRequestParts<S> for ApiCaller
where
    Arc<dyn Authenticator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(caller) = parts.extensions.get::<ApiCaller>() {
            return Ok(caller.clone());
        }
        let auth = Arc::<dyn Authenticator>::from_ref(state);
        ApiCaller::from_headers(&parts.headers, auth.as_ref())
    }
}

/// Requires `scope` on every route of `router`: a request is authenticated with `auth` (401
/// without a valid key) and refused 403 `insufficient_scope` when its key lacks `scope`,
/// before the handler or any of its extractors run. Routes merged into the result later are
/// not covered (it is a route layer), nor is the fallback.
pub fn require_scope<S>(router: Router<S>, auth: Arc<dyn Authenticator>, scope: Scope) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.route_layer(axum::middleware::from_fn_with_state(
        ScopeGate { auth, scope },
        gate,
    ))
}

/// The state of a [`require_scope`] layer.
#[derive(Clone)]
struct ScopeGate {
    auth: Arc<dyn Authenticator>,
    scope: Scope,
}

async fn gate(State(gate): State<ScopeGate>, mut request: Request, next: Next) -> Response {
    let caller = match ApiCaller::from_headers(request.headers(), gate.auth.as_ref()) {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    if let Err(refused) = caller.require(gate.scope) {
        return refused.into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::config::{ApiKeyHash, Sha256Hex};

    fn keys() -> Arc<dyn Authenticator> {
        let key = |name: &str, scopes: Scopes| ApiKeyHash {
            name: name.into(),
            sha256: Sha256Hex::of(name.as_bytes()),
            scopes,
            guardrails: None,
        };
        Arc::new(ApiKeys::new(
            &[
                key("pay", Scope::Payments.into()),
                key("all", Scopes::all()),
            ],
            &[],
        ))
    }

    async fn call(router: &Router, key: Option<&str>) -> (StatusCode, String) {
        let mut request = Request::get("/x");
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// The gate answers 401 and 403 itself and hands the handler the caller it checked.
    #[tokio::test]
    async fn the_gate_refuses_and_hands_over_the_caller() {
        let auth = keys();
        let inner: Router<Arc<dyn Authenticator>> = Router::new().route(
            "/x",
            get(|caller: ApiCaller| async move { caller.key_name }),
        );
        let router = require_scope(inner, auth.clone(), Scope::Messages).with_state(auth);

        let (status, body) = call(&router, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let (status, _) = call(&router, Some("nope")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = call(&router, Some("pay")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("\"code\":\"insufficient_scope\""), "{body}");
        assert!(body.contains("needs the `messages` scope"), "{body}");
        assert!(body.contains("it has: payments"), "{body}");
        assert_eq!(
            call(&router, Some("all")).await,
            (StatusCode::OK, "all".into())
        );
    }

    #[test]
    fn require_names_the_missing_scope() {
        let caller = ApiCaller {
            key_name: "k".into(),
            scopes: [Scope::Messages, Scope::Admin].into_iter().collect(),
            guardrails: None,
        };
        assert!(caller.spend_guard().is_none());
        assert!(caller.require(Scope::Messages).is_ok());
        let refused = caller.require(Scope::Templates).unwrap_err();
        assert_eq!(
            (refused.status, refused.code),
            (StatusCode::FORBIDDEN, INSUFFICIENT_SCOPE)
        );
        assert!(refused.detail.contains("`templates`"), "{}", refused.detail);
    }
}
