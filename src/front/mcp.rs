//! The hub's MCP face: one [`HubService`] per client session, answering from the hub's
//! listing and handing calls to the hub's call routing.

// Sessions on revisions that still have logging (2025-06-18, 2025-11-25) may set its
// level, though the SDK marks it deprecated (SEP-2577).
#![allow(deprecated)]

use std::sync::{Arc, Mutex};

use axum::response::IntoResponse;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, GetPromptRequestParams,
    GetPromptResponse, InitializeRequestParams, InitializeResult, InputRequiredResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerConfig,
    ServerResult,
};
use rmcp::model::{
    CompleteRequestParams, CompleteResult, SetLevelRequestParams, SubscribeRequestParams,
    SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, RoleServer, SubscriptionContext};
use serde_json::json;

use crate::api::events;
use crate::hub::catalog::page;
use crate::hub::error::HubError;
use crate::hub::filtering::listing::{Listing, SessionView};
use crate::hub::lifecycle::Hub;
use crate::mcp::client::Answer;
use crate::mcp::model::McpError;
use crate::mcp::sessions::{Caller, ListKind, SessionId, StreamCut};

/// The names of the hub's own tools (each one only in the modes that have it).
const META_TOOLS: [&str; 4] = [
    crate::hub::filtering::meta::SEARCH_TOOLS,
    crate::hub::filtering::meta::DESCRIBE_TOOL,
    crate::hub::filtering::meta::CALL_TOOL,
    crate::hub::filtering::meta::ANALYZE_PROMPT,
];

/// The handler of one client session.
pub struct HubService {
    hub: Arc<Hub>,
    /// Set by `initialize`; stateless (2026-07-28) clients have none.
    session: Mutex<Option<SessionId>>,
    /// What this session may see beyond the hub-wide filter (prompt-based mode).
    view: Arc<Mutex<SessionView>>,
    /// Where a streamable HTTP session is entered once initialized, for the calls
    /// the front answers itself; `None` on the other transports.
    direct: Option<Arc<DirectSessions>>,
    /// This session's `Mcp-Session-Id`, once entered there.
    http_id: Mutex<Option<String>>,
}

impl HubService {
    pub fn new(hub: Arc<Hub>, direct: Option<Arc<DirectSessions>>) -> HubService {
        HubService {
            hub,
            session: Mutex::new(None),
            view: Arc::default(),
            direct,
            http_id: Mutex::new(None),
        }
    }

    fn view(&self) -> SessionView {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The hub's own tools; `None` when `name` is not one that applies now.
    async fn call_meta_tool(
        &self,
        round: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Option<Result<CallToolResponse, HubError>> {
        let name = round.name.as_ref();
        let arguments = round.arguments.as_ref();
        use crate::config::filtering::{Exposure, Mode};
        use crate::hub::filtering::meta;
        // Every other call is a backend's: it pays for none of what follows.
        if !META_TOOLS.contains(&name) {
            return None;
        }
        let settings = self.hub.filtering.settings();
        let listing = self.hub.listing();
        let view = self.view();
        let visible = |n: &str| view.allows(&settings, &listing, n);
        let arg = |k: &str| arguments.and_then(|a| a.get(k));
        let search_mode = settings.exposure == Exposure::Search;
        match name {
            meta::SEARCH_TOOLS if search_mode => {
                let query = arg("query").and_then(|v| v.as_str()).unwrap_or_default();
                let category = arg("category").and_then(|v| v.as_str());
                let limit = arg("limit").and_then(|v| v.as_u64()).map(|n| n as usize);
                Some(Ok(CallToolResponse::Complete(structured_result(
                    meta::search(&listing, visible, query, category, limit),
                ))))
            }
            meta::DESCRIBE_TOOL if search_mode => {
                let Some(tool) = arg("name").and_then(|v| v.as_str()) else {
                    return Some(Err(HubError::invalid(
                        "describe_tool needs `name`: a tool name from search_tools",
                    )));
                };
                Some(
                    meta::describe(&listing, visible, tool)
                        .map(|v| CallToolResponse::Complete(structured_result(v)))
                        .map_err(|message| HubError::InvalidRequest {
                            message,
                            data: Some(json!({"tool": tool})),
                        }),
                )
            }
            meta::CALL_TOOL if search_mode => {
                let Some(tool) = arg("name").and_then(|v| v.as_str()) else {
                    return Some(Err(HubError::invalid(
                        "call_tool needs `name`: a tool name from search_tools",
                    )));
                };
                let arguments = match arg("arguments") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::Object(o)) => Some(o.clone()),
                    Some(_) => {
                        return Some(Err(HubError::invalid(
                            "call_tool: `arguments` must be an object",
                        )));
                    }
                };
                let mut params = CallToolRequestParams::new(tool.to_owned());
                params.arguments = arguments;
                // A question's answers come back through the same meta-tool call.
                params.input_responses = round.input_responses.clone();
                params.request_state = round.request_state.clone();
                let answer = self
                    .hub
                    .call_tool(params, self.caller(context), &view)
                    .await;
                Some(answer.map(tool_response))
            }
            meta::ANALYZE_PROMPT
                if listing.filtering_active
                    && settings.mode == Mode::PromptBased
                    && settings.meta_tools =>
            {
                let Some(prompt) = arg("prompt").and_then(|v| v.as_str()) else {
                    return Some(Err(HubError::invalid(
                        "hub__analyze_prompt needs `prompt`: the task in plain words",
                    )));
                };
                Some(Ok(CallToolResponse::Complete(
                    self.analyze_prompt(prompt, &listing, &context.peer).await,
                )))
            }
            _ => None,
        }
    }

    /// Prompt-based mode: picks the categories the task needs, shows this session
    /// only their tools, and tells this session (alone) that its list changed.
    async fn analyze_prompt(
        &self,
        prompt: &str,
        listing: &Listing,
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
        let exposed: Vec<&str> = listing
            .catalog
            .tools
            .iter()
            .map(|t| t.name.as_ref())
            .filter(|n| view.allows(&settings, listing, n))
            .collect();
        let _ = peer.notify_tool_list_changed().await;
        structured_result(json!({
            "categories": chosen.iter().map(|(c, why)| json!({"category": c, "reason": why})).collect::<Vec<_>>(),
            "exposedTools": exposed.len(),
            "tools": exposed,
            "message": format!("this session now sees {} tools of {}", exposed.len(), categories.join(", ")),
        }))
    }

    fn session(&self) -> Option<SessionId> {
        *self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A `tasks/*` request goes to the server that made the task.
    async fn to_task_owner<T, F, Fut>(&self, task: &str, send: F) -> Result<T, McpError>
    where
        F: FnOnce(crate::mcp::client::Handle, std::time::Duration) -> Fut,
        Fut: std::future::Future<Output = Result<T, crate::mcp::client::CallError>>,
    {
        let server = self.hub.task_owner(task)?;
        Ok(self.hub.request(&server, send).await?)
    }

    /// Who makes this request: a 2025-era session, or a stateless 2026-07-28 request
    /// whose `_meta` says what its client can do.
    fn caller(&self, context: &RequestContext<RoleServer>) -> Caller {
        let stateless = context
            .protocol_version()
            .is_some_and(|v| !v.has_initialize());
        Caller {
            session: self.session(),
            progress: context.meta.get_progress_token(),
            peer: Some(context.peer.clone()),
            modern: stateless.then(|| context.meta.clone()),
            rounds: None,
            cut: context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<StreamCut>())
                .cloned(),
        }
    }
}

fn tool_response(answer: Answer<CallToolResult>) -> CallToolResponse {
    match answer {
        Answer::Done(r) => CallToolResponse::Complete(r),
        Answer::Input(q) => CallToolResponse::InputRequired(q),
        Answer::Task(t) => CallToolResponse::Task(t),
    }
}

/// A prompt or a resource read cannot become a task.
fn no_task<R>(answer: Answer<R>) -> Result<Result<R, InputRequiredResult>, McpError> {
    match answer {
        Answer::Done(r) => Ok(Ok(r)),
        Answer::Input(q) => Ok(Err(q)),
        Answer::Task(_) => Err(McpError::internal_error(
            "the server answered with a task, which this request cannot be",
            None,
        )),
    }
}

impl Drop for HubService {
    fn drop(&mut self) {
        let http_id = self
            .http_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let (Some(direct), Some(http_id)) = (&self.direct, http_id) {
            direct.leave(&http_id);
        }
        let id = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(id) = id
            && let Some(name) = self.hub.sessions.unregister(id)
        {
            self.hub
                .metrics
                .active_clients
                .set(self.hub.sessions.count() as i64);
            tracing::info!(event = events::CLIENT_DISCONNECTED, client = %name, "client {name} disconnected");
        }
    }
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

impl rmcp::ServerHandler for HubService {
    fn get_info(&self) -> ServerConfig {
        crate::mcp::server::server_info()
    }

    // The SDK checks a 2026-07-28 request's `Mcp-Param-*` headers (SEP-2243) against
    // the called tool's schema, as the backend would: a mismatch is a 400 here.
    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        let listing = self.hub.listing();
        listing.listed_named(name)
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
            .sessions
            .register(context.peer.clone(), name.clone());
        if let Some(old) = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(id)
        {
            self.hub.sessions.unregister(old);
        }
        self.hub
            .metrics
            .active_clients
            .set(self.hub.sessions.count() as i64);
        tracing::info!(event = events::CLIENT_CONNECTED, client = %name, protocol = %request.protocol_version, "client {name} connected");
        self.negotiate_initialize(&request)
    }

    /// A streamable HTTP session is entered for the calls the front answers itself:
    /// its `notifications/initialized` is the first request that carries its id.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let (Some(direct), Some(session)) = (&self.direct, self.session()) else {
            return;
        };
        let Some(http_id) = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        direct.enter(
            http_id,
            Direct {
                session,
                peer: context.peer.clone(),
                view: self.view.clone(),
            },
        );
        *self.http_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(http_id.to_owned());
    }

    async fn list_tools(
        &self,
        params: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.hub.until_started().await;
        let (tools, next) = self.hub.visible_tools(&self.view(), cursor(&params)?);
        let mut r = ListToolsResult::with_all_items(tools);
        r.next_cursor = next.map(|n| n.to_string());
        Ok(r)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.hub.until_started().await;
        if let Some(r) = self.call_meta_tool(&request, &context).await {
            return r.map_err(McpError::from);
        }
        self.hub
            .call_tool(request, self.caller(&context), &self.view())
            .await
            .map(tool_response)
            .map_err(McpError::from)
    }

    async fn list_prompts(
        &self,
        params: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.hub.until_started().await;
        let listing = self.hub.listing();
        let (prompts, next) = page(
            listing.catalog.prompts.iter(),
            cursor(&params)?,
            Clone::clone,
        );
        let mut r = ListPromptsResult::with_all_items(prompts);
        r.next_cursor = next.map(|n| n.to_string());
        Ok(r)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.hub.until_started().await;
        let answer = self.hub.get_prompt(request, &self.caller(&context)).await?;
        Ok(match no_task(answer)? {
            Ok(r) => GetPromptResponse::Complete(r),
            Err(q) => GetPromptResponse::InputRequired(q),
        })
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        self.hub.until_started().await;
        Ok(self.hub.complete(request).await?)
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        // Backends that log are told the level; the hub forwards what they send.
        self.hub.set_level(request).await;
        Ok(())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.hub.until_started().await;
        match self.session() {
            Some(session) => self.hub.subscribe_resource(session, request).await?,
            // A sessionless client has no channel for updates to come back on: only
            // whether the resource exists is answered.
            None => drop(self.hub.resource_owner(&request.uri)?),
        }
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if let Some(session) = self.session() {
            self.hub.unsubscribe_resource(session, request).await?;
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
        let mut rx = self.hub.sessions.listen();
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

    async fn get_task(
        &self,
        mut request: rmcp::model::GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetTaskResult, McpError> {
        request.meta = None;
        let task = request.task_id.clone();
        let caller = self.caller(&context);
        self.to_task_owner(&task, |h, timeout| async move {
            h.get_task(request, timeout, &caller).await
        })
        .await
    }

    async fn update_task(
        &self,
        mut request: rmcp::model::UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        request.meta = None;
        let task = request.task_id.clone();
        let caller = self.caller(&context);
        self.to_task_owner(&task, |h, timeout| async move {
            h.update_task(request, timeout, &caller).await
        })
        .await
    }

    async fn cancel_task(
        &self,
        mut request: rmcp::model::CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        request.meta = None;
        let task = request.task_id.clone();
        let caller = self.caller(&context);
        self.to_task_owner(&task, |h, timeout| async move {
            h.cancel_task(request, timeout, &caller).await
        })
        .await
    }

    async fn list_resources(
        &self,
        params: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.hub.until_started().await;
        let listing = self.hub.listing();
        let (resources, next) = page(
            listing.catalog.resources.iter(),
            cursor(&params)?,
            Clone::clone,
        );
        let mut r = ListResourcesResult::with_all_items(resources);
        r.next_cursor = next.map(|n| n.to_string());
        Ok(r)
    }

    async fn list_resource_templates(
        &self,
        params: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        self.hub.until_started().await;
        let listing = self.hub.listing();
        let (templates, next) = page(
            listing.catalog.templates.iter(),
            cursor(&params)?,
            Clone::clone,
        );
        let mut r = ListResourceTemplatesResult::with_all_items(templates);
        r.next_cursor = next.map(|n| n.to_string());
        Ok(r)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.hub.until_started().await;
        let answer = self
            .hub
            .read_resource(request, &self.caller(&context))
            .await?;
        Ok(match no_task(answer)? {
            Ok(r) => ReadResourceResponse::Complete(r),
            Err(q) => ReadResourceResponse::InputRequired(q),
        })
    }
}

/// The `/mcp` endpoint of `hub`.
pub fn streamable_http_service(
    hub: Arc<Hub>,
    allowed_hosts: Vec<String>,
    max_body: usize,
    session_idle: std::time::Duration,
    cancel: tokio_util::sync::CancellationToken,
) -> (
    rmcp::transport::streamable_http_server::StreamableHttpService<
        HubService,
        rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
    >,
    Arc<crate::mcp::server::IdleSessions>,
    Arc<DirectSessions>,
) {
    let replay = Arc::new(crate::mcp::server::Replay::default());
    let direct = Arc::new(DirectSessions::new(replay.clone()));
    let sessions = direct.clone();
    let (service, idle) = crate::mcp::server::streamable_http_service(
        move || HubService::new(hub.clone(), Some(sessions.clone())),
        replay,
        allowed_hosts,
        max_body,
        session_idle,
        cancel,
    );
    (service, idle, direct)
}

/// The streamable HTTP sessions whose requests the front may answer itself, by the
/// `Mcp-Session-Id` the SDK gave them. A session is entered once initialized and
/// leaves when its handler goes.
pub struct DirectSessions {
    sessions: Mutex<std::collections::HashMap<String, Direct>>,
    /// Where the SDK keeps its streams for clients that resume them, and a slow call's
    /// stream written here is kept too.
    replay: Arc<crate::mcp::server::Replay>,
    streams: std::sync::atomic::AtomicU64,
}

/// What a call of a session needs of it: its hub session and peer (where a backend's
/// log messages and requests during the call go) and what it chose to see.
#[derive(Clone)]
struct Direct {
    session: SessionId,
    peer: Peer<RoleServer>,
    view: Arc<Mutex<SessionView>>,
}

impl DirectSessions {
    fn new(replay: Arc<crate::mcp::server::Replay>) -> DirectSessions {
        DirectSessions {
            sessions: Mutex::default(),
            replay,
            streams: Default::default(),
        }
    }

    /// A name for a new stream of session `http_id`, unlike any the SDK gives (a
    /// UUID for a request's stream, `<session>:common` for the standalone one).
    fn stream_name(&self, http_id: &str) -> String {
        let n = self
            .streams
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{http_id}:hub-{n}")
    }

    fn enter(&self, http_id: &str, session: Direct) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(http_id.to_owned(), session);
    }

    fn leave(&self, http_id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(http_id);
    }

    fn get(&self, http_id: &str) -> Option<Direct> {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(http_id)
            .cloned()
    }
}

/// The largest body the front reads to answer a request itself; past it the request
/// goes to the SDK unread. A `tools/list` is a few dozen bytes, most calls a few
/// hundred.
const ANSWERED_BODY: usize = 64 * 1024;

/// The methods `answered_by_hub` answers, as a body names them.
const TOOLS_LIST: &[u8] = br#""tools/list""#;
const TOOLS_CALL: &[u8] = br#""tools/call""#;

/// A `tools/list` request, as much of it as is read to answer it.
#[derive(serde::Deserialize)]
struct ToolsListRequest<'a> {
    jsonrpc: &'a str,
    id: &'a serde_json::value::RawValue,
    method: &'a str,
    #[serde(default)]
    params: Option<PaginatedRequestParams>,
}

/// A `tools/call` request.
#[derive(serde::Deserialize)]
struct ToolCallRequest<'a> {
    jsonrpc: &'a str,
    id: &'a serde_json::value::RawValue,
    method: &'a str,
    params: CallToolRequestParams,
}

/// `tools/list` and `tools/call` of an open session (the revisions with
/// `initialize`), answered by the hub rather than the SDK's server. The SDK's server
/// hands each request to the session's task, from there to a task of its own, and its
/// answer back through the session to a stream of its own: about 100 µs of the hub's
/// CPU per call, as much again as the call costs over REST. And it takes each tool as
/// its objects, which the hub would make from the texts only for the SDK to write them
/// again (a page of 1000 tools took 2 ms more that way). Written by hand because the
/// SDK's handler can only answer through that machinery, with its own types.
///
/// A page of tools, and a call answered within [`ANSWER_HOLD`], is a stream of one
/// event without the SDK's priming event and event id: a client cut off before it has
/// the answer asks again rather than resuming. A slower call's stream is as the SDK
/// writes it, resumable. Anything else, and any request this does not answer exactly
/// as the SDK would, goes on to the SDK as it came: no session
/// (or one not yet initialized), another revision, a body that is not one plain
/// request, a cursor that is not the hub's, sessions shown different tools; a call
/// with `_meta` (progress, a task) or the answers of an `input_required` round, of one
/// of the hub's own tools, or of a tool whose backend may not answer it in one message
/// (`Hub::answers_whole`).
pub async fn answered_by_hub(
    axum::extract::State((hub, idle, direct)): axum::extract::State<(
        Arc<Hub>,
        Arc<crate::mcp::server::IdleSessions>,
        Arc<DirectSessions>,
    )>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{Method, header};
    let headers = req.headers();
    let header_is = |name: header::HeaderName, ok: &dyn Fn(&str) -> bool| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(ok)
    };
    let candidate = req.method() == Method::POST
        && header_is(header::CONTENT_LENGTH, &|v| {
            v.parse::<usize>().is_ok_and(|n| n <= ANSWERED_BODY)
        })
        && header_is(header::CONTENT_TYPE, &|v| v.starts_with("application/json"))
        && header_is(header::ACCEPT, &|v| {
            v.contains("application/json") && v.contains("text/event-stream")
        })
        // Revisions with sessions: those with `initialize`.
        && headers.get("mcp-protocol-version").is_none_or(|v| {
            rmcp::model::ProtocolVersion::KNOWN_VERSIONS
                .iter()
                .any(|known| known.has_initialize() && v.as_bytes() == known.as_str().as_bytes())
        })
        && headers.contains_key("mcp-session-id");
    if !candidate {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ANSWERED_BODY).await else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            "the request body is not as long as its Content-Length says: send it whole",
        )
            .into_response();
    };
    let session = parts
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // Every request comes through here: only a body that names a method is read.
    let names = |method: &[u8]| memchr::memmem::find(&bytes, method).is_some();
    let mut answer = None;
    if names(TOOLS_CALL)
        && let Some(known) = direct.get(session)
    {
        answer = answer_tool_call(&hub, &direct, session, &known, &bytes).await;
    }
    if answer.is_none() && names(TOOLS_LIST) && idle.is_open(session) {
        answer = answer_tools_list(&hub, &bytes).await;
    }
    if let Some(answer) = answer {
        return answer;
    }
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// An id the SDK would take as it is: a number or a string.
fn plain_id(id: &serde_json::value::RawValue) -> bool {
    matches!(id.get().as_bytes().first(), Some(b'"' | b'-' | b'0'..=b'9'))
}

/// The answer to `body` if it is one `tools/list` request this can answer.
async fn answer_tools_list(hub: &Hub, body: &[u8]) -> Option<axum::response::Response> {
    let request: ToolsListRequest = serde_json::from_slice(body).ok()?;
    if request.jsonrpc != "2.0" || request.method != "tools/list" || !plain_id(request.id) {
        return None;
    }
    let from = cursor(&request.params).ok()?;
    hub.until_started().await;
    let page = hub.shared_tools_page(from)?;
    let mut out = Vec::with_capacity(64 * 1024);
    out.extend_from_slice(br#"data: {"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(request.id.get().as_bytes());
    out.extend_from_slice(br#","result":{"#);
    if let Some(next) = page.next {
        out.extend_from_slice(format!(r#""nextCursor":"{next}","#).as_bytes());
    }
    out.extend_from_slice(br#""tools":"#);
    page.write_json(&mut out);
    // serde_json writes no line breaks: the answer is one `data` line.
    out.extend_from_slice(b"}}\n\n");
    Some(event_stream(out))
}

/// The answer to `body` if it is one `tools/call` request this can answer: the call
/// made as the SDK's server would have the hub make it, and its answer shaped as the
/// SDK shapes it for a session of these revisions.
async fn answer_tool_call(
    hub: &Arc<Hub>,
    direct: &DirectSessions,
    http_id: &str,
    session: &Direct,
    body: &[u8],
) -> Option<axum::response::Response> {
    let request: ToolCallRequest = serde_json::from_slice(body).ok()?;
    let params = request.params;
    let plain =
        params.meta.is_none() && params.input_responses.is_none() && params.request_state.is_none();
    if request.jsonrpc != "2.0"
        || request.method != "tools/call"
        || !plain
        || META_TOOLS.contains(&params.name.as_ref())
    {
        return None;
    }
    let id: rmcp::model::RequestId = serde_json::from_str(request.id.get()).ok()?;
    hub.until_started().await;
    if !hub.answers_whole(&params.name) {
        return None;
    }
    let (hub, session) = (hub.clone(), session.clone());
    let mut call = Box::pin(async move { call_as_the_sdk_would(&hub, &session, params).await });
    if let Ok(answer) = tokio::time::timeout(ANSWER_HOLD, &mut call).await {
        // Not kept for resuming: the stream has no priming event to resume from.
        let event = crate::mcp::server::unkept_event(answer_message(id, answer));
        return Some(event_stream(event));
    }
    // A slow call: the stream's head and priming event now, as the SDK's (a client
    // times out waiting for the head, and resumes a broken stream from the priming
    // event's id), a keep-alive comment as often as the SDK's while the call runs,
    // then the answer. The call runs on if the client's stream breaks, and its answer
    // waits in the replay for the client to resume.
    let (replay, stream) = (direct.replay.clone(), direct.stream_name(http_id));
    let priming = replay.prime(&stream).await;
    let (answered, answer) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let message = answer_message(id, call.await);
        let _ = answered.send(replay.answer(&stream, message).await);
    });
    let every = crate::mcp::server::SSE_KEEP_ALIVE;
    let keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let rest = futures::stream::unfold(
        (Some(answer), keep_alive),
        |(answer, mut keep_alive)| async move {
            let mut answer = answer?;
            tokio::select! {
                event = &mut answer => Some((event.ok()?, (None, keep_alive))),
                _ = keep_alive.tick() => {
                    Some((bytes::Bytes::from_static(b":\n\n"), (Some(answer), keep_alive)))
                }
            }
        },
    );
    let events = futures::StreamExt::map(
        futures::StreamExt::chain(futures::stream::once(async { priming }), rest),
        Ok::<_, std::convert::Infallible>,
    );
    Some(event_stream(axum::body::Body::from_stream(events)))
}

/// How long the answer to a session's request is waited for before its stream's head
/// is sent, here for the calls the hub answers and in `front::http` for the SDK's
/// streams: a quick answer then leaves in one write with the head (a write, a TCP
/// segment and a client wake-up less per call); a slow one's head is only this late.
pub const ANSWER_HOLD: std::time::Duration = std::time::Duration::from_millis(20);

/// A session's call made as the SDK's server has the hub make it, and its outcome as
/// that server shapes it for a session of a revision before 2026-07-28.
async fn call_as_the_sdk_would(
    hub: &Arc<Hub>,
    session: &Direct,
    params: CallToolRequestParams,
) -> Result<ServerResult, McpError> {
    let caller = Caller {
        session: Some(session.session),
        peer: Some(session.peer.clone()),
        ..Caller::default()
    };
    let view = session
        .view
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let answer = hub.call_tool(params, caller, &view).await?;
    let tasks = || {
        session
            .peer
            .peer_info()
            .is_some_and(|info| info.capabilities.supports_tasks())
    };
    match tool_response(answer) {
        CallToolResponse::InputRequired(_) => Err(McpError::invalid_request(
            "InputRequiredResult requires negotiated protocol version 2026-07-28 or newer",
            None,
        )),
        CallToolResponse::Task(_) if !tasks() => Err(McpError::missing_required_client_capability(
            rmcp::model::ClientCapabilities::builder()
                .enable_tasks()
                .build(),
        )),
        response => {
            let mut result = ServerResult::from(response);
            result.strip_result_type_for_legacy_peer();
            result.strip_non_object_output_for_legacy_peer();
            Ok(result)
        }
    }
}

/// The message that answers request `id` with `answer`.
fn answer_message(
    id: rmcp::model::RequestId,
    answer: Result<ServerResult, McpError>,
) -> rmcp::model::ServerJsonRpcMessage {
    match answer {
        Ok(result) => rmcp::model::JsonRpcMessage::response(result, id),
        Err(error) => rmcp::model::JsonRpcMessage::error(error, Some(id)),
    }
}

/// An SSE answer whose events, already written, are `events`, with the SDK's headers.
fn event_stream(events: impl Into<axum::body::Body>) -> axum::response::Response {
    let events: axum::body::Body = events.into();
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/event-stream"),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        events,
    )
        .into_response()
}

/// mcp-hub's old HTTP+SSE transport for `hub`'s clients that still speak it.
pub fn legacy_sse(
    hub: Arc<Hub>,
    cancel: tokio_util::sync::CancellationToken,
) -> Arc<crate::mcp::legacy_sse::LegacySse<HubService>> {
    crate::mcp::legacy_sse::LegacySse::new(move || HubService::new(hub.clone(), None), cancel)
}

/// `mcphub serve --stdio`: one session over this process's stdin/stdout.
pub async fn serve_stdio(hub: Arc<Hub>) -> anyhow::Result<()> {
    crate::mcp::server::serve_stdio(HubService::new(hub, None)).await
}

/// Where a list request's page starts. The hub's cursors are the index of a page's
/// first item; anything else was not written by this hub.
fn cursor(params: &Option<PaginatedRequestParams>) -> Result<usize, McpError> {
    match params.as_ref().and_then(|p| p.cursor.as_deref()) {
        None => Ok(0),
        Some(c) => c.parse().map_err(|_| {
            McpError::invalid_params(
                format!("cursor `{c}` is not one this hub gave: list again without a cursor"),
                None,
            )
        }),
    }
}
