//! Call routing: which backend a request goes to, whether this caller may make it,
//! and every backend request on the counted path that shutdown drains.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::api::events;
use crate::hub::backends::Backend;
use crate::hub::filtering::listing::{Listing, SessionView};
use crate::hub::lifecycle::Hub;
use crate::mcp::client::{CallError, Handle};
use crate::mcp::model::{
    CallToolRequestParams, CallToolResult, ErrorCode, McpError, ReadResourceRequestParams,
    ReadResourceResult, Tool,
};
use crate::mcp::sessions::Caller;
use crate::telemetry::metrics::Outcome;

/// The JSON-RPC error a client gets when a call cannot reach its backend.
pub fn call_error_to_mcp(server: &str, e: CallError) -> McpError {
    match e {
        CallError::Protocol(e) => e,
        CallError::Timeout(t) => McpError::new(
            ErrorCode::INTERNAL_ERROR,
            format!(
                "server `{server}` did not answer within {} ms",
                t.as_millis()
            ),
            Some(json!({"server": server, "reason": "timeout"})),
        ),
        CallError::Unavailable(msg) => McpError::new(
            ErrorCode(-32000),
            format!("server `{server}` is unavailable: {msg}"),
            Some(json!({"server": server, "reason": "unavailable"})),
        ),
    }
}

impl Hub {
    /// A tool call by exposed name from an MCP session: refused when the tool is
    /// unknown or filtered out for that session, else routed to its backend.
    pub async fn call_tool(
        &self,
        exposed: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
        caller: Caller,
        view: &SessionView,
    ) -> Result<CallToolResult, McpError> {
        let listing = self.listing();
        let route = listing.catalog.tool(exposed).cloned().ok_or_else(|| {
            McpError::invalid_params(
                format!("unknown tool `{exposed}`: tools/list shows the tools this hub has"),
                Some(json!({"tool": exposed})),
            )
        })?;
        let settings = self.filtering.settings();
        if !view.allows(&settings, &listing, exposed) {
            return Err(self.filtered_error(&listing, exposed));
        }
        self.call_backend_tool(&route.server, &route.name, arguments, caller)
            .await
    }

    /// The error for a tool the filter hides: says which setting hides it.
    pub fn filtered_error(&self, listing: &Listing, exposed: &str) -> McpError {
        let settings = self.filtering.settings();
        let category = listing
            .categories
            .get(exposed)
            .map_or("other", |c| c.category.as_str());
        let why = if listing.allowed.contains(exposed) {
            format!(
                "this session's categories do not include `{category}`: call {} with your task to change them",
                crate::hub::filtering::meta::ANALYZE_PROMPT
            )
        } else {
            format!(
                "toolFiltering (mode {}) hides it (category `{category}`); change toolFiltering in the servers file, or POST /api/filtering/status {{\"enabled\": false}}",
                settings.mode.as_str()
            )
        };
        tracing::info!(
            event = events::TOOL_FILTERED,
            tool = exposed,
            category,
            "refused a call to filtered tool {exposed}"
        );
        McpError::invalid_params(
            format!("tool `{exposed}` is filtered out: {why}"),
            Some(json!({"tool": exposed, "reason": "filtered", "category": category})),
        )
    }

    /// What `tools/list` shows one session.
    pub fn visible_tools(&self, view: &SessionView) -> Vec<Tool> {
        use crate::config::filtering::{Exposure, Mode};
        use crate::hub::filtering::meta;
        let settings = self.filtering.settings();
        let listing = self.listing();
        let analyze =
            listing.filtering_active && settings.mode == Mode::PromptBased && settings.meta_tools;
        let mut tools = Vec::new();
        if analyze {
            tools.push(meta::analyze_prompt_tool());
        }
        if settings.exposure == Exposure::Search {
            tools.extend(meta::search_mode_tools(&settings.known_categories()));
            return tools;
        }
        tools.extend(
            listing
                .catalog
                .tools
                .iter()
                .filter(|t| view.allows(&settings, &listing, t.name.as_ref()))
                .cloned(),
        );
        tools
    }

    /// A tool call by server and the server's own tool name.
    pub async fn call_backend_tool(
        &self,
        server: &str,
        tool: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
        caller: Caller,
    ) -> Result<CallToolResult, McpError> {
        let started = Instant::now();
        let _inflight = self
            .begin_call()
            .map_err(|m| McpError::new(ErrorCode(-32000), m, None))?;
        let backend = self
            .backend(server)
            .ok_or_else(|| McpError::invalid_params(format!("unknown server `{server}`"), None))?;
        let handle = backend.handle().map_err(|msg| {
            self.metrics
                .record_call(server, Outcome::Unavailable, started.elapsed());
            McpError::new(ErrorCode(-32000), msg, Some(json!({"server": server})))
        })?;
        let mut routes = self.sessions.begin_call(server, caller);
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = arguments;
        let result = handle
            .call_tool(params, backend.entry.timeout(), |backend_token| {
                routes.progress_token(backend_token)
            })
            .await;
        routes.settle().await;
        drop(routes);
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(CallError::Protocol(_)) => Outcome::Error,
            Err(CallError::Timeout(_)) => Outcome::Timeout,
            Err(CallError::Unavailable(_)) => Outcome::Unavailable,
        };
        self.metrics.record_call(server, outcome, elapsed);
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        match &result {
            Ok(r) => {
                tracing::info!(
                    event = events::TOOL_CALL,
                    server,
                    tool,
                    duration_ms,
                    outcome = "success",
                    is_error = r.is_error.unwrap_or(false),
                    "tools/call {server}/{tool}"
                )
            }
            Err(e) => {
                tracing::warn!(event = events::TOOL_CALL, server, tool, duration_ms, outcome = ?outcome, error = ?e, "tools/call {server}/{tool} failed")
            }
        }
        result.map_err(|e| call_error_to_mcp(server, e))
    }
}

impl Hub {
    /// A backend and a request handle for it, or the error a client should get.
    pub fn connected(&self, server: &str) -> Result<(Arc<Backend>, Handle), McpError> {
        let backend = self
            .backend(server)
            .ok_or_else(|| McpError::invalid_params(format!("unknown server `{server}`"), None))?;
        let handle = backend
            .handle()
            .map_err(|m| McpError::new(ErrorCode(-32000), m, Some(json!({"server": server}))))?;
        Ok((backend, handle))
    }

    /// The server a resource URI belongs to.
    pub fn resource_owner(&self, uri: &str) -> Result<String, McpError> {
        self.listing()
            .catalog
            .resource_servers(uri)
            .into_iter()
            .next()
            .ok_or_else(|| {
                McpError::resource_not_found(
                    format!("no connected server has resource `{uri}`"),
                    Some(json!({"uri": uri})),
                )
            })
    }

    /// Reads a resource from the server that lists it (or whose template matches).
    pub async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
    ) -> Result<ReadResourceResult, McpError> {
        let servers = self.listing().catalog.resource_servers(&request.uri);
        let mut last = None;
        for server in servers {
            let Some(backend) = self.backend(&server) else {
                continue;
            };
            let Ok(handle) = backend.handle() else {
                continue;
            };
            match handle
                .read_resource(request.clone(), backend.entry.timeout())
                .await
            {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(call_error_to_mcp(&server, e)),
            }
        }
        Err(last.unwrap_or_else(|| {
            McpError::resource_not_found(
                format!("no connected server has resource `{}`", request.uri),
                Some(json!({"uri": request.uri})),
            )
        }))
    }
}
