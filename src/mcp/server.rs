//! The hub's MCP face: one [`HubService`] per client session, answering from the
//! aggregated catalog and forwarding calls to the backend that owns the name.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ErrorCode, GetPromptRequestParams,
    GetPromptResponse, Implementation, InitializeRequestParams, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    LoggingMessageNotificationParam, PaginatedRequestParams, ProgressNotificationParam,
    ProgressToken, ReadResourceRequestParams, ReadResourceResponse,
    ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig,
};
use rmcp::model::{
    CompleteRequestParams, CompleteResult, Reference, SetLevelRequestParams,
    SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, RoleServer, SubscriptionContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

use super::McpError;
use super::client::CallError;
use crate::hub::filtering::SessionView;
use crate::hub::lifecycle::Hub;
use crate::telemetry::log::events;
use crate::telemetry::metrics::Outcome;

/// Which list changed, for 2026-07-28 clients listening through `subscriptions/listen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Tools,
    Prompts,
    Resources,
}

/// Open client sessions, for notifications that are not an answer to a request.
pub struct Clients {
    /// Stateless (2026-07-28) clients have no session to notify: they listen here.
    listeners: tokio::sync::broadcast::Sender<ListKind>,
    next: AtomicU64,
    peers: Mutex<HashMap<u64, ClientSession>>,
    /// (server, backend's progress token) → the client's own token and session.
    progress: Mutex<HashMap<(String, ProgressToken), (u64, ProgressToken)>>,
    /// Which client session has calls in flight on which server: where a backend's
    /// log messages and requests (sampling, elicitation) go.
    inflight: Mutex<HashMap<String, Vec<u64>>>,
    /// Resource URI → sessions subscribed to its updates.
    subscriptions: Mutex<HashMap<String, Vec<u64>>>,
    /// Finished calls whose routes go once late notifications had their chance.
    retiring: Mutex<std::collections::VecDeque<Retiring>>,
    /// Progress and log notifications being relayed right now, by server (see
    /// `relays_settled`).
    relaying: Mutex<HashMap<String, usize>>,
    relayed: tokio::sync::Notify,
}

/// Counts one relay from a server for as long as it lives.
struct Relaying<'a> {
    clients: &'a Clients,
    server: &'a str,
}

impl Drop for Relaying<'_> {
    fn drop(&mut self) {
        let mut relaying = self
            .clients
            .relaying
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = relaying.get_mut(self.server) {
            *n -= 1;
            if *n == 0 {
                relaying.remove(self.server);
                self.clients.relayed.notify_waiters();
            }
        }
    }
}

impl Default for Clients {
    fn default() -> Self {
        Clients {
            listeners: tokio::sync::broadcast::channel(64).0,
            next: AtomicU64::default(),
            peers: Mutex::default(),
            progress: Mutex::default(),
            inflight: Mutex::default(),
            subscriptions: Mutex::default(),
            retiring: Mutex::default(),
            relaying: Mutex::default(),
            relayed: tokio::sync::Notify::new(),
        }
    }
}

struct ClientSession {
    peer: Peer<RoleServer>,
    name: String,
}

impl Clients {
    fn register(&self, peer: Peer<RoleServer>, name: String) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, ClientSession { peer, name });
        id
    }

    fn unregister(&self, id: u64) -> Option<String> {
        self.subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, list| {
                list.retain(|c| *c != id);
                !list.is_empty()
            });
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
            .map(|s| s.name)
    }

    /// Open sessions; sessions whose transport closed are dropped first.
    pub fn count(&self) -> usize {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.retain(|_, s| !s.peer.is_transport_closed());
        peers.len()
    }

    fn peers(&self) -> Vec<Peer<RoleServer>> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.retain(|_, s| !s.peer.is_transport_closed());
        peers.values().map(|s| s.peer.clone()).collect()
    }

    fn peer(&self, id: u64) -> Option<Peer<RoleServer>> {
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .map(|s| s.peer.clone())
    }

    pub fn broadcast_tools_changed(&self) {
        let _ = self.listeners.send(ListKind::Tools);
        for peer in self.peers() {
            tokio::spawn(async move {
                let _ = peer.notify_tool_list_changed().await;
            });
        }
    }

    pub fn broadcast_prompts_changed(&self) {
        let _ = self.listeners.send(ListKind::Prompts);
        for peer in self.peers() {
            tokio::spawn(async move {
                let _ = peer.notify_prompt_list_changed().await;
            });
        }
    }

    pub fn broadcast_resources_changed(&self) {
        let _ = self.listeners.send(ListKind::Resources);
        for peer in self.peers() {
            tokio::spawn(async move {
                let _ = peer.notify_resource_list_changed().await;
            });
        }
    }

    /// `notifications/resources/updated` goes to the sessions subscribed to that URI.
    pub fn route_resource_updated(&self, params: ResourceUpdatedNotificationParam) {
        let ids = self
            .subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&params.uri)
            .cloned()
            .unwrap_or_default();
        for id in ids {
            if let Some(peer) = self.peer(id) {
                let params = params.clone();
                tokio::spawn(async move {
                    let _ = peer.notify_resource_updated(params).await;
                });
            }
        }
    }

    fn subscribe(&self, uri: &str, client: u64) -> bool {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        let list = subs.entry(uri.to_owned()).or_default();
        let first = list.is_empty();
        if !list.contains(&client) {
            list.push(client);
        }
        first
    }

    /// Returns true when no session is subscribed to `uri` any more.
    fn unsubscribe(&self, uri: &str, client: u64) -> bool {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = subs.get_mut(uri) {
            list.retain(|c| *c != client);
            if list.is_empty() {
                subs.remove(uri);
                return true;
            }
            return false;
        }
        true
    }

    /// Sessions with calls in flight on `server` (0 for REST calls), oldest first.
    fn callers(&self, server: &str) -> Vec<u64> {
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(server)
            .cloned()
            .unwrap_or_default()
    }

    /// The session whose call on `server` started last: the one a backend's request
    /// (sampling, elicitation, roots) most plausibly belongs to.
    pub fn caller_for(&self, server: &str) -> Option<Peer<RoleServer>> {
        self.callers(server)
            .iter()
            .rev()
            .filter(|id| **id != 0)
            .find_map(|id| self.peer(*id))
    }

    fn relaying<'a>(&'a self, server: &'a str) -> Relaying<'a> {
        *self
            .relaying
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(server.to_owned())
            .or_default() += 1;
        Relaying {
            clients: self,
            server,
        }
    }

    /// Resolves once the notifications a backend sent before its answer have been
    /// relayed. The SDK hands each notification to a task of its own but the answer
    /// straight to the caller, so the answer could otherwise overtake them (and close
    /// the client's stream first). Yielding lets the tasks already queued start.
    pub async fn relays_settled(&self, server: &str) {
        tokio::task::yield_now().await;
        loop {
            let notified = self.relayed.notified();
            let busy = self
                .relaying
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(server);
            if !busy {
                return;
            }
            notified.await;
        }
    }

    /// A backend's progress goes to the session that made the call, under the token
    /// that session chose.
    pub async fn route_progress(&self, server: &str, mut params: ProgressNotificationParam) {
        let _relaying = self.relaying(server);
        let key = (server.to_owned(), params.progress_token.clone());
        let target = self
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some((client, token)) = target
            && let Some(peer) = self.peer(client)
        {
            params.progress_token = token;
            let _ = peer.notify_progress(params).await;
        }
    }

    /// A backend's log message goes to the sessions with calls in flight on it.
    pub async fn route_log(&self, server: &str, params: LoggingMessageNotificationParam) {
        let _relaying = self.relaying(server);
        for id in self.callers(server) {
            if let Some(peer) = self.peer(id) {
                let _ = peer.notify_logging_message(params.clone()).await;
            }
        }
    }
}

/// Removes the routing entries of one call when it ends, however it ends.
struct CallRoutes {
    clients: Arc<Clients>,
    server: String,
    client: u64,
    token: Option<ProgressToken>,
}

/// How long a finished call's routes (progress, log messages) stay: the SDK hands
/// notifications and answers to separate tasks, so a notification a backend sent just
/// before its answer can be processed just after it.
const LATE_PROGRESS: std::time::Duration = std::time::Duration::from_secs(2);

impl Drop for CallRoutes {
    fn drop(&mut self) {
        // Retired, not removed: one sweeper removes them once the late window passed
        // (a timer task per call cost more than the call's own bookkeeping).
        self.clients
            .retiring
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Retiring {
                due: std::time::Instant::now() + LATE_PROGRESS,
                server: std::mem::take(&mut self.server),
                client: self.client,
                token: self.token.take(),
            });
    }
}

/// A finished call's routes, kept for [`LATE_PROGRESS`].
struct Retiring {
    due: std::time::Instant,
    server: String,
    client: u64,
    token: Option<ProgressToken>,
}

impl Clients {
    /// Removes the routes of calls that finished more than [`LATE_PROGRESS`] ago.
    pub fn sweep(&self) {
        let now = std::time::Instant::now();
        let mut due = Vec::new();
        {
            let mut q = self.retiring.lock().unwrap_or_else(|p| p.into_inner());
            while q.front().is_some_and(|r| r.due <= now) {
                due.extend(q.pop_front());
            }
        }
        if due.is_empty() {
            return;
        }
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        for r in due {
            if let Some(t) = r.token {
                progress.remove(&(r.server.clone(), t));
            }
            if let Some(v) = inflight.get_mut(&r.server) {
                if let Some(pos) = v.iter().position(|c| *c == r.client) {
                    v.remove(pos);
                }
                if v.is_empty() {
                    inflight.remove(&r.server);
                }
            }
        }
    }
}

/// The client session a call comes from, for relaying the backend's progress, log
/// messages and requests back to it.
pub struct Caller {
    pub client: u64,
    pub progress: Option<ProgressToken>,
}

/// The handler of one client session.
pub struct HubService {
    hub: Arc<Hub>,
    client_id: Mutex<Option<u64>>,
    /// What this session may see beyond the hub-wide filter (prompt-based mode).
    view: Mutex<SessionView>,
}

impl HubService {
    pub fn new(hub: Arc<Hub>) -> HubService {
        HubService {
            hub,
            client_id: Mutex::new(None),
            view: Mutex::new(SessionView::default()),
        }
    }

    fn view(&self) -> SessionView {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The hub's own tools; `None` when `name` is not one that applies now.
    async fn call_meta_tool(
        &self,
        name: &str,
        arguments: Option<&serde_json::Map<String, serde_json::Value>>,
        context: &RequestContext<RoleServer>,
    ) -> Option<Result<CallToolResult, McpError>> {
        use crate::hub::filtering::meta;
        use crate::hub::filtering::settings::{Exposure, Mode};
        let settings = self.hub.filtering.settings();
        let catalog = self.hub.catalog();
        let view = self.view();
        let visible = |n: &str| view.allows(&settings, &catalog, n);
        let arg = |k: &str| arguments.and_then(|a| a.get(k));
        let search_mode = settings.exposure == Exposure::Search;
        match name {
            meta::SEARCH_TOOLS if search_mode => {
                let query = arg("query").and_then(|v| v.as_str()).unwrap_or_default();
                let category = arg("category").and_then(|v| v.as_str());
                let limit = arg("limit").and_then(|v| v.as_u64()).map(|n| n as usize);
                Some(Ok(structured_result(meta::search(
                    &catalog, visible, query, category, limit,
                ))))
            }
            meta::DESCRIBE_TOOL if search_mode => {
                let Some(tool) = arg("name").and_then(|v| v.as_str()) else {
                    return Some(Err(McpError::invalid_params(
                        "describe_tool needs `name`: a tool name from search_tools",
                        None,
                    )));
                };
                Some(
                    meta::describe(&catalog, visible, tool)
                        .map(structured_result)
                        .map_err(|m| McpError::invalid_params(m, Some(json!({"tool": tool})))),
                )
            }
            meta::CALL_TOOL if search_mode => {
                let Some(tool) = arg("name").and_then(|v| v.as_str()) else {
                    return Some(Err(McpError::invalid_params(
                        "call_tool needs `name`: a tool name from search_tools",
                        None,
                    )));
                };
                let arguments = match arg("arguments") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::Object(o)) => Some(o.clone()),
                    Some(_) => {
                        return Some(Err(McpError::invalid_params(
                            "call_tool: `arguments` must be an object",
                            None,
                        )));
                    }
                };
                let caller = Caller {
                    client: self.client_id(),
                    progress: context.meta.get_progress_token(),
                };
                Some(
                    self.hub
                        .call_tool(tool, arguments, Some(caller), &view)
                        .await,
                )
            }
            meta::ANALYZE_PROMPT
                if catalog.filtering_active
                    && settings.mode == Mode::PromptBased
                    && settings.meta_tools =>
            {
                let Some(prompt) = arg("prompt").and_then(|v| v.as_str()) else {
                    return Some(Err(McpError::invalid_params(
                        "hub__analyze_prompt needs `prompt`: the task in plain words",
                        None,
                    )));
                };
                Some(Ok(self
                    .analyze_prompt(prompt, &catalog, &context.peer)
                    .await))
            }
            _ => None,
        }
    }

    /// Prompt-based mode: picks the categories the task needs, shows this session
    /// only their tools, and tells this session (alone) that its list changed.
    async fn analyze_prompt(
        &self,
        prompt: &str,
        catalog: &crate::hub::catalog::Catalog,
        peer: &Peer<RoleServer>,
    ) -> CallToolResult {
        let chosen = self.hub.filtering.categories_for_prompt(prompt);
        if chosen.is_empty() {
            return structured_result(json!({
                "categories": [],
                "message": "no category matched this task; the tool list is unchanged. Describe the task with more concrete words (files, repository, database, web page…).",
            }));
        }
        let categories: Vec<String> = chosen.iter().map(|(c, _)| c.clone()).collect();
        self.view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .categories = Some(categories.clone());
        let settings = self.hub.filtering.settings();
        let view = self.view();
        let exposed: Vec<&str> = catalog
            .tools
            .iter()
            .map(|t| t.name.as_ref())
            .filter(|n| view.allows(&settings, catalog, n))
            .collect();
        let _ = peer.notify_tool_list_changed().await;
        structured_result(json!({
            "categories": chosen.iter().map(|(c, why)| json!({"category": c, "reason": why})).collect::<Vec<_>>(),
            "exposedTools": exposed.len(),
            "tools": exposed,
            "message": format!("this session now sees {} tools of {}", exposed.len(), categories.join(", ")),
        }))
    }

    fn client_id(&self) -> u64 {
        self.client_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(0)
    }
}

impl Drop for HubService {
    fn drop(&mut self) {
        let id = self
            .client_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(id) = id
            && let Some(name) = self.hub.clients.unregister(id)
        {
            self.hub
                .metrics
                .active_clients
                .set(self.hub.clients.count() as i64);
            tracing::info!(event = events::CLIENT_DISCONNECTED, client = %name, "client {name} disconnected");
        }
    }
}

fn server_info() -> ServerConfig {
    let caps = ServerCapabilities::builder()
        .enable_tools()
        .enable_tool_list_changed()
        .enable_prompts()
        .enable_prompts_list_changed()
        .enable_resources()
        .enable_resources_list_changed()
        .enable_resources_subscribe()
        .enable_completions()
        .enable_logging()
        .build();
    let mut info = InitializeResult::new(caps);
    info.server_info = Implementation::new("mcphub", env!("CARGO_PKG_VERSION"));
    info.instructions = Some(
        "mcphub aggregates several MCP servers; tool and prompt names are <server>__<name>.".into(),
    );
    info
}

/// A meta-tool's answer: the JSON as structured content and as text for clients
/// that read only text.
fn structured_result(value: serde_json::Value) -> CallToolResult {
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    serde_json::from_value(json!({
        "content": [{"type": "text", "text": text}],
        "structuredContent": value,
        "isError": false,
    }))
    .unwrap_or_default()
}

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
        caller: Option<Caller>,
        view: &SessionView,
    ) -> Result<CallToolResult, McpError> {
        let catalog = self.catalog();
        let route = catalog.tool(exposed).cloned().ok_or_else(|| {
            McpError::invalid_params(
                format!("unknown tool `{exposed}`: tools/list shows the tools this hub has"),
                Some(json!({"tool": exposed})),
            )
        })?;
        let settings = self.filtering.settings();
        if !view.allows(&settings, &catalog, exposed) {
            return Err(self.filtered_error(&catalog, exposed));
        }
        self.call_backend_tool(&route.server, &route.name, arguments, caller)
            .await
    }

    /// The error for a tool the filter hides: says which setting hides it.
    pub fn filtered_error(
        &self,
        catalog: &crate::hub::catalog::Catalog,
        exposed: &str,
    ) -> McpError {
        let settings = self.filtering.settings();
        let category = catalog
            .categories
            .get(exposed)
            .map_or("other", |c| c.category.as_str());
        let why = if catalog.allowed.contains(exposed) {
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
    pub fn visible_tools(&self, view: &SessionView) -> Vec<rmcp::model::Tool> {
        use crate::hub::filtering::meta;
        use crate::hub::filtering::settings::{Exposure, Mode};
        let settings = self.filtering.settings();
        let catalog = self.catalog();
        let analyze =
            catalog.filtering_active && settings.mode == Mode::PromptBased && settings.meta_tools;
        let mut tools = Vec::new();
        if analyze {
            tools.push(meta::analyze_prompt_tool());
        }
        if settings.exposure == Exposure::Search {
            tools.extend(meta::search_mode_tools(&settings.known_categories()));
            return tools;
        }
        tools.extend(
            catalog
                .tools
                .iter()
                .filter(|t| view.allows(&settings, &catalog, t.name.as_ref()))
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
        caller: Option<Caller>,
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
        // 0: a REST call, which has no MCP session to relay anything to.
        let client = caller.as_ref().map_or(0, |c| c.client);
        let progress = caller.and_then(|c| c.progress);
        self.clients
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(server.to_owned())
            .or_default()
            .push(client);
        let mut routes = CallRoutes {
            clients: self.clients.clone(),
            server: server.to_owned(),
            client,
            token: None,
        };
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = arguments;
        let result = handle
            .call_tool(params, backend.entry.timeout(), |backend_token| {
                if let Some(token) = progress {
                    self.clients
                        .progress
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert((server.to_owned(), backend_token.clone()), (client, token));
                    routes.token = Some(backend_token.clone());
                }
            })
            .await;
        // Only an MCP session has notifications to wait for (a REST caller gets none).
        // Bounded: a client that stopped reading must not hold the answer back.
        if client != 0 {
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(500),
                self.clients.relays_settled(server),
            )
            .await;
        }
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

impl rmcp::ServerHandler for HubService {
    fn get_info(&self) -> ServerConfig {
        server_info()
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        context.peer.set_peer_info(request.clone());
        let name = format!(
            "{} {}",
            request.client_info.name, request.client_info.version
        );
        let id = self
            .hub
            .clients
            .register(context.peer.clone(), name.clone());
        if let Some(old) = self
            .client_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(id)
        {
            self.hub.clients.unregister(old);
        }
        self.hub
            .metrics
            .active_clients
            .set(self.hub.clients.count() as i64);
        tracing::info!(event = events::CLIENT_CONNECTED, client = %name, protocol = %request.protocol_version, "client {name} connected");
        self.negotiate_initialize(&request)
    }

    async fn on_initialized(&self, _: NotificationContext<RoleServer>) {}

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(
            self.hub.visible_tools(&self.view()),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if let Some(r) = self
            .call_meta_tool(&request.name, request.arguments.as_ref(), &context)
            .await
        {
            return r.map(CallToolResponse::Complete);
        }
        let caller = Caller {
            client: self.client_id(),
            progress: context.meta.get_progress_token(),
        };
        self.hub
            .call_tool(&request.name, request.arguments, Some(caller), &self.view())
            .await
            .map(CallToolResponse::Complete)
    }

    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(
            self.hub.catalog().prompts.clone(),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let catalog = self.hub.catalog();
        let route = catalog.prompt(&request.name).cloned().ok_or_else(|| {
            McpError::invalid_params(format!("unknown prompt `{}`", request.name), None)
        })?;
        let (backend, handle) = self.hub.connected(&route.server)?;
        let mut params = request;
        params.name = route.name.clone();
        handle
            .get_prompt(params, backend.entry.timeout())
            .await
            .map(GetPromptResponse::Complete)
            .map_err(|e| call_error_to_mcp(&route.server, e))
    }

    async fn complete(
        &self,
        mut request: CompleteRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let catalog = self.hub.catalog();
        let server = match &mut request.r#ref {
            Reference::Prompt(p) => {
                let route = catalog.prompt(&p.name).cloned().ok_or_else(|| {
                    McpError::invalid_params(format!("unknown prompt `{}`", p.name), None)
                })?;
                p.name = route.name;
                route.server
            }
            Reference::Resource(r) => catalog
                .resource_servers(&r.uri)
                .into_iter()
                .next()
                .ok_or_else(|| {
                    McpError::invalid_params(format!("no server has resource `{}`", r.uri), None)
                })?,
            _ => {
                return Err(McpError::invalid_params(
                    "completion/complete: unsupported reference type (use ref/prompt or ref/resource)",
                    None,
                ));
            }
        };
        let (backend, handle) = self.hub.connected(&server)?;
        handle
            .complete(request, backend.entry.timeout())
            .await
            .map_err(|e| call_error_to_mcp(&server, e))
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        // Backends that log are told the level; the hub forwards what they send.
        for b in self.hub.backends() {
            let logs = b.snapshot().identity.is_some_and(|i| i.has_logging);
            if let (true, Ok(handle)) = (logs, b.handle()) {
                let _ = handle.set_level(request.clone()).await;
            }
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let server = self.hub.resource_owner(&request.uri)?;
        if self.hub.clients.subscribe(&request.uri, self.client_id()) {
            let (_, handle) = self.hub.connected(&server)?;
            if let Err(e) = handle.subscribe(request.clone()).await {
                self.hub.clients.unsubscribe(&request.uri, self.client_id());
                return Err(call_error_to_mcp(&server, e));
            }
        }
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if self.hub.clients.unsubscribe(&request.uri, self.client_id())
            && let Ok(server) = self.hub.resource_owner(&request.uri)
            && let Ok((_, handle)) = self.hub.connected(&server)
        {
            handle
                .unsubscribe(request)
                .await
                .map_err(|e| call_error_to_mcp(&server, e))?;
        }
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // List changes are relayed; per-resource updates are not (yet) for stateless
        // clients, so that part of a request is declined rather than silently dropped.
        let mut accepted = requested.clone();
        accepted.resource_subscriptions = None;
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        use tokio::sync::broadcast::error::RecvError;
        let mut rx = self.hub.clients.listeners.subscribe();
        loop {
            let kind = tokio::select! {
                _ = context.cancelled() => return Ok(()),
                k = rx.recv() => match k {
                    Ok(k) => k,
                    // Missed some: a list_changed is idempotent, so say all changed.
                    Err(RecvError::Lagged(_)) => ListKind::Tools,
                    Err(RecvError::Closed) => return Ok(()),
                },
            };
            let sink = context.sink();
            let sent = match kind {
                ListKind::Tools => sink.notify_tool_list_changed().await,
                ListKind::Prompts => sink.notify_prompt_list_changed().await,
                ListKind::Resources => sink.notify_resource_list_changed().await,
            };
            if sent.is_err() {
                return Ok(());
            }
        }
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(
            self.hub.catalog().resources.clone(),
        ))
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(
            self.hub.catalog().templates.clone(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.hub
            .read_resource(request)
            .await
            .map(ReadResourceResponse::Complete)
    }
}

impl Hub {
    /// A backend and a request handle for it, or the error a client should get.
    pub fn connected(
        &self,
        server: &str,
    ) -> Result<(Arc<crate::hub::backends::Backend>, super::client::Handle), McpError> {
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
        self.catalog()
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
    ) -> Result<rmcp::model::ReadResourceResult, McpError> {
        let servers = self.catalog().resource_servers(&request.uri);
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

/// The `/mcp` endpoint as a tower service: sessions for 2025-06-18 and 2025-11-25
/// clients, stateless for 2026-07-28 ones (the SDK decides per request).
pub fn streamable_http_service(
    hub: Arc<Hub>,
    allowed_hosts: Vec<String>,
    max_body: usize,
    cancel: tokio_util::sync::CancellationToken,
) -> StreamableHttpService<HubService, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts)
        .with_max_request_body_bytes(max_body)
        .with_cancellation_token(cancel);
    StreamableHttpService::new(
        move || Ok(HubService::new(hub.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

/// `mcphub serve --stdio`: one session over this process's stdin/stdout.
pub async fn serve_stdio(hub: Arc<Hub>) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let service = HubService::new(hub)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("stdio session failed to start: {e}"))?;
    service.waiting().await?;
    Ok(())
}
