//! `GET /v1/openapi.json`: the OpenAPI 3 document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
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
        crate::payments::api::approve,
        crate::payments::api::reject,
        crate::payments::wallet::linked::put_source,
        stream::events,
        api::templates::list,
        api::templates::get_one,
        api::templates::create_version,
        api::templates::versions,
        api::templates::publish,
        api::templates::rollback,
        api::templates::test_send,
        api::templates::preview,
    ),
    components(schemas(crate::web::problem::Problem, api::messages::SendMessage, api::messages::ButtonSpec, api::messages::Accepted, crate::payments::api::CreateIntent, crate::payments::api::RefundRequest, crate::payments::api::RejectRequest, crate::payments::intent::PaymentIntent, crate::payments::intent::IntentState, crate::payments::wallet::SourceLink, api::templates::TemplateSummary, api::templates::NewVersion, api::templates::VersionChoice, api::templates::TestSend, api::templates::PreviewBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// What the `api_key` security scheme says about keys and scopes.
const API_KEY_DESCRIPTION: &str = "An API key, sent as `Authorization: Bearer <key>`. A missing \
or unknown key is answered 401 `unauthorized`. Each key has scopes (`messages`, `payments`, \
`templates`, `admin`, `agent`; all of them unless its config lists some) and each operation \
needs one, named in its security requirement: conversations, messages, outbound, media and \
the event stream need `messages`; payment intents and payment sources need `payments`. A key \
without the scope an operation needs is answered 403 problem+json with code \
`insufficient_scope`, whose `detail` names the scope. No scope implies another.";

/// Declares the `api_key` bearer scheme, and a 403 `insufficient_scope` answer on every
/// operation whose security requirement names a scope.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(API_KEY_DESCRIPTION))
                    .build(),
            ),
        );
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_insufficient_scope(operation);
            }
        }
    }
}

/// Adds the 403 answer to `operation` when its `api_key` requirement names scopes.
fn add_insufficient_scope(operation: &mut Operation) {
    let scopes: Vec<String> = operation
        .security
        .iter()
        .flatten()
        .filter_map(|requirement| serde_json::to_value(requirement).ok())
        .filter_map(|value| serde_json::from_value::<Vec<String>>(value["api_key"].clone()).ok())
        .flatten()
        .collect();
    if scopes.is_empty() {
        return;
    }
    let named = scopes
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut description =
        format!("`insufficient_scope`: the API key lacks the {named} scope this operation needs");
    // An operation's own 403 (a guardrail refusal) is kept in the description.
    if let Some(RefOr::T(own)) = operation.responses.responses.get("403") {
        description = format!("{description}; {}", own.description);
    }
    let response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build();
    operation
        .responses
        .responses
        .insert("403".to_owned(), response.into());
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
            "post /v1/payment-intents/{id}/approve",
            "post /v1/payment-intents/{id}/reject",
            "get /v1/templates",
            "get /v1/templates/{channel}/{locale}/{name}",
            "get /v1/templates/{channel}/{locale}/{name}/versions",
            "post /v1/templates/{channel}/{locale}/{name}/versions",
            "post /v1/templates/{channel}/{locale}/{name}/publish",
            "post /v1/templates/{channel}/{locale}/{name}/rollback",
            "post /v1/templates/{channel}/{locale}/{name}/test-send",
            "post /v1/templates/{channel}/{locale}/{name}/preview",
        ];
        expected.sort_unstable();
        assert_eq!(operations, expected);
    }

    /// Every operation names the scope it needs and documents the 403 for a key without it.
    #[test]
    fn every_operation_needs_a_scope_and_documents_the_403() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let scope = operation["security"][0]["api_key"][0].as_str();
                let expected = if path.starts_with("/v1/payment-intents")
                    || path.starts_with("/v1/customers/")
                {
                    "payments"
                } else if path.starts_with("/v1/templates") {
                    "templates"
                } else {
                    "messages"
                };
                assert_eq!(scope, Some(expected), "{method} {path}");
                let forbidden = &operation["responses"]["403"];
                let description = forbidden["description"].as_str().unwrap_or_default();
                assert!(
                    description.contains("insufficient_scope")
                        && description.contains(&format!("`{expected}`")),
                    "{method} {path}: {forbidden}"
                );
                assert_eq!(
                    forbidden["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem"
                );
                seen += 1;
            }
        }
        assert_eq!(seen, 23);
        let create = &doc["paths"]["/v1/payment-intents"]["post"]["responses"]["403"];
        let description = create["description"].as_str().unwrap_or_default();
        assert!(
            description.contains("insufficient_scope")
                && description.contains("guardrail_exceeded"),
            "{create}"
        );
        let scheme = &doc["components"]["securitySchemes"]["api_key"];
        assert_eq!(scheme["scheme"], "bearer");
        let description = scheme["description"].as_str().unwrap_or_default();
        assert!(description.contains("insufficient_scope"), "{scheme}");
    }
}
