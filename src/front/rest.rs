//! mcp-hub's REST API (so its clients, such as mcphub.nvim, keep working) plus
//! `/api/metrics` (JSON for the toolkit) and `/metrics` (Prometheus).

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::api::metrics::{
    ClientFigures, Exposure, HubFigures, MetricsReport, ProcessFigures, ServerCounts, ToolCalls,
};
use crate::api::{HubState, ServerStatus};
use crate::hub::backends::{Backend, Snapshot};
use crate::hub::error::HubError;
use crate::hub::lifecycle::Hub;
use crate::mcp::client::Answer;
use crate::mcp::sessions::Caller;

pub fn routes(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/servers", get(servers))
        .route("/api/servers/info", post(server_info))
        .route("/api/servers/start", post(server_start))
        .route("/api/servers/stop", post(server_stop))
        .route("/api/servers/refresh", post(server_refresh))
        .route("/api/refresh", get(refresh_all))
        .route("/api/servers/tools", post(server_tool))
        .route("/api/servers/resources", post(server_resource))
        .route("/api/servers/prompts", post(server_prompt))
        .route("/api/restart", post(restart))
        .route("/api/hard-restart", post(hard_restart))
        .route("/api/events", get(events))
        .route("/api/workspaces", get(workspaces))
        .route("/api/marketplace", get(marketplace))
        .route("/api/marketplace/details", post(marketplace_details))
        .route("/api/servers/authorize", post(authorize))
        .route("/api/oauth/callback", get(oauth_callback))
        .route("/api/oauth/manual_callback", post(oauth_manual_callback))
        .route("/api/filtering/stats", get(filtering_stats))
        .route("/api/filtering/status", post(filtering_status))
        .route("/api/filtering/mode", post(filtering_mode))
        .route("/api/metrics", get(metrics_json))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .with_state(hub)
}

/// mcp-hub's error body: `{error, code, data, timestamp}`.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    data: Value,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            data: Value::Null,
        }
    }
    fn with_data(mut self, data: Value) -> ApiError {
        self.data = data;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(json!({
                "error": self.message,
                "code": self.code,
                "data": self.data,
                "timestamp": Utc::now().to_rfc3339(),
            })),
        )
            .into_response();
        // A rate limit's wait, in the data, is also the standard header.
        if let Some(ms) = self.data.get("retryAfterMs").and_then(Value::as_u64) {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(ms.div_ceil(1000).max(1)),
            );
        }
        resp
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("no such endpoint `{uri}`: see /api/health, /api/servers, /mcp"),
    )
}

/// The JSON body of a server request; a malformed body is a 400 that says why.
#[derive(Debug, Deserialize, Default)]
struct ServerRequest {
    server_name: Option<String>,
    tool: Option<String>,
    uri: Option<String>,
    prompt: Option<String>,
    arguments: Option<Map<String, Value>>,
    /// mcp-hub's per-request options; `timeout` (ms) replaces the server's.
    request_options: Option<RequestOptions>,
}

#[derive(Debug, Deserialize, Default)]
struct RequestOptions {
    timeout: Option<u64>,
}

impl ServerRequest {
    fn timeout(&self) -> Option<std::time::Duration> {
        self.request_options
            .as_ref()
            .and_then(|o| o.timeout)
            .map(std::time::Duration::from_millis)
    }
}

fn parse_body(body: &axum::body::Bytes) -> Result<ServerRequest, ApiError> {
    parse_json(body, "{\"server_name\": …}")
}

fn find_server(hub: &Hub, req: &ServerRequest) -> Result<Arc<Backend>, ApiError> {
    let name = req.server_name.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "missing `server_name` in the request body",
        )
    })?;
    hub.backend(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "SERVER_NOT_FOUND",
            format!("server `{name}` not found: GET /api/servers lists the configured servers"),
        )
        .with_data(json!({"server": name}))
    })
}

/// A [`HubError`] as mcp-hub's REST error: `what` (`tools/call`, …) names the request
/// in the message of errors that come from the server or the call.
fn api_error(what: &str, server: &str, e: HubError) -> ApiError {
    use HubError::*;
    let server = e.server().unwrap_or(server).to_owned();
    let (status, code) = match &e {
        Filtered { tool, .. } => {
            return ApiError::new(StatusCode::FORBIDDEN, "TOOL_FILTERED", e.to_string())
                .with_data(json!({"server": server, "tool": tool}));
        }
        CatalogUpdating { .. } => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "CATALOG_UPDATING",
                e.to_string(),
            )
            .with_data(json!({"server": server}));
        }
        NoSuchTool { tool, .. } => {
            return ApiError::new(StatusCode::NOT_FOUND, "TOOL_NOT_FOUND", e.to_string())
                .with_data(json!({"server": server, "tool": tool}));
        }
        NotConnected { reason, .. } => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVER_NOT_CONNECTED",
                reason.clone(),
            )
            .with_data(json!({"server": server}));
        }
        UnknownServer { .. } => (StatusCode::NOT_FOUND, "SERVER_NOT_FOUND"),
        UnknownTool { .. } | UnknownPrompt { .. } | NoResource { .. } | InvalidRequest { .. } => {
            (StatusCode::NOT_FOUND, "TOOL_NOT_FOUND")
        }
        Unavailable { .. } | ShuttingDown => {
            (StatusCode::SERVICE_UNAVAILABLE, "SERVER_NOT_CONNECTED")
        }
        // mcp-hub answers a timeout with a 500; a gateway's timeout is a 504, which
        // lets a client tell "too slow" from "failed".
        Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "TOOL_TIMEOUT"),
        RateLimited { retry_after, .. } => {
            return ApiError::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", e.to_string())
                .with_data(
                    json!({"server": server, "retryAfterMs": retry_after.as_millis() as u64}),
                );
        }
        // mcp-hub's: its marketplace and OAuth failures are all 500s with their own code.
        Marketplace { url, reason } => {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "MARKETPLACE_ERROR",
                e.to_string(),
            )
            .with_data(json!({"url": url, "error": reason}));
        }
        NoAuthorizationPending { .. } | AuthorizationFailed { .. } => {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                what_code(what),
                e.to_string(),
            )
            .with_data(json!({"server": server}));
        }
        // The server's own error: its JSON-RPC code says what kind of failure it is.
        Backend { error, .. } => match error.code.0 {
            -32602 => (StatusCode::NOT_FOUND, "TOOL_NOT_FOUND"),
            -32000 => (StatusCode::SERVICE_UNAVAILABLE, "SERVER_NOT_CONNECTED"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "TOOL_EXECUTION_ERROR"),
        },
    };
    let rpc = e.to_jsonrpc();
    ApiError::new(
        status,
        code,
        if server.is_empty() {
            format!("{what} failed: {}", rpc.message)
        } else {
            format!("{what} on `{server}` failed: {}", rpc.message)
        },
    )
    .with_data(json!({"server": server, "mcpCode": rpc.code.0, "mcpData": rpc.data}))
}

/// One server in mcp-hub's shape, serialized straight from the backend's snapshot:
/// health is polled often, and a JSON tree of every tool's schema per poll cost more
/// than the rest of the request. Secrets (env, headers) are never included.
#[derive(Serialize)]
pub struct ServerView<'a> {
    name: &'a str,
    #[serde(rename = "displayName")]
    display_name: String,
    description: String,
    status: &'static str,
    error: Option<&'a str>,
    #[serde(rename = "transportType")]
    transport_type: &'static str,
    uptime: u64,
    #[serde(rename = "lastStarted")]
    last_started: Option<String>,
    reconnects: u64,
    pid: Option<u32>,
    prefix: String,
    capabilities: Capabilities<'a>,
    #[serde(rename = "serverInfo")]
    server_info: &'a Value,
    #[serde(rename = "protocolVersion")]
    protocol_version: Option<&'a str>,
    config_source: String,
    /// Where to sign the server in, while an OAuth server waits for it (mcp-hub's).
    #[serde(rename = "authorizationUrl")]
    authorization_url: Option<String>,
}

/// Most bytes of servers' `capabilities` (their full tool, resource and prompt lists)
/// one answer about every server carries (`/api/health`, `/api/servers`). Past it, the
/// next servers' lists are summarized, so that those answers stay small however large
/// the catalog grows (100 servers of 200 tools with 1 kB descriptions are 20 MB);
/// `/api/servers/info` still gives one server's whole lists. A few dozen servers of
/// ordinary size fit well within it.
pub const CAPABILITIES_BUDGET: usize = 2 * 1024 * 1024;

/// A server's `capabilities`, whole or summarized.
#[derive(Serialize)]
#[serde(untagged)]
enum Capabilities<'a> {
    Whole(&'a serde_json::value::RawValue),
    /// mcp-hub's four lists, empty, and what they would hold.
    Summarized {
        tools: [(); 0],
        resources: [(); 0],
        #[serde(rename = "resourceTemplates")]
        resource_templates: [(); 0],
        prompts: [(); 0],
        summarized: Summary,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    tools: usize,
    resources: usize,
    resource_templates: usize,
    prompts: usize,
    why: String,
}

impl<'a> ServerView<'a> {
    /// The server with its whole lists.
    pub fn new(b: &'a Backend, s: &'a Snapshot) -> ServerView<'a> {
        let mut unlimited = usize::MAX;
        Self::within(b, s, &mut unlimited)
    }

    /// The server with its whole lists if they fit in what is left of `budget` bytes
    /// (which they use up), else summarized.
    fn within(b: &'a Backend, s: &'a Snapshot, budget: &mut usize) -> ServerView<'a> {
        static NULL: Value = Value::Null;
        let identity = s.identity.as_ref();
        let size = s.offer.json_len();
        let capabilities = if size <= *budget {
            *budget -= size;
            Capabilities::Whole(s.offer.json())
        } else {
            *budget = 0;
            Capabilities::Summarized {
                tools: [],
                resources: [],
                resource_templates: [],
                prompts: [],
                summarized: Summary {
                    tools: s.offer.tools.len(),
                    resources: s.offer.resources.len(),
                    resource_templates: s.offer.templates.len(),
                    prompts: s.offer.prompts.len(),
                    why: format!(
                        "the servers' lists are over {} MiB in all; POST /api/servers/info {{\"server_name\": \"{}\"}} gives this one's",
                        CAPABILITIES_BUDGET / (1024 * 1024),
                        b.name
                    ),
                },
            }
        };
        ServerView {
            name: &b.name,
            display_name: b.entry.display_name(),
            description: b.entry.description().unwrap_or_default(),
            status: s.status.as_str(),
            error: s.error.as_deref(),
            transport_type: identity.map_or(b.entry.transport_kind(), |i| i.transport),
            uptime: s.connected_at.map(|t| t.elapsed().as_secs()).unwrap_or(0),
            last_started: s.last_started.map(|t| t.to_rfc3339()),
            reconnects: s.reconnects,
            pid: s.pid,
            prefix: b.entry.prefix(),
            capabilities,
            server_info: identity.map_or(&NULL, |i| &i.server_info),
            protocol_version: identity
                .map(|i| i.protocol_version.as_str())
                .filter(|v| !v.is_empty()),
            config_source: b.entry.source.display().to_string(),
            authorization_url: s.authorization_url.clone(),
        }
    }

    /// Every server, within [`CAPABILITIES_BUDGET`].
    fn all(backends: &'a [Arc<Backend>], snapshots: &'a [Snapshot]) -> Vec<ServerView<'a>> {
        let mut budget = CAPABILITIES_BUDGET;
        backends
            .iter()
            .zip(snapshots)
            .map(|(b, s)| ServerView::within(b, s, &mut budget))
            .collect()
    }
}

/// One server as a JSON value, for the endpoints that answer about one server.
pub fn server_json(b: &Backend) -> Value {
    let s = b.snapshot();
    serde_json::to_value(ServerView::new(b, &s)).unwrap_or(Value::Null)
}

#[derive(Serialize)]
struct HealthView<'a> {
    status: &'static str,
    state: &'static str,
    server_id: &'a str,
    version: &'static str,
    #[serde(rename = "activeClients")]
    active_clients: usize,
    timestamp: String,
    servers: Vec<ServerView<'a>>,
    connections: ConnectionsView,
    #[serde(rename = "mcpEndpoint")]
    mcp_endpoint: EndpointView,
    workspaces: WorkspacesView<'a>,
    pid: u32,
    port: u16,
    uptime_s: u64,
    config_files: Vec<std::path::PathBuf>,
    tools: Exposure,
    /// What answers: `version` above is the mcp-hub API version it implements.
    implementation: Implementation,
}

#[derive(Serialize)]
struct Implementation {
    name: &'static str,
    version: &'static str,
}

/// mcp-hub's `connections`: the clients of `/api/events`; mcphub adds the servers'
/// counts.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionsView {
    total_connections: usize,
    connections: Vec<crate::hub::lifecycle::EventsClient>,
    connected: usize,
    total: usize,
}

/// mcp-hub's `mcpEndpoint`: what `/mcp` serves; mcphub adds its address.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EndpointView {
    active_clients: usize,
    registered_capabilities: CapabilityCounts,
    total_capabilities: usize,
    url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CapabilityCounts {
    tools: usize,
    resources: usize,
    resource_templates: usize,
    prompts: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkspacesView<'a> {
    current: String,
    /// By port, as mcp-hub keys `workspaces.json` (and its clients read it).
    all_active: std::collections::BTreeMap<String, &'a crate::state::WorkspaceEntry>,
}

async fn health(State(hub): State<Arc<Hub>>) -> Response {
    let backends = hub.backends();
    let snapshots: Vec<Snapshot> = backends.iter().map(|b| b.snapshot()).collect();
    let connected = snapshots
        .iter()
        .filter(|s| s.status == ServerStatus::Connected)
        .count();
    let clients = hub.sessions.count();
    let port = hub.port();
    let state = hub.state();
    let live_workspaces = hub.live_workspaces();
    let view = HealthView {
        status: if state == HubState::Error {
            "error"
        } else {
            "ok"
        },
        state: state.as_str(),
        server_id: &hub.server_id,
        version: crate::api::MCP_HUB_API_VERSION,
        active_clients: clients,
        timestamp: Utc::now().to_rfc3339(),
        servers: ServerView::all(&backends, &snapshots),
        connections: {
            let events_clients = hub.events_clients();
            ConnectionsView {
                total_connections: events_clients.len(),
                connections: events_clients,
                connected,
                total: backends.len(),
            }
        },
        mcp_endpoint: {
            let listing = hub.listing();
            let c = &listing.catalog;
            let counts = CapabilityCounts {
                tools: c.tools.len(),
                resources: c.resources.len(),
                resource_templates: c.templates.len(),
                prompts: c.prompts.len(),
            };
            EndpointView {
                active_clients: clients,
                total_capabilities: counts.tools
                    + counts.resources
                    + counts.resource_templates
                    + counts.prompts,
                registered_capabilities: counts,
                url: format!("http://127.0.0.1:{port}/mcp"),
            }
        },
        workspaces: WorkspacesView {
            current: port.to_string(),
            all_active: live_workspaces
                .iter()
                .map(|e| (e.port.to_string(), e))
                .collect(),
        },
        pid: std::process::id(),
        port,
        uptime_s: hub.started.elapsed().as_secs(),
        config_files: hub.options.config_files.present(),
        tools: hub.listing().exposure(),
        implementation: Implementation {
            name: "mcphub",
            version: env!("CARGO_PKG_VERSION"),
        },
    };
    json_response(&view)
}

/// A JSON answer serialized from borrowed data (no intermediate tree).
fn json_response(v: &impl Serialize) -> Response {
    // Sized from the last answer: health polls repeat the same shape, and growing the
    // buffer from empty copied it over and over (about 7% of a health request's CPU).
    static LAST_LEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1024);
    let mut body = Vec::with_capacity(LAST_LEN.load(std::sync::atomic::Ordering::Relaxed) + 256);
    if serde_json::to_writer(&mut body, v).is_err() {
        body.clear();
    }
    LAST_LEN.store(body.len(), std::sync::atomic::Ordering::Relaxed);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn servers(State(hub): State<Arc<Hub>>) -> Response {
    #[derive(Serialize)]
    struct ServersView<'a> {
        servers: Vec<ServerView<'a>>,
        timestamp: String,
    }
    let backends = hub.backends();
    let snapshots: Vec<Snapshot> = backends.iter().map(|b| b.snapshot()).collect();
    json_response(&ServersView {
        servers: ServerView::all(&backends, &snapshots),
        timestamp: Utc::now().to_rfc3339(),
    })
}

async fn server_info(State(hub): State<Arc<Hub>>, body: axum::body::Bytes) -> ApiResult {
    let req = parse_body(&body)?;
    let b = find_server(&hub, &req)?;
    Ok(Json(
        json!({"server": server_json(&b), "timestamp": Utc::now().to_rfc3339()}),
    ))
}

/// mcp-hub's answer to a server action: the server as it is now.
fn server_ok(b: &Backend) -> Json<Value> {
    Json(json!({"status": "ok", "server": server_json(b), "timestamp": Utc::now().to_rfc3339()}))
}

/// mcp-hub's start: a disabled server is enabled in its config file, as mcp-hub does.
async fn server_start(State(hub): State<Arc<Hub>>, body: axum::body::Bytes) -> ApiResult {
    let req = parse_body(&body)?;
    let b = find_server(&hub, &req)?;
    // As mcp-hub does, whether the start worked or not.
    let _told = Told(&hub, &b.name);
    // As mcp-hub does, the answer waits for the server to connect (or fail).
    if b.entry.disabled() {
        hub.set_disabled(&b.name, false)
            .map_err(|e| config_error(&b.name, e))?;
        let b = find_server(&hub, &req)?;
        hub.until_settled(&b).await;
        return Ok(server_ok(&b));
    }
    b.resume();
    hub.until_settled(&b).await;
    Ok(server_ok(&b))
}

#[derive(Deserialize, Default)]
struct StopQuery {
    #[serde(default)]
    disable: Option<String>,
}

/// mcp-hub's stop; `?disable=true` also records `"disabled": true` in its config file.
async fn server_stop(
    State(hub): State<Arc<Hub>>,
    axum::extract::Query(q): axum::extract::Query<StopQuery>,
    body: axum::body::Bytes,
) -> ApiResult {
    let req = parse_body(&body)?;
    let b = find_server(&hub, &req)?;
    let _told = Told(&hub, &b.name);
    if q.disable.as_deref() == Some("true") {
        hub.set_disabled(&b.name, true)
            .map_err(|e| config_error(&b.name, e))?;
        let b = find_server(&hub, &req)?;
        return Ok(server_ok(&b));
    }
    b.pause();
    // As mcp-hub does, the answer waits for the server to be stopped.
    hub.until_status(&b, |s| {
        matches!(s, ServerStatus::Disconnected | ServerStatus::Disabled)
    })
    .await;
    Ok(server_ok(&b))
}

/// Tells the events' clients that `server` changed, when the action on it ends.
struct Told<'a>(&'a Hub, &'a str);

impl Drop for Told<'_> {
    fn drop(&mut self) {
        self.0.server_modified(self.1);
    }
}

/// A config file that could not be written or read again.
fn config_error(server: &str, e: crate::config::ConfigError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "CONFIG_ERROR", e.to_string())
        .with_data(json!({"server": server}))
}

async fn server_refresh(State(hub): State<Arc<Hub>>, body: axum::body::Bytes) -> ApiResult {
    let req = parse_body(&body)?;
    let b = find_server(&hub, &req)?;
    b.handle().map_err(|reason| {
        api_error(
            "refresh",
            &b.name,
            HubError::NotConnected {
                server: b.name.clone(),
                reason,
            },
        )
    })?;
    b.refresh_offer()
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "REFRESH_FAILED", e))?;
    hub.rebuild_catalog();
    Ok(server_ok(&b))
}

/// mcp-hub's `GET /api/refresh`: every server's offer asked for again; a server that
/// cannot answer is listed with its error, as mcp-hub lists it.
async fn refresh_all(State(hub): State<Arc<Hub>>) -> ApiResult {
    let _inflight = hub.begin_call().map_err(|e| api_error("refresh", "", e))?;
    let backends = hub.backends();
    let refreshed = futures::future::join_all(backends.iter().map(|b| async move {
        match b.refresh_offer().await {
            Ok(()) => server_json(b),
            Err(e) => json!({"name": b.name, "status": "error", "error": e}),
        }
    }))
    .await;
    hub.rebuild_catalog();
    Ok(Json(
        json!({"status": "ok", "servers": refreshed, "timestamp": Utc::now().to_rfc3339()}),
    ))
}

/// A backend's result as mcp-hub's REST clients know it: the 2026-07-28 `resultType`
/// marker the hub adds for modern MCP clients is not part of that shape.
fn rest_result(result: &impl serde::Serialize) -> Value {
    let mut v = serde_json::to_value(result).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("resultType");
    }
    v
}

async fn server_tool(State(hub): State<Arc<Hub>>, body: axum::body::Bytes) -> ApiResult {
    let req = parse_body(&body)?;
    let b = find_server(&hub, &req)?;
    let tool = req.tool.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "missing `tool` in the request body",
        )
    })?;
    let result = hub
        .call_server_tool(&b.name, &tool, req.arguments.clone(), req.timeout())
        .await
        .map_err(|e| match e {
            // A refusal about this tool names it as the request did.
            HubError::CatalogUpdating { .. } | HubError::Filtered { .. } => {
                let mut api = api_error("tools/call", &b.name, e);
                api.data = json!({"server": b.name, "tool": tool});
                api
            }
            // mcp-hub's: with the tools the server has, for the caller to pick from.
            HubError::NoSuchTool { .. } => {
                let mut api = api_error("tools/call", &b.name, e);
                let available: Vec<String> = b
                    .offer()
                    .tools
                    .iter()
                    .map(|t| t.name().to_string())
                    .collect();
                api.data = json!({"server": b.name, "tool": tool, "availableTools": available});
                api
            }
            e => api_error("tools/call", &b.name, e),
        })?;
    Ok(Json(
        json!({"result": rest_result(&result), "timestamp": Utc::now().to_rfc3339()}),
    ))
}

async fn server_resource(State(hub): State<Arc<Hub>>, body: axum::body::Bytes) -> ApiResult {
    let req = parse_body(&body)?;
    let b = find_server(&hub, &req)?;
    let uri = req.uri.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "missing `uri` in the request body",
        )
    })?;
    let result = hub
        .request(&b.name, |h, timeout| async move {
            let caller = Caller::default();
            h.read_resource(rmcp_read(uri), req.timeout().unwrap_or(timeout), &caller)
                .await
                .and_then(Answer::into_done)
        })
        .await
        .map_err(|e| api_error("resources/read", &b.name, e))?;
    Ok(Json(
        json!({"result": rest_result(&result), "timestamp": Utc::now().to_rfc3339()}),
    ))
}

fn rmcp_read(uri: String) -> crate::mcp::model::ReadResourceRequestParams {
    serde_json::from_value(json!({"uri": uri}))
        .unwrap_or_else(|_| unreachable!("a uri string is always a valid request"))
}

async fn server_prompt(State(hub): State<Arc<Hub>>, body: axum::body::Bytes) -> ApiResult {
    let req = parse_body(&body)?;
    let b = find_server(&hub, &req)?;
    let prompt = req.prompt.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "missing `prompt` in the request body",
        )
    })?;
    let params: crate::mcp::model::GetPromptRequestParams = serde_json::from_value(
        json!({"name": prompt, "arguments": req.arguments}),
    )
    .map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("prompt arguments must be strings: {e}"),
        )
    })?;
    let result = hub
        .request(&b.name, |h, timeout| async move {
            let caller = Caller::default();
            h.get_prompt(params, req.timeout().unwrap_or(timeout), &caller)
                .await
                .and_then(Answer::into_done)
        })
        .await
        .map_err(|e| api_error("prompts/get", &b.name, e))?;
    Ok(Json(
        json!({"result": rest_result(&result), "timestamp": Utc::now().to_rfc3339()}),
    ))
}

async fn restart(State(hub): State<Arc<Hub>>) -> ApiResult {
    match hub.restart() {
        Ok(summary) => Ok(Json(
            json!({"status": "ok", "changes": summary, "timestamp": Utc::now().to_rfc3339()}),
        )),
        Err(e) => {
            tracing::error!(event = crate::api::events::CONFIG_ERROR, error = %e, "config reload refused: {e}");
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "CONFIG_ERROR",
                format!("config not reloaded, the running servers are unchanged: {e}"),
            ))
        }
    }
}

/// mcp-hub's: the hub shuts down (gracefully, after this answer) to be started again
/// by whoever started it.
async fn hard_restart(State(hub): State<Arc<Hub>>) -> Json<Value> {
    hub.hard_restart();
    Json(json!({"status": "ok", "timestamp": Utc::now().to_rfc3339()}))
}

async fn events(State(hub): State<Arc<Hub>>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    use tokio_stream::StreamExt;
    use tokio_stream::wrappers::BroadcastStream;
    let first = Event::default().event("hub_state").data(
        json!({"state": hub.state().as_str(), "server_id": hub.server_id, "pid": std::process::id(), "port": hub.port(), "timestamp": Utc::now().to_rfc3339()})
            .to_string(),
    );
    let (events, listening) = hub.listen();
    // Each event with whether it is the hub's last (`stopping`): the stream ends after
    // it, so that shutdown does not wait on clients that cannot hear anything more.
    let hub_events = BroadcastStream::new(events).filter_map(move |ev| {
        // Held by the stream: the client counts as listening until it goes.
        let _listening = &listening;
        ev.ok().map(|ev| {
            let last = ev.event == "hub_state" && ev.data["state"] == "stopping";
            (
                Event::default().event(ev.event).data(ev.data.to_string()),
                last,
            )
        })
    });
    let logs =
        BroadcastStream::new(crate::telemetry::log::log_events().subscribe()).filter_map(|v| {
            v.ok()
                .map(|v| (Event::default().event("log").data(v.to_string()), false))
        });
    // Ends right after the hub's last event, without waiting for another.
    let events = tokio_stream::once((first, false)).chain(hub_events.merge(logs));
    let stream = futures::stream::unfold(
        (Box::pin(events), false),
        |(mut events, ended)| async move {
            if ended {
                return None;
            }
            let (event, last) = futures::StreamExt::next(&mut events).await?;
            Some((Ok::<_, Infallible>(event), (events, last)))
        },
    );
    Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(std::time::Duration::from_secs(10))
            .event(Event::default().event("heartbeat").data("{}")),
    )
}

/// The error code mcp-hub gives a failed OAuth step.
fn what_code(what: &str) -> &'static str {
    match what {
        "authorize" => "OPEN_REQUEST_ERROR",
        _ => "MANUAL_OAUTH_CALLBACK_ERROR",
    }
}

async fn marketplace(
    State(hub): State<Arc<Hub>>,
    axum::extract::Query(q): axum::extract::Query<crate::hub::marketplace::Query>,
) -> ApiResult {
    let servers = hub
        .marketplace
        .catalog(&q)
        .await
        .map_err(|e| api_error("marketplace", "", e))?;
    Ok(Json(
        json!({"servers": servers, "timestamp": Utc::now().to_rfc3339()}),
    ))
}

async fn marketplace_details(State(hub): State<Arc<Hub>>, body: axum::body::Bytes) -> ApiResult {
    #[derive(Deserialize, Default)]
    struct Details {
        #[serde(rename = "mcpId")]
        mcp_id: Option<String>,
    }
    let req: Details = parse_json(&body, "{\"mcpId\": …}")?;
    let id = req.mcp_id.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "missing `mcpId` in the request body: GET /api/marketplace lists the ids",
        )
    })?;
    let server = hub
        .marketplace
        .details(&id)
        .await
        .map_err(|e| api_error("marketplace details", "", e))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                format!("the marketplace has no server `{id}`: GET /api/marketplace lists the ids"),
            )
            .with_data(json!({"mcpId": id}))
        })?;
    Ok(Json(
        json!({"server": server, "timestamp": Utc::now().to_rfc3339()}),
    ))
}

/// mcp-hub's authorize: the address to sign the server in at (mcp-hub also opens it
/// in a browser on the hub's machine; mcphub leaves that to the client, which may
/// not be on the same machine).
async fn authorize(State(hub): State<Arc<Hub>>, body: axum::body::Bytes) -> ApiResult {
    let req = parse_body(&body)?;
    let name = req.server_name.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "missing `server_name` in the request body",
        )
        .with_data(json!({"field": "server_name"}))
    })?;
    let url = hub
        .authorization_url(name)
        .map_err(|e| api_error("authorize", name, e))?;
    Ok(Json(json!({"authorizationUrl": url})))
}

/// The `code`, `state`, `iss` and `server_name` of an authorization server's redirect.
#[derive(Deserialize, Default)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    /// RFC 9207: the authorization server names itself in its redirect, and a server
    /// whose metadata says it does is refused without it (a mix-up attack's defence).
    iss: Option<String>,
    server_name: Option<String>,
}

impl Callback {
    /// `(code, server, state, iss)`; `state` may be absent (mcp-hub's callbacks were
    /// written without it), and then the exchange is refused by the state check.
    fn parts(&self) -> Result<(&str, &str, &str, Option<&str>), ApiError> {
        match (self.code.as_deref(), self.server_name.as_deref()) {
            (Some(code), Some(server)) if !code.is_empty() && !server.is_empty() => Ok((
                code,
                server,
                self.state.as_deref().unwrap_or(""),
                self.iss.as_deref(),
            )),
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "missing `code` or `server_name` parameter: paste the whole address the browser was sent back to",
            )),
        }
    }
}

/// The browser lands here after signing in: a page that says how it went.
async fn oauth_callback(
    State(hub): State<Arc<Hub>>,
    axum::extract::Query(cb): axum::extract::Query<Callback>,
) -> Response {
    let outcome = match cb.parts() {
        Ok((code, server, state, iss)) => hub
            .finish_authorization(server, code, state, iss)
            .await
            .map(|()| server.to_owned())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.message),
    };
    let (status, title, text) = match &outcome {
        Ok(server) => {
            hub.server_modified(server);
            (
                StatusCode::OK,
                "Authorization successful",
                format!("mcphub is connecting to `{server}`. You may close this window."),
            )
        }
        Err(e) => (StatusCode::BAD_REQUEST, "Authorization failed", e.clone()),
    };
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1><p>{}</p></body></html>",
        html_escape(&text)
    );
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// For a browser on another machine: the user pastes the address it was sent back to.
async fn oauth_manual_callback(State(hub): State<Arc<Hub>>, body: axum::body::Bytes) -> ApiResult {
    #[derive(Deserialize, Default)]
    struct Manual {
        url: Option<String>,
    }
    let req: Manual = parse_json(&body, "{\"url\": …}")?;
    let raw = req.url.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "missing `url` in the request body: the address the browser was sent back to",
        )
        .with_data(json!({"field": "url"}))
    })?;
    let url = reqwest::Url::parse(&raw).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("`url` is not an address ({e}): paste the whole address the browser was sent back to"),
        )
        .with_data(json!({"url": raw}))
    })?;
    let mut cb = Callback::default();
    for (k, v) in url.query_pairs() {
        match &*k {
            "code" => cb.code = Some(v.into_owned()),
            "state" => cb.state = Some(v.into_owned()),
            "iss" => cb.iss = Some(v.into_owned()),
            "server_name" => cb.server_name = Some(v.into_owned()),
            _ => {}
        }
    }
    let (code, server, state, iss) = cb.parts().map_err(|e| e.with_data(json!({"url": raw})))?;
    hub.finish_authorization(server, code, state, iss)
        .await
        .map_err(|e| {
            let mut api = api_error("oauth callback", server, e);
            api.data = json!({"server": server, "url": raw});
            api
        })?;
    hub.server_modified(server);
    Ok(Json(json!({
        "status": "ok",
        "message": format!("Authorization successful for server '{server}'"),
        "server_name": server,
        "timestamp": Utc::now().to_rfc3339(),
    })))
}

/// A JSON body of the form `shape`; an empty body reads as all fields absent.
fn parse_json<T: serde::de::DeserializeOwned + Default>(
    body: &axum::body::Bytes,
    shape: &str,
) -> Result<T, ApiError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("the request body is not valid JSON of the form {shape}: {e}"),
        )
    })
}

async fn workspaces(State(hub): State<Arc<Hub>>) -> Json<Value> {
    Json(json!({"workspaces": hub.workspaces_by_port(), "timestamp": Utc::now().to_rfc3339()}))
}

async fn metrics_json(State(hub): State<Arc<Hub>>) -> Json<MetricsReport> {
    let (total, ok) = hub.metrics.calls();
    let process = crate::telemetry::sample_process(std::process::id()).unwrap_or_default();
    let backends = hub.backends();
    let by_status = |s: ServerStatus| backends.iter().filter(|b| b.status() == s).count();
    Json(MetricsReport {
        timestamp: Utc::now().to_rfc3339(),
        hub: HubFigures {
            state: hub.state().as_str().to_owned(),
            pid: std::process::id(),
            port: hub.port(),
            uptime_s: hub.started.elapsed().as_secs(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        process: ProcessFigures {
            rss_bytes: process.rss_bytes,
            cpu_seconds: process.cpu_seconds,
        },
        clients: ClientFigures {
            active: hub.sessions.count(),
        },
        servers: ServerCounts {
            total: backends.len(),
            connected: by_status(ServerStatus::Connected),
            connecting: by_status(ServerStatus::Connecting),
            disconnected: by_status(ServerStatus::Disconnected),
            disabled: by_status(ServerStatus::Disabled),
        },
        tools: hub.listing().exposure(),
        tool_calls: ToolCalls {
            total,
            success: ok,
            failed: total - ok,
        },
        tool_call_latency: hub.metrics.latency(),
        llm: hub.metrics.llm_report(),
    })
}

async fn metrics_text(
    State(hub): State<Arc<Hub>>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    hub.metrics.active_clients.set(hub.sessions.count() as i64);
    let openmetrics = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            hub.metrics.encode(),
        )
    } else {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            hub.metrics.encode_text_004(),
        )
    }
}

async fn filtering_stats(State(hub): State<Arc<Hub>>) -> Json<Value> {
    let mut v = hub.filtering.stats(&hub.listing());
    if let Some(o) = v.as_object_mut() {
        o.insert("timestamp".into(), json!(Utc::now().to_rfc3339()));
    }
    Json(v)
}

/// The fork's `POST /api/filtering/status {"enabled": bool}`: turns filtering on or
/// off for this run (the servers file is not rewritten; a restart reads it again).
async fn filtering_status(State(hub): State<Arc<Hub>>, body: axum::body::Bytes) -> ApiResult {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let enabled = v["enabled"].as_bool().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "the body must be {\"enabled\": true} or {\"enabled\": false}",
        )
    })?;
    hub.update_filtering(|s| s.enabled = Some(enabled));
    Ok(filtering_stats(State(hub)).await)
}

/// The fork's `POST /api/filtering/mode {"mode": …}`, for this run.
async fn filtering_mode(State(hub): State<Arc<Hub>>, body: axum::body::Bytes) -> ApiResult {
    use crate::config::filtering::Mode;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mode = v["mode"].as_str().and_then(Mode::parse).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!(
                "the body must be {{\"mode\": …}} with one of {}",
                Mode::ALL.join(", ")
            ),
        )
    })?;
    hub.update_filtering(|s| s.mode = mode);
    Ok(filtering_stats(State(hub)).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An authorization server that names itself in its redirect (RFC 9207) is refused
    /// by the SDK unless the name reaches it: the callback keeps it.
    #[test]
    fn a_redirect_keeps_the_issuer_the_authorization_server_named_itself_by() {
        let uri: axum::http::Uri =
            "/api/oauth/callback?server_name=gh&code=c&state=s&iss=https%3A%2F%2Fauth.example"
                .parse()
                .unwrap();
        let axum::extract::Query(cb) =
            axum::extract::Query::<Callback>::try_from_uri(&uri).unwrap();
        assert_eq!(
            cb.parts().ok(),
            Some(("c", "gh", "s", Some("https://auth.example")))
        );
    }
}
