//! Who is calling a tool (the API key the `/mcp` request was authenticated with) and whether
//! its scopes allow the tool; the answer as structured content plus a short text.

use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::Value;

use super::tools::error_result;
use crate::web::auth::{ApiCaller, Scope};
use crate::web::problem::ApiError;

/// The API key of the request behind `context` (set by the `/mcp` route's authentication).
pub(super) fn caller_of(context: &RequestContext<RoleServer>) -> Option<ApiCaller> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<ApiCaller>())
        .cloned()
}

/// Whether `caller` may use a tool that needs `scope`: `agent` grants every tool.
pub(super) fn allowed(caller: &ApiCaller, scope: Scope) -> bool {
    caller.has(Scope::Agent) || caller.has(scope)
}

/// One tool call in progress.
pub(super) struct Call {
    /// Who calls.
    pub(super) caller: ApiCaller,
    /// The tool's name.
    pub(super) tool: &'static str,
    span: tracing::Span,
}

impl Call {
    /// Starts a call of `tool` (its scope was checked before routing); a protocol error
    /// when the request carries no caller (cannot happen behind the route's authentication).
    pub(super) fn start(
        context: &RequestContext<RoleServer>,
        tool: &'static str,
    ) -> Result<Call, ErrorData> {
        let caller = caller_of(context)
            .ok_or_else(|| ErrorData::invalid_request("unauthenticated", None))?;
        let span = tracing::info_span!("mcp_tool", tool, key = %caller.key_name);
        Ok(Call { caller, tool, span })
    }

    /// The tool's answer: `value` as structured content with `summary(value)` as text, or the
    /// error as a tool error carrying its problem code.
    pub(super) fn finish(
        &self,
        result: Result<Value, ApiError>,
        summary: impl FnOnce(&Value) -> String,
    ) -> CallToolResult {
        let _entered = self.span.enter();
        match result {
            Ok(value) => {
                tracing::info!("MCP tool call done.");
                let text = summary(&value);
                let mut answer = CallToolResult::structured(value);
                answer.content = vec![ContentBlock::text(text)];
                answer
            }
            Err(error) => {
                match &error.internal {
                    Some(cause) => {
                        tracing::error!(code = error.code, cause, "MCP tool call failed.")
                    }
                    None => tracing::info!(code = error.code, "MCP tool call refused."),
                }
                error_result(&error)
            }
        }
    }
}
