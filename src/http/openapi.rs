//! `GET /v1/openapi.json`: the OpenAPI 3 document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api, stream};

/// The business API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "omnibridge business API", version = "1", description = "One API for every channel: conversations, history, sending, and the event stream. Errors are RFC 9457 problem+json with a stable `code`."),
    paths(
        api::conversations::list,
        api::conversations::get_one,
        api::conversations::events,
        api::messages::send,
        api::messages::outbound_status,
        api::media::get_one,
        crate::payments::api::create,
        crate::payments::api::get_one,
        crate::payments::api::list,
        crate::payments::api::cancel,
        crate::payments::api::refund,
        crate::payments::wallet::linked::put_source,
        stream::events,
    ),
    components(schemas(crate::web::problem::Problem, api::messages::SendMessage, api::messages::ButtonSpec, api::messages::Accepted, crate::payments::api::CreateIntent, crate::payments::api::RefundRequest, crate::payments::intent::PaymentIntent, crate::payments::intent::IntentState, crate::payments::wallet::SourceLink)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Serves the document.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
