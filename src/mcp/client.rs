//! One live MCP client connection to a backend server, stdio or streamable HTTP.

use crate::telemetry::error_causes;
use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ClientRequest,
    GetPromptRequestParams, GetPromptResult, Implementation, LoggingMessageNotificationParam,
    ProgressNotificationParam, ProgressToken, Prompt, ReadResourceRequestParams,
    ReadResourceResult, Resource, ResourceTemplate, ResourceUpdatedNotificationParam, ResultType,
    ServerResult, Tool,
};
use rmcp::model::{
    CompleteRequestParams, CompleteResult, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequestParams, ElicitResult, ErrorCode, ListRootsResult, SetLevelRequestParams,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::{
    NotificationContext, Peer, PeerRequestOptions, RequestContext, RoleClient, RoleServer,
    RunningService, RunningServiceCancellationToken, ServiceError, ServiceExt,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use super::model::McpError;
use super::sessions::Sessions;
use crate::config::RemoteMode;

/// What a backend tells the hub outside of a request's answer.
#[derive(Debug)]
pub enum Notice {
    ToolsChanged,
    ResourcesChanged,
    PromptsChanged,
    ResourceUpdated(ResourceUpdatedNotificationParam),
}

/// The client side handler: passes the backend's notifications to the hub, and its
/// requests (sampling, elicitation, roots) to the client session that caused them.
struct UpstreamHandler {
    server: String,
    notices: mpsc::UnboundedSender<Notice>,
    sessions: Arc<Sessions>,
}

fn relay_error(e: ServiceError) -> McpError {
    match e {
        ServiceError::McpError(e) => e,
        other => McpError::internal_error(format!("the client did not answer: {other}"), None),
    }
}

impl UpstreamHandler {
    fn caller(&self, what: &str) -> Result<Peer<RoleServer>, McpError> {
        self.sessions.caller_for(&self.server).ok_or_else(|| {
            McpError::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("{what}: no client session of the hub has a call in flight on `{}` to answer it", self.server),
                None,
            )
        })
    }
}

impl rmcp::ClientHandler for UpstreamHandler {
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        let peer = self.caller("sampling/createMessage")?;
        peer.create_message(params).await.map_err(relay_error)
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        let peer = self.caller("elicitation/create")?;
        peer.create_elicitation(params).await.map_err(relay_error)
    }

    async fn list_roots(&self, _: RequestContext<RoleClient>) -> Result<ListRootsResult, McpError> {
        match self.sessions.caller_for(&self.server) {
            Some(peer)
                if peer
                    .peer_info()
                    .is_some_and(|i| i.capabilities.roots.is_some()) =>
            {
                peer.list_roots().await.map_err(relay_error)
            }
            _ => Ok(ListRootsResult::default()),
        }
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        // Straight to its client, skipping the hub's event queue: progress must arrive
        // while the call it reports on is still open.
        self.sessions.route_progress(&self.server, params).await;
    }
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        // Like progress: straight to the calling session, in order.
        self.sessions.route_log(&self.server, params).await;
    }
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.notices.send(Notice::ResourceUpdated(params));
    }
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.notices.send(Notice::ToolsChanged);
    }
    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.notices.send(Notice::ResourcesChanged);
    }
    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.notices.send(Notice::PromptsChanged);
    }
    fn get_info(&self) -> ClientConfig {
        // Offered to every backend; a request no client session can answer gets an error.
        // The handshake names the newest revision that has one: 2026-07-28 has no
        // `initialize` (its servers are reached by discovery), and a server may refuse
        // a handshake that names it.
        ClientConfig::new(
            ClientCapabilities::builder()
                .enable_roots()
                .enable_sampling()
                .enable_elicitation()
                .build(),
            Implementation::new("mcphub", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(rmcp::model::ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}

/// Where a backend's notifications and requests go.
pub struct Relay {
    pub server: String,
    pub notices: mpsc::UnboundedSender<Notice>,
    pub sessions: Arc<Sessions>,
}

impl Relay {
    fn into_client(self) -> UpstreamHandler {
        UpstreamHandler {
            server: self.server,
            notices: self.notices,
            sessions: self.sessions,
        }
    }
}

/// What the backend said about itself in `initialize`.
#[derive(Debug, Clone, Default)]
pub struct ServerIdentity {
    /// How the hub reached it: `stdio`, `streamable-http`, or `sse`.
    pub transport: &'static str,
    pub protocol_version: String,
    pub server_info: serde_json::Value,
    pub capabilities: serde_json::Value,
    pub instructions: Option<String>,
    pub has_tools: bool,
    pub has_resources: bool,
    pub has_prompts: bool,
    pub has_logging: bool,
}

/// Everything the backend offers. An offer never changes once listed (a refresh lists
/// a new one), so its JSON, which every health poll sends for every server, is
/// rendered once.
#[derive(Debug, Clone, Default)]
pub struct Offer {
    pub tools: Vec<Tool>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
    pub prompts: Vec<Prompt>,
    pub(crate) json: std::sync::OnceLock<Box<serde_json::value::RawValue>>,
}

impl Offer {
    /// `{"tools", "resources", "resourceTemplates", "prompts"}`: mcp-hub's
    /// `capabilities` of a server.
    pub fn json(&self) -> &serde_json::value::RawValue {
        #[derive(serde::Serialize)]
        struct View<'a> {
            tools: &'a [Tool],
            resources: &'a [Resource],
            #[serde(rename = "resourceTemplates")]
            resource_templates: &'a [ResourceTemplate],
            prompts: &'a [Prompt],
        }
        self.json.get_or_init(|| {
            let view = View {
                tools: &self.tools,
                resources: &self.resources,
                resource_templates: &self.templates,
                prompts: &self.prompts,
            };
            serde_json::value::to_raw_value(&view)
                .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned())
        })
    }
}

/// A stdio child in its own process group.
pub struct ChildProcess {
    child: Child,
    pub pid: u32,
}

impl ChildProcess {
    /// Signals the whole process group (the server and anything it spawned).
    fn signal_group(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(self.pid as i32), sig);
    }

    /// SIGTERM to the group, then SIGKILL after `grace`; reaps the child.
    pub async fn terminate(&mut self, grace: Duration) {
        use nix::sys::signal::Signal;
        self.signal_group(Signal::SIGTERM);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.signal_group(Signal::SIGKILL);
            let _ = self.child.wait().await;
        } else {
            // The leader is gone; anything left in its group goes too.
            self.signal_group(Signal::SIGKILL);
        }
    }
}

/// A connected backend.
pub struct Connection {
    peer: Peer<RoleClient>,
    cancel: Option<RunningServiceCancellationToken>,
    closed: Option<oneshot::Receiver<String>>,
    child: Option<ChildProcess>,
    pub identity: ServerIdentity,
}

/// Why a connection could not be made.
#[derive(Debug)]
pub struct ConnectError {
    pub message: String,
    /// The server wants credentials (HTTP 401/403): mcp-hub's `unauthorized` status.
    pub unauthorized: bool,
    /// Nothing answers at the address (refused, no such host): no other transport is
    /// worth a try.
    pub unreachable: bool,
    /// The server's `WWW-Authenticate` when it wants authorization: where its
    /// authorization metadata is and which scopes it wants.
    pub challenge: Option<String>,
}

impl From<String> for ConnectError {
    fn from(message: String) -> ConnectError {
        ConnectError {
            message,
            unauthorized: false,
            unreachable: false,
            challenge: None,
        }
    }
}

/// The `WWW-Authenticate` a server answers an unauthenticated `initialize` with.
async fn challenge_again(url: &str, headers: &http::HeaderMap) -> Option<String> {
    let resp = reqwest::Client::new()
        .post(url)
        .headers(headers.clone())
        .header(http::header::ACCEPT, "application/json, text/event-stream")
        .json(
            &serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "mcphub", "version": env!("CARGO_PKG_VERSION")}}}),
        )
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    resp.headers()
        .get(http::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// The `WWW-Authenticate` of an authorization the streamable transport was refused.
fn challenge_of(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    use rmcp::transport::streamable_http_client::{AuthRequiredError, InsufficientScopeError};
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(a) = err.downcast_ref::<AuthRequiredError>() {
            return Some(a.www_authenticate_header.clone());
        }
        if let Some(a) = err.downcast_ref::<InsufficientScopeError>() {
            return Some(a.www_authenticate_header.clone());
        }
        cur = err.source();
    }
    None
}

/// Why a backend call failed, in the terms the hub reports.
#[derive(Debug)]
pub enum CallError {
    /// The backend answered with a JSON-RPC error: pass it on as it is.
    Protocol(McpError),
    Timeout(Duration),
    /// The connection is gone or broke during the call.
    Unavailable(String),
    /// The server refused the call for want of authorization (401), or of scope (403
    /// `insufficient_scope`): its `WWW-Authenticate`.
    Unauthorized {
        challenge: String,
    },
}

impl From<ServiceError> for CallError {
    fn from(e: ServiceError) -> CallError {
        match e {
            ServiceError::McpError(e) => CallError::Protocol(e),
            ServiceError::Timeout { timeout } => CallError::Timeout(timeout),
            other => match challenge_of(&other) {
                Some(challenge) => CallError::Unauthorized { challenge },
                None => CallError::Unavailable(other.to_string()),
            },
        }
    }
}

/// Lines of a backend's stderr kept to explain why it died.
pub type StderrTail = Arc<std::sync::Mutex<std::collections::VecDeque<String>>>;

pub struct StdioSpec<'a> {
    pub command: &'a str,
    pub args: &'a [String],
    pub env: &'a BTreeMap<String, String>,
    pub cwd: Option<&'a std::path::Path>,
}

impl Connection {
    /// Spawns a stdio server and runs `initialize`. Its stderr lines are handed to
    /// `on_stderr` (the hub logs them) as they arrive.
    pub async fn stdio(
        spec: StdioSpec<'_>,
        relay: Relay,
        on_stderr: impl Fn(String) + Send + 'static,
        init_timeout: Duration,
    ) -> Result<Connection, String> {
        let mut cmd = Command::new(spec.command);
        cmd.args(spec.args)
            .envs(spec.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Own process group: a signal to the group reaches whatever the server
            // spawned (npx → node, uv → python), so nothing is orphaned.
            .process_group(0);
        if let Some(cwd) = spec.cwd {
            cmd.current_dir(cwd);
        }
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        // If the hub is killed with SIGKILL, the kernel sends SIGTERM to the server.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "command `{}` not found: install it or give its absolute path in `command`",
                spec.command
            ),
            _ => format!("cannot start `{}`: {e}", spec.command),
        })?;
        let pid = child.id().unwrap_or(0);
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                // Stderr is a trickle of log lines: 1 KiB per read is plenty, and the
                // default 8 KiB per server adds up with dozens of servers.
                let mut lines = tokio::io::BufReader::with_capacity(1024, stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    on_stderr(line);
                }
            });
        }
        let mut process = ChildProcess { child, pid };
        let client = relay.into_client();
        let started = tokio::select! {
            r = tokio::time::timeout(init_timeout, client.serve((stdout, stdin))) => r,
            status = process.child.wait() => {
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                return Err(format!("process exited during initialize ({status})"));
            }
        };
        let service = match started {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                // Its stdout closing first is how a dying server usually shows: say
                // that it exited, and how, rather than "connection closed".
                if let Ok(Ok(status)) =
                    tokio::time::timeout(Duration::from_millis(500), process.child.wait()).await
                {
                    return Err(format!("process exited during initialize ({status})"));
                }
                process.terminate(Duration::from_secs(2)).await;
                return Err(format!(
                    "initialize failed: {}",
                    error_causes(&e).join(": ")
                ));
            }
            Err(_) => {
                process.terminate(Duration::from_secs(2)).await;
                return Err(format!(
                    "no answer to initialize within {}s",
                    init_timeout.as_secs()
                ));
            }
        };
        Ok(Connection::from_service(service, Some(process), "stdio"))
    }

    /// Connects to a remote server and runs `initialize`: over streamable HTTP, or the
    /// old HTTP+SSE transport, or (`Auto`) the first, then the second when the server
    /// does not take the first, as the spec's backwards compatibility section says.
    pub async fn http(
        url: &str,
        headers: &BTreeMap<String, String>,
        mode: RemoteMode,
        auth: Option<rmcp::transport::auth::AuthorizationManager>,
        relay: impl Fn() -> Relay,
        init_timeout: Duration,
    ) -> Result<Connection, ConnectError> {
        let mut header_map = http::HeaderMap::new();
        for (k, v) in headers {
            let name = http::HeaderName::try_from(k.as_str())
                .map_err(|_| format!("headers: `{k}` is not a valid header name"))?;
            let value = http::HeaderValue::try_from(v.as_str())
                .map_err(|_| format!("headers.{k}: the value is not a valid header value"))?;
            header_map.insert(name, value);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        // Signed in: over streamable HTTP the SDK's client adds the token to every
        // request and refreshes it; the old transport gets the token as it is now
        // (fresh: the manager refreshes it here when it is about to expire).
        let mut sse_headers = header_map.clone();
        if let Some(manager) = &auth
            && let Ok(token) = manager.get_access_token().await
            && let Ok(value) = http::HeaderValue::try_from(format!("Bearer {token}"))
        {
            sse_headers.insert(http::header::AUTHORIZATION, value);
        }
        let streamable = |headers: http::HeaderMap| {
            let http = http.clone();
            let relay = relay();
            async move {
                match auth {
                    Some(manager) => {
                        let client = rmcp::transport::auth::AuthClient::new(http, manager);
                        Connection::streamable(client, url, headers, relay, init_timeout).await
                    }
                    None => Connection::streamable(http, url, headers, relay, init_timeout).await,
                }
            }
        };
        match mode {
            RemoteMode::Streamable => streamable(header_map).await,
            RemoteMode::Sse => Connection::sse(http, url, sse_headers, relay(), init_timeout).await,
            RemoteMode::Auto => {
                let e = match streamable(header_map).await {
                    Ok(c) => return Ok(c),
                    // Credentials wanted, or nothing there: the old transport will not
                    // do better.
                    Err(e) if e.unauthorized || e.unreachable => return Err(e),
                    Err(e) => e,
                };
                Connection::sse(http, url, sse_headers, relay(), init_timeout)
                    .await
                    .map_err(|sse| ConnectError {
                        unauthorized: sse.unauthorized,
                        unreachable: false,
                        challenge: sse.challenge,
                        message: format!(
                            "streamable HTTP: {}; old HTTP+SSE: {}",
                            e.message, sse.message
                        ),
                    })
            }
        }
    }

    async fn streamable<C>(
        http: C,
        url: &str,
        headers: http::HeaderMap,
        relay: Relay,
        init_timeout: Duration,
    ) -> Result<Connection, ConnectError>
    where
        C: rmcp::transport::streamable_http_client::StreamableHttpClient + Send + Sync + 'static,
    {
        let custom: HashMap<_, _> = headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let config =
            StreamableHttpClientTransportConfig::with_uri(url.to_owned()).custom_headers(custom);
        let transport = StreamableHttpClientTransport::with_client(http, config);
        let client = relay.into_client();
        let service = match tokio::time::timeout(init_timeout, client.serve(transport)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let mut message = format!("initialize failed: {}", error_causes(&e).join(": "));
                let unreachable = unreachable_because(url).await;
                if let Some(why) = &unreachable {
                    message = format!("{why} (initialize failed)");
                }
                let mut challenge = challenge_of(&e);
                let unauthorized = e.is_authorization_required() || challenge.is_some();
                if unauthorized && challenge.is_none() {
                    // The SDK keeps the header in its worker's quit reason, out of
                    // reach: ask the server again for it.
                    challenge = challenge_again(url, &headers).await;
                }
                if unauthorized {
                    // The SDK's chain of transport errors says nothing more useful.
                    message = "the server wants authorization (HTTP 401 to initialize)".into();
                }
                return Err(ConnectError {
                    unauthorized,
                    unreachable: unreachable.is_some(),
                    challenge,
                    message,
                });
            }
            Err(_) => {
                return Err(
                    format!("no answer to initialize within {}s", init_timeout.as_secs()).into(),
                );
            }
        };
        Ok(Connection::from_service(service, None, "streamable-http"))
    }

    async fn sse(
        http: reqwest::Client,
        url: &str,
        headers: http::HeaderMap,
        relay: Relay,
        init_timeout: Duration,
    ) -> Result<Connection, ConnectError> {
        let transport = crate::mcp::legacy_sse_client::open(http, url, headers, init_timeout)
            .await
            .map_err(|e| ConnectError {
                unauthorized: e.unauthorized,
                unreachable: false,
                challenge: e.challenge,
                message: e.message,
            })?;
        let client = relay.into_client();
        let service = match tokio::time::timeout(init_timeout, client.serve(transport)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(format!("initialize failed: {}", error_causes(&e).join(": ")).into());
            }
            Err(_) => {
                return Err(
                    format!("no answer to initialize within {}s", init_timeout.as_secs()).into(),
                );
            }
        };
        Ok(Connection::from_service(service, None, "sse"))
    }

    fn from_service(
        service: RunningService<RoleClient, UpstreamHandler>,
        child: Option<ChildProcess>,
        transport: &'static str,
    ) -> Connection {
        let peer = service.peer().clone();
        let identity = peer
            .peer_info()
            .map(|info| ServerIdentity {
                transport,
                protocol_version: info.protocol_version.to_string(),
                server_info: serde_json::to_value(&info.server_info).unwrap_or_default(),
                capabilities: serde_json::to_value(&info.capabilities).unwrap_or_default(),
                instructions: info.instructions.clone(),
                has_tools: info.capabilities.tools.is_some(),
                has_resources: info.capabilities.resources.is_some(),
                has_prompts: info.capabilities.prompts.is_some(),
                has_logging: info.capabilities.logging.is_some(),
            })
            .unwrap_or_default();
        let cancel = service.cancellation_token();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let reason = match service.waiting().await {
                Ok(rmcp::service::QuitReason::Cancelled) => "connection closed by the hub".into(),
                Ok(_) => "MCP error -32000: Connection closed".to_owned(),
                Err(e) => format!("connection task failed: {e}"),
            };
            let _ = tx.send(reason);
        });
        Connection {
            peer,
            cancel: Some(cancel),
            closed: Some(rx),
            child,
            identity,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.pid)
    }

    pub fn handle(&self) -> Handle {
        Handle {
            peer: self.peer.clone(),
        }
    }

    /// Resolves when the backend is gone, with the reason: its process exited or its
    /// connection closed. A dead process is noticed at once, not at the next call.
    pub async fn closed(&mut self) -> String {
        let closed = self.closed.as_mut();
        let child = self.child.as_mut();
        match (closed, child) {
            (Some(closed), Some(child)) => tokio::select! {
                r = closed => r.unwrap_or_else(|_| "connection lost".into()),
                status = child.child.wait() => match status {
                    Ok(s) => format!("MCP error -32000: Connection closed (process exited: {s})"),
                    Err(e) => format!("MCP error -32000: Connection closed ({e})"),
                },
            },
            (Some(closed), None) => closed.await.unwrap_or_else(|_| "connection lost".into()),
            _ => std::future::pending().await,
        }
    }

    /// Closes the session and stops the process (group).
    pub async fn shutdown(mut self) {
        if let Some(c) = self.cancel.take() {
            c.cancel();
        }
        if let Some(mut child) = self.child.take() {
            child.terminate(Duration::from_secs(3)).await;
        }
    }
}

/// A cheap, cloneable way to make requests on a connection.
///
/// Results from backends on a handshake-era revision carry no `resultType`; 2026-07-28
/// clients require it, so every final result is marked `complete` here (the SDK strips
/// it again for legacy clients).
#[derive(Clone)]
pub struct Handle {
    peer: Peer<RoleClient>,
}

impl Handle {
    /// The backend's lists. Fails with `unauthorized` (and the challenge) when the
    /// server wants authorization for them, as some do after an open `initialize`.
    pub async fn offer(&self, id: &ServerIdentity) -> Result<Offer, ConnectError> {
        // The four lists are asked for at once: JSON-RPC lets a server answer them in
        // any order, and a start-up then waits for one round trip instead of four.
        let tools = async {
            if !id.has_tools {
                return Ok(Vec::new());
            }
            self.peer.list_all_tools().await.map_err(|e| {
                let challenge = challenge_of(&e);
                ConnectError {
                    message: format!("tools/list: {e}"),
                    unauthorized: challenge.is_some(),
                    unreachable: false,
                    challenge,
                }
            })
        };
        // Optional parts of a server's offer: a server that lists resources but not
        // templates (or the reverse) is common, so a failure here is empty.
        async fn optional<T: Default, E>(
            wanted: bool,
            list: impl std::future::Future<Output = Result<T, E>>,
        ) -> Result<T, ConnectError> {
            Ok(if wanted {
                list.await.unwrap_or_default()
            } else {
                T::default()
            })
        }
        // A failing tools/list ends the wait at once; the other three cannot fail.
        let (tools, resources, templates, prompts) = tokio::try_join!(
            tools,
            optional(id.has_resources, self.peer.list_all_resources()),
            optional(id.has_resources, self.peer.list_all_resource_templates()),
            optional(id.has_prompts, self.peer.list_all_prompts()),
        )?;
        Ok(Offer {
            tools,
            resources,
            templates,
            prompts,
            json: Default::default(),
        })
    }

    pub async fn tools(&self) -> Result<Vec<Tool>, String> {
        self.peer.list_all_tools().await.map_err(|e| e.to_string())
    }

    /// Calls a tool. `on_token` learns the progress token the backend will use for
    /// this call before any progress can arrive, so progress can be routed back.
    pub async fn call_tool(
        &self,
        params: CallToolRequestParams,
        timeout: Duration,
        on_token: impl FnOnce(&ProgressToken),
    ) -> Result<CallToolResult, CallError> {
        let request = ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(params));
        let handle = self
            .peer
            .send_request_with_option(request, PeerRequestOptions::with_timeout(timeout))
            .await?;
        on_token(&handle.progress_token);
        match handle.await_response().await? {
            ServerResult::CallToolResult(mut r) => {
                r.result_type = Some(ResultType::COMPLETE);
                Ok(r)
            }
            other => Err(CallError::Unavailable(format!(
                "the backend answered tools/call with an unexpected result: {}",
                serde_json::to_string(&other).unwrap_or_default()
            ))),
        }
    }

    pub async fn complete(
        &self,
        params: CompleteRequestParams,
        timeout: Duration,
    ) -> Result<CompleteResult, CallError> {
        within(timeout, self.peer.complete(params)).await
    }

    pub async fn set_level(&self, params: SetLevelRequestParams) -> Result<(), CallError> {
        self.peer.set_level(params).await.map_err(CallError::from)
    }

    pub async fn subscribe(&self, params: SubscribeRequestParams) -> Result<(), CallError> {
        self.peer.subscribe(params).await.map_err(CallError::from)
    }

    pub async fn unsubscribe(&self, params: UnsubscribeRequestParams) -> Result<(), CallError> {
        self.peer.unsubscribe(params).await.map_err(CallError::from)
    }

    pub async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        timeout: Duration,
    ) -> Result<ReadResourceResult, CallError> {
        let answer = within(timeout, self.peer.read_resource_once(params)).await?;
        match answer {
            rmcp::model::ReadResourceResponse::Complete(mut r) => {
                r.result_type = Some(ResultType::COMPLETE);
                Ok(r)
            }
            _ => Err(input_required()),
        }
    }

    pub async fn get_prompt(
        &self,
        params: GetPromptRequestParams,
        timeout: Duration,
    ) -> Result<GetPromptResult, CallError> {
        let answer = within(timeout, self.peer.get_prompt_once(params)).await?;
        match answer {
            rmcp::model::GetPromptResponse::Complete(mut r) => {
                r.result_type = Some(ResultType::COMPLETE);
                Ok(r)
            }
            _ => Err(input_required()),
        }
    }
}

/// A request that must be answered within `timeout`.
async fn within<T>(
    timeout: Duration,
    request: impl std::future::Future<Output = Result<T, ServiceError>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(timeout, request).await {
        Err(_) => Err(CallError::Timeout(timeout)),
        Ok(r) => r.map_err(CallError::from),
    }
}

/// A 2026-07-28 backend asked for another round (`input_required`) that a relayed
/// request cannot have.
fn input_required() -> CallError {
    CallError::Unavailable("the backend asked for input the hub cannot relay".into())
}

/// Why `url`'s host cannot be reached at all (refused, no route, unknown name,
/// timeout), or `None` when a TCP connection can be made. The SDK reports these as
/// "error sending request"; the cause is what tells a user what to fix.
async fn unreachable_because(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let host = u.host_str()?.trim_matches(['[', ']']).to_owned();
    let port = u.port_or_known_default()?;
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(format!("cannot connect to {host}:{port}: {e}")),
        Err(_) => Some(format!(
            "cannot connect to {host}:{port}: no answer within 3 s"
        )),
    }
}
