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
        api::templates::list,
        api::templates::get_one,
        api::templates::create_version,
        api::templates::versions,
        api::templates::publish,
        api::templates::rollback,
        api::templates::test_send,
    ),
    components(schemas(crate::web::problem::Problem, api::messages::SendMessage, api::messages::ButtonSpec, api::messages::Accepted, crate::payments::api::CreateIntent, crate::payments::api::RefundRequest, crate::payments::intent::PaymentIntent, crate::payments::intent::IntentState, crate::payments::wallet::SourceLink, api::templates::TemplateSummary, api::templates::NewVersion, api::templates::VersionChoice, api::templates::TestSend, api::templates::LintProblem)),
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

#[cfg(test)]
mod tests {
    use super::ApiDoc;
    use utoipa::OpenApi;

    /// Every business API operation stays documented, wherever its handler lives (the payment
    /// routes come from `crate::payments`).
    #[test]
    fn the_document_lists_every_operation() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        let mut operations: Vec<String> = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(path, item)| {
                item.as_object()
                    .into_iter()
                    .flatten()
                    .map(move |(method, _)| format!("{method} {path}"))
            })
            .collect();
        operations.sort();
        let mut expected = vec![
            "get /v1/conversations",
            "get /v1/conversations/{id}",
            "get /v1/conversations/{id}/events",
            "post /v1/conversations/{id}/messages",
            "put /v1/customers/{channel}/{user_id}/payment-source",
            "get /v1/events",
            "get /v1/media/{id}",
            "get /v1/outbound/{id}",
            "get /v1/payment-intents",
            "post /v1/payment-intents",
            "get /v1/payment-intents/{id}",
            "post /v1/payment-intents/{id}/cancel",
            "post /v1/payment-intents/{id}/refund",
            "get /v1/templates",
            "get /v1/templates/{channel}/{locale}/{name}",
            "get /v1/templates/{channel}/{locale}/{name}/versions",
            "post /v1/templates/{channel}/{locale}/{name}/versions",
            "post /v1/templates/{channel}/{locale}/{name}/publish",
            "post /v1/templates/{channel}/{locale}/{name}/rollback",
            "post /v1/templates/{channel}/{locale}/{name}/test-send",
        ];
        expected.sort_unstable();
        assert_eq!(operations, expected);
    }
}
