//! The MCP server handler: tools filtered by the caller's scopes, conversations as resources
//! (`omnibridge://conversations/{id}`, their transcript as text) with change notifications for
//! subscribed conversations.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnibridge_sdk::ConversationId;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
    ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig, SubscribeRequestParams,
    SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};

use super::caller::{allowed, caller_of};
use super::tools::error_result;
use super::transcript;
use crate::http::AppState;
use crate::web::auth::Scope;
use crate::web::problem::ApiError;

/// The URI prefix of a conversation resource.
pub const CONVERSATION_URI_PREFIX: &str = "omnibridge://conversations/";
/// Events in a conversation resource's transcript.
const TRANSCRIPT_EVENTS: usize = 200;
/// Conversations listed as resources.
const LISTED_RESOURCES: usize = 50;
/// How often a subscription looks at the bus when no wake-up came (other instances).
const POLL: Duration = Duration::from_millis(500);

/// Events read from the bus per look by a subscription.
const FOLLOW_BATCH: usize = 256;

/// Reads the bus after `*after` (moving it past what was read): the transcript URIs of the
/// `watched` conversations that changed, and whether a full batch was read (more may wait).
async fn changed_uris(
    state: &AppState,
    after: &mut crate::bus::Seq,
    watched: &HashSet<String>,
) -> (Vec<String>, bool) {
    let batch = match state.bus.read_after(*after, FOLLOW_BATCH).await {
        Ok(batch) => batch,
        Err(error) => {
            tracing::warn!(%error, "MCP subscription could not read the bus; retrying.");
            return (Vec::new(), false);
        }
    };
    let mut changed = HashSet::new();
    for envelope in &batch {
        if let Some(seq) = envelope.seq {
            *after = seq;
        }
        if watched.contains(envelope.conversation_id.as_str()) {
            changed.insert(envelope.conversation_id.to_string());
        }
    }
    let uris = changed
        .into_iter()
        .map(|id| format!("{CONVERSATION_URI_PREFIX}{id}"))
        .collect();
    (uris, batch.len() == FOLLOW_BATCH)
}

/// The scope a tool needs (besides `agent`, which grants them all).
pub fn tool_scope(tool: &str) -> Scope {
    match tool {
        "request_payment" | "get_payment" | "cancel_payment" | "refund_payment" => Scope::Payments,
        _ => Scope::Messages,
    }
}

/// One MCP server over the bridge's state; built per session (or per request, stateless).
#[derive(Clone)]
pub struct AgentServer {
    pub(super) state: AppState,
    tool_router: ToolRouter<AgentServer>,
    /// Conversations subscribed with the legacy `resources/subscribe` (sessions of protocol
    /// versions before 2026-07-28), and whether their follower task runs.
    legacy: Arc<LegacySubscriptions>,
}

/// The legacy subscriptions of one session.
#[derive(Default)]
struct LegacySubscriptions {
    conversations: Mutex<HashSet<String>>,
    following: AtomicBool,
}

impl LegacySubscriptions {
    fn watched(&self) -> HashSet<String> {
        self.conversations
            .lock()
            .map(|set| set.clone())
            .unwrap_or_default()
    }
}

impl AgentServer {
    /// A server over `state`.
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            tool_router: Self::tool_router(),
            legacy: Arc::default(),
        }
    }

    /// Follows the bus for a legacy session: `notifications/resources/updated` to `peer` for
    /// each subscribed conversation that changes, until the session goes away.
    async fn follow_legacy(
        state: AppState,
        subscriptions: Arc<LegacySubscriptions>,
        peer: Peer<RoleServer>,
    ) {
        let mut head = state.bus.watch_head();
        let mut after = state.bus.head().await.unwrap_or(0);
        loop {
            let (uris, more) = changed_uris(&state, &mut after, &subscriptions.watched()).await;
            for uri in uris {
                let sent = peer
                    .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                    .await;
                if sent.is_err() {
                    return;
                }
            }
            if more {
                continue;
            }
            tokio::select! {
                () = state.shutdown.cancelled() => return,
                () = crate::bus::head_moved(&mut head) => {}
                () = tokio::time::sleep(POLL) => {}
            }
            if peer.is_transport_closed() {
                return;
            }
        }
    }

    /// The conversation a resource URI names, if it is one of ours.
    fn conversation_of(uri: &str) -> Option<ConversationId> {
        let id = uri.strip_prefix(CONVERSATION_URI_PREFIX)?;
        (!id.is_empty() && !id.contains('/')).then(|| ConversationId::new(id))
    }

    async fn transcript(&self, uri: &str) -> Result<String, ApiError> {
        let id = Self::conversation_of(uri).ok_or_else(|| {
            ApiError::not_found("unknown_resource", format!("no resource {uri:?}"))
        })?;
        let conversation = self.state.store.conversation(&id).await?.ok_or_else(|| {
            ApiError::not_found(
                "unknown_conversation",
                format!("no conversation {:?}", id.as_str()),
            )
        })?;
        let events = self
            .state
            .bus
            .read_conversation_latest(&conversation.id, TRANSCRIPT_EVENTS)
            .await?;
        let lines: Vec<_> = events.iter().filter_map(transcript::line).collect();
        Ok(format!(
            "Conversation {} on {} (channel {})\n\n{}",
            conversation.id,
            conversation.channel.as_str(),
            conversation.channel_id,
            transcript::render(&lines)
        ))
    }

    fn require_messages(context: &RequestContext<RoleServer>) -> Result<(), ErrorData> {
        let caller = caller_of(context)
            .ok_or_else(|| ErrorData::invalid_request("unauthenticated", None))?;
        if allowed(&caller, Scope::Messages) {
            Ok(())
        } else {
            Err(ErrorData::invalid_request(
                "insufficient_scope: conversations need the `messages` or `agent` scope",
                None,
            ))
        }
    }
}

impl ServerHandler for AgentServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
        .with_server_info(Implementation::new("omnibridge", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "omnibridge connects you to the business's customers on web chat, WhatsApp, Telegram \
             and email. Read with list_conversations / get_conversation, answer with send_message, \
             ask for money with request_payment (amounts in integer minor units; the customer \
             always confirms in their own channel), and wait for the customer's answer or the \
             payment result with wait_for_events and the cursor of your last call.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller_of(&context)
            .ok_or_else(|| ErrorData::invalid_request("unauthenticated", None))?;
        let tools = self
            .tool_router
            .list_all()
            .into_iter()
            .filter(|tool| allowed(&caller, tool_scope(&tool.name)))
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller_of(&context)
            .ok_or_else(|| ErrorData::invalid_request("unauthenticated", None))?;
        let scope = tool_scope(&request.name);
        if self.tool_router.has_route(&request.name) && !allowed(&caller, scope) {
            let error = ApiError::new(
                http::StatusCode::FORBIDDEN,
                crate::web::auth::INSUFFICIENT_SCOPE,
                format!(
                    "the tool {} needs the `{scope}` or `agent` scope, which this API key lacks (it has: {})",
                    request.name, caller.scopes
                ),
            );
            tracing::info!(tool = %request.name, key = %caller.key_name, "MCP tool call refused: insufficient scope.");
            return Ok(error_result(&error).into());
        }
        self.tool_router
            .call(ToolCallContext::new(self, request, context))
            .await
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        self.tool_router.get(name).cloned()
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Self::require_messages(&context)?;
        let conversations = self
            .state
            .store
            .list_conversations(None, LISTED_RESOURCES)
            .await
            .map_err(|error| ErrorData::internal_error(error.to_string(), None))?;
        let resources = conversations
            .iter()
            .map(|c| {
                Resource::new(
                    format!("{CONVERSATION_URI_PREFIX}{}", c.id),
                    format!("conversation {}", c.id),
                )
                .with_title(format!("{} conversation {}", c.channel.as_str(), c.id))
                .with_description(format!(
                    "The transcript of a {} conversation, last active {}",
                    c.channel.as_str(),
                    c.last_event_at.to_rfc3339()
                ))
                .with_mime_type("text/plain")
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Self::require_messages(&context)?;
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(format!("{CONVERSATION_URI_PREFIX}{{id}}"), "conversation")
                .with_title("A conversation's transcript")
                .with_description(
                    "The latest events of one conversation as readable text; subscribe to hear \
                     when it changes.",
                )
                .with_mime_type("text/plain"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        Self::require_messages(&context)?;
        match self.transcript(&request.uri).await {
            Ok(text) => Ok(ReadResourceResult::new(vec![ResourceContents::text(
                text,
                request.uri.clone(),
            )])
            .into()),
            Err(error) if error.status == http::StatusCode::NOT_FOUND => Err(
                ErrorData::resource_not_found(format!("{}: {}", error.code, error.detail), None),
            ),
            Err(error) => Err(ErrorData::internal_error(error.code.to_owned(), None)),
        }
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Self::require_messages(&context)?;
        let id = Self::conversation_of(&request.uri).ok_or_else(|| {
            ErrorData::resource_not_found(format!("unknown_resource: {:?}", request.uri), None)
        })?;
        if let Ok(mut set) = self.legacy.conversations.lock() {
            set.insert(id.to_string());
        }
        if !self.legacy.following.swap(true, Ordering::SeqCst) {
            tokio::spawn(Self::follow_legacy(
                self.state.clone(),
                self.legacy.clone(),
                context.peer.clone(),
            ));
        }
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Some(id) = Self::conversation_of(&request.uri)
            && let Ok(mut set) = self.legacy.conversations.lock()
        {
            set.remove(id.as_str());
        }
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let uris: Vec<String> = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|uri| Self::conversation_of(uri).is_some())
            .cloned()
            .collect();
        let mut accepted = SubscriptionFilter::new();
        accepted.resource_subscriptions = Some(uris);
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        Self::require_messages(context.request_context())?;
        let watched: HashSet<String> = context
            .accepted()
            .resource_subscriptions
            .iter()
            .flatten()
            .filter_map(|uri| Self::conversation_of(uri).map(|id| id.to_string()))
            .collect();
        if watched.is_empty() {
            context.cancelled().await;
            return Ok(());
        }
        let mut head = self.state.bus.watch_head();
        let mut after = self
            .state
            .bus
            .head()
            .await
            .map_err(|error| ErrorData::internal_error(error.to_string(), None))?;
        loop {
            let (uris, more) = changed_uris(&self.state, &mut after, &watched).await;
            for uri in uris {
                if context.sink().notify_resource_updated(uri).await.is_err() {
                    return Ok(());
                }
            }
            if more {
                continue;
            }
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                () = self.state.shutdown.cancelled() => return Ok(()),
                () = crate::bus::head_moved(&mut head) => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
