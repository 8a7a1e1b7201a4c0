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
    CreateTaskResult, ElicitRequestParams, ElicitResult, ErrorCode, InputRequest,
    InputRequiredResult, InputResponses, ListRootsResult, PaginatedRequestParams, ProtocolVersion,
    RequestMetaObject, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{
    ClientInitializeError, ClientLifecycleMode, ClientServiceExt, NotificationContext, Peer,
    PeerRequestOptions, RequestContext, RoleClient, RunningService,
    RunningServiceCancellationToken, ServiceError, ServiceExt,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use super::model::McpError;
use super::offer::{Offer, OfferedTool};
use super::rounds;
use super::sessions::{Caller, Link, Sessions};
use crate::config::RemoteMode;

/// What a backend tells the hub outside of a request's answer, for the hub itself
/// (what goes to clients is relayed by `Sessions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    ToolsChanged,
    ResourcesChanged,
    PromptsChanged,
}

impl Notice {
    /// Its bit in a set of kinds kept in one byte.
    pub fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A backend's list changes on their way to the hub, coalesced: while one of a kind
/// waits to be taken, another says nothing new. So a server that floods them queues
/// at most one of each, however fast it sends.
#[derive(Clone)]
pub struct Notices {
    tx: mpsc::UnboundedSender<Notice>,
    waiting: Arc<std::sync::atomic::AtomicU8>,
}

/// The hub's end of `Notices`.
pub struct NoticeReceiver {
    rx: mpsc::UnboundedReceiver<Notice>,
    waiting: Arc<std::sync::atomic::AtomicU8>,
}

/// A channel for one backend's notices.
pub fn notices() -> (Notices, NoticeReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let waiting = Arc::default();
    (
        Notices {
            tx,
            waiting: Arc::clone(&waiting),
        },
        NoticeReceiver { rx, waiting },
    )
}

impl Notices {
    /// False once the hub no longer listens.
    fn send(&self, notice: Notice) -> bool {
        use std::sync::atomic::Ordering;
        if self.waiting.fetch_or(notice.bit(), Ordering::AcqRel) & notice.bit() != 0 {
            return !self.tx.is_closed();
        }
        self.tx.send(notice).is_ok()
    }
}

impl NoticeReceiver {
    pub async fn recv(&mut self) -> Option<Notice> {
        let notice = self.rx.recv().await?;
        // Taken: a notice from now on may say something the hub has not acted on.
        self.waiting
            .fetch_and(!notice.bit(), std::sync::atomic::Ordering::AcqRel);
        Some(notice)
    }
}

/// The client side handler: passes the backend's notifications to the hub, and its
/// requests (sampling, elicitation, roots) to the client session that caused them.
struct UpstreamHandler {
    server: String,
    notices: Notices,
    sessions: Arc<Sessions>,
}

fn relay_error(e: ServiceError) -> McpError {
    match e {
        ServiceError::McpError(e) => e,
        other => McpError::internal_error(format!("the client did not answer: {other}"), None),
    }
}

impl UpstreamHandler {
    /// The call this backend's request belongs to, when it can be asked anything.
    fn asker(&self, what: &str) -> Result<Arc<Link>, McpError> {
        self.sessions.asker_for(&self.server).ok_or_else(|| {
            McpError::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "{what}: no client of the hub has a call in flight on `{}` to answer it",
                    self.server
                ),
                None,
            )
        })
    }

    /// Asks a stateless caller, as an `input_required` round of its call.
    async fn ask_round<T: serde::de::DeserializeOwned>(
        asks: &rounds::AskSender,
        request: InputRequest,
    ) -> Result<T, McpError> {
        let answer = rounds::ask(asks, request).await?;
        serde_json::from_value(answer).map_err(|e| {
            McpError::invalid_params(
                format!("the client's answer is not a valid result: {e}"),
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
        let link = self.asker("sampling/createMessage")?;
        match (&link.rounds, &link.peer) {
            (Some(asks), _) => Self::ask_round(asks, rounds::sampling(params)).await,
            (None, Some(peer)) => peer.create_message(params).await.map_err(relay_error),
            (None, None) => Err(McpError::internal_error("no way back to the client", None)),
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        let link = self.asker("elicitation/create")?;
        match (&link.rounds, &link.peer) {
            (Some(asks), _) => Self::ask_round(asks, rounds::elicitation(params)).await,
            (None, Some(peer)) => peer.create_elicitation(params).await.map_err(relay_error),
            (None, None) => Err(McpError::internal_error("no way back to the client", None)),
        }
    }

    async fn list_roots(&self, _: RequestContext<RoleClient>) -> Result<ListRootsResult, McpError> {
        // A client without roots has none to give: an empty list, not an error.
        let Some(link) = self.sessions.asker_for(&self.server).filter(|l| l.roots) else {
            return Ok(ListRootsResult::default());
        };
        match (&link.rounds, &link.peer) {
            (Some(asks), _) => Self::ask_round(asks, rounds::roots()).await,
            (None, Some(peer)) => peer.list_roots().await.map_err(relay_error),
            (None, None) => Ok(ListRootsResult::default()),
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
        self.sessions
            .route_resource_updated(&self.server, params)
            .await;
    }
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.notices.send(Notice::ToolsChanged);
    }
    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.notices.send(Notice::ResourcesChanged);
    }
    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.notices.send(Notice::PromptsChanged);
    }
    fn get_info(&self) -> ClientConfig {
        // Offered to every backend; a request no client session can answer gets an error.
        // A handshake names the newest revision that has one: 2026-07-28 servers are
        // reached by discovery, and a 2025-era server may refuse a handshake naming it.
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
#[derive(Clone)]
pub struct Relay {
    pub server: String,
    pub notices: Notices,
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

/// `ServerIdentity::transport` of a server reached over streamable HTTP.
const STREAMABLE_HTTP: &str = "streamable-http";

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

/// Pages past this many in one list are refused: a server whose cursors never end
/// would otherwise keep the hub listing for good.
const MAX_PAGES: usize = 1000;

/// An item of one of a backend's four lists: how a page of them is asked for and
/// read.
trait Listed: Sized {
    fn request(params: PaginatedRequestParams) -> ClientRequest;
    /// The page's items and the next page's cursor.
    fn page(result: ServerResult) -> Option<(Vec<Self>, Option<String>)>;
}

macro_rules! listed {
    ($item:ty, $request:ident, $result:ident, $items:ident) => {
        impl Listed for $item {
            fn request(params: PaginatedRequestParams) -> ClientRequest {
                ClientRequest::$request(rmcp::model::$request::with_param(params))
            }
            fn page(result: ServerResult) -> Option<(Vec<Self>, Option<String>)> {
                match result {
                    ServerResult::$result(r) => Some((r.$items, r.next_cursor)),
                    _ => None,
                }
            }
        }
    };
}
listed!(Tool, ListToolsRequest, ListToolsResult, tools);
listed!(
    Resource,
    ListResourcesRequest,
    ListResourcesResult,
    resources
);
listed!(
    ResourceTemplate,
    ListResourceTemplatesRequest,
    ListResourceTemplatesResult,
    resource_templates
);
listed!(Prompt, ListPromptsRequest, ListPromptsResult, prompts);

/// Every page of one of `peer`'s lists, in order. The SDK's `list_all_*` would do
/// it too, but they copy every page for the SDK's response cache (thrown away
/// unless the server gives the list a time to live, then kept: the hub, which keeps
/// the lists itself, would hold them twice, and be answered from the copy when the
/// server fails) and follow cursors without end.
async fn list_all<T: Listed>(peer: &Peer<RoleClient>) -> Result<Vec<T>, ServiceError> {
    let mut items = Vec::new();
    let mut cursor = None;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..MAX_PAGES {
        let params = PaginatedRequestParams::default().with_cursor(cursor);
        let result = peer.send_request(T::request(params)).await?;
        let (page, next) = T::page(result).ok_or(ServiceError::UnexpectedResponse)?;
        items.extend(page);
        match next {
            None => return Ok(items),
            Some(next) if !seen.insert(next.clone()) => {
                return Err(ServiceError::McpError(McpError::internal_error(
                    format!("the server gave the cursor {next:?} twice: its list has no end"),
                    None,
                )));
            }
            next => cursor = next,
        }
    }
    Err(ServiceError::McpError(McpError::internal_error(
        format!("the server's list goes on past {MAX_PAGES} pages"),
        None,
    )))
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

/// How a connection's session is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    /// `server/discover` first: a 2026-07-28 server is used at that revision; a server
    /// that answers it with an error is a 2025-era one, and `initialize` follows on the
    /// same connection (the SDK's `Auto`).
    Newest,
    /// `initialize` alone: the old HTTP+SSE transport, and servers that answered
    /// `server/discover` with something that is neither a result nor an error.
    Initialize,
}

impl Handshake {
    async fn open<T, E, A>(
        self,
        client: UpstreamHandler,
        transport: T,
    ) -> Result<RunningService<RoleClient, UpstreamHandler>, ClientInitializeError>
    where
        T: rmcp::transport::IntoTransport<RoleClient, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        match self {
            Handshake::Initialize => client.serve(transport).await,
            Handshake::Newest => {
                let lifecycle = ClientLifecycleMode::Auto {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                    legacy_version: None,
                };
                client.serve_with_lifecycle(transport, lifecycle).await
            }
        }
    }

    /// The server did not fail, it answered discovery wrongly: worth an `initialize`
    /// on a fresh connection.
    fn refused_discovery(self, e: &ClientInitializeError) -> bool {
        self == Handshake::Newest
            && matches!(
                e,
                ClientInitializeError::ExpectedInitResult(_)
                    | ClientInitializeError::ExpectedInitResponse(_)
                    | ClientInitializeError::ConflictInitResponseId(..)
                    | ClientInitializeError::UncorrelatedErrorResponse { .. }
                    | ClientInitializeError::NoCompatibleProtocolVersion { .. }
                    | ClientInitializeError::JsonRpcError(_)
            )
    }
}

/// Why a session could not be opened.
#[derive(Debug)]
enum Refused {
    Discovery(String),
    Other(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Discovery(m) | Refused::Other(m) => f.write_str(m),
        }
    }
}

/// A connected backend.
pub struct Connection {
    peer: Peer<RoleClient>,
    cancel: Option<RunningServiceCancellationToken>,
    closed: Option<oneshot::Receiver<String>>,
    child: Option<ChildProcess>,
    /// Reached at 2026-07-28 (by discovery).
    modern: bool,
    /// A 2025-era session beside a 2026-07-28 connection, when the server has both.
    legacy: Option<LegacySession>,
    pub identity: ServerIdentity,
}

struct LegacySession {
    peer: Peer<RoleClient>,
    cancel: RunningServiceCancellationToken,
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
    /// The largest message the server may send (see [`super::oversize`]).
    pub max_message: usize,
}

impl Connection {
    /// Spawns a stdio server and opens the session at the newest revision it speaks
    /// (see [`Handshake`]). Its stderr lines are handed to `on_stderr` (the hub logs
    /// them) as they arrive.
    pub async fn stdio(
        spec: StdioSpec<'_>,
        relay: impl Fn() -> Relay,
        on_stderr: impl Fn(String) + Clone + Send + 'static,
        init_timeout: Duration,
    ) -> Result<Connection, String> {
        match Self::stdio_with(
            &spec,
            relay(),
            on_stderr.clone(),
            init_timeout,
            Handshake::Newest,
        )
        .await
        {
            Err(Refused::Discovery(why)) => {
                tracing::debug!(
                    "{}: server/discover answered with nonsense ({why}); initialize instead",
                    spec.command
                );
                Self::stdio_with(
                    &spec,
                    relay(),
                    on_stderr,
                    init_timeout,
                    Handshake::Initialize,
                )
                .await
                .map_err(|e| e.to_string())
            }
            other => other.map_err(|e| e.to_string()),
        }
    }

    async fn stdio_with(
        spec: &StdioSpec<'_>,
        relay: Relay,
        on_stderr: impl Fn(String) + Send + 'static,
        init_timeout: Duration,
        handshake: Handshake,
    ) -> Result<Connection, Refused> {
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
        let mut child = cmd.spawn().map_err(|e| {
            Refused::Other(match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "command `{}` not found: install it or give its absolute path in `command`",
                    spec.command
                ),
                _ => format!("cannot start `{}`: {e}", spec.command),
            })
        })?;
        let pid = child.id().unwrap_or(0);
        let no = |what: &str| Refused::Other(format!("no {what}"));
        let stdout = child.stdout.take().ok_or_else(|| no("stdout"))?;
        let stdin = child.stdin.take().ok_or_else(|| no("stdin"))?;
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
        let server = relay.server.clone();
        let stdout = super::oversize::Limited::new(stdout, spec.max_message, move |size, limit| {
            tracing::warn!(server = %server, size, limit, "server {server} sent a message of {size} bytes, over its limit of {limit} (maxMessageBytes): dropped, and its call failed");
        });
        let transport = super::stdio::Lines::new(stdout, stdin, &relay.server);
        let client = relay.into_client();
        let started = tokio::select! {
            r = tokio::time::timeout(init_timeout, handshake.open(client, transport)) => r,
            status = process.child.wait() => {
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                return Err(Refused::Other(format!("process exited during initialize ({status})")));
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
                    return Err(Refused::Other(format!(
                        "process exited during initialize ({status})"
                    )));
                }
                process.terminate(Duration::from_secs(2)).await;
                let message = format!("initialize failed: {}", error_causes(&e).join(": "));
                return Err(if handshake.refused_discovery(&e) {
                    Refused::Discovery(message)
                } else {
                    Refused::Other(message)
                });
            }
            Err(_) => {
                process.terminate(Duration::from_secs(2)).await;
                return Err(Refused::Other(format!(
                    "no answer to initialize within {}s",
                    init_timeout.as_secs()
                )));
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
        C: rmcp::transport::streamable_http_client::StreamableHttpClient
            + Clone
            + Send
            + Sync
            + 'static,
    {
        let http = crate::mcp::polling::Polled::new(http, &relay.server, relay.sessions.clone());
        let custom: HashMap<_, _> = headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let config =
            StreamableHttpClientTransportConfig::with_uri(url.to_owned()).custom_headers(custom);
        let open = |handshake: Handshake| {
            let transport =
                StreamableHttpClientTransport::with_client(http.clone(), config.clone());
            let client = relay.clone().into_client();
            tokio::time::timeout(init_timeout, handshake.open(client, transport))
        };
        let started = match open(Handshake::Newest).await {
            Ok(Err(e)) if Handshake::Newest.refused_discovery(&e) => {
                tracing::debug!(
                    "{url}: server/discover answered with nonsense ({e}); initialize instead"
                );
                open(Handshake::Initialize).await
            }
            other => other,
        };
        let service = match started {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let mut message = format!("initialize failed: {}", error_causes(&e).join(": "));
                let unreachable = unreachable_because(url).await;
                if let Some(why) = &unreachable {
                    message = format!("{why} (initialize failed)");
                }
                let mut challenge = challenge_of(&e).or_else(|| http.refusal());
                let unauthorized = e.is_authorization_required() || challenge.is_some();
                if unauthorized && challenge.is_none() {
                    // Refused before asking the server (kept tokens that no longer
                    // refresh): ask it for the challenge a sign-in starts from.
                    challenge = challenge_again(url, &headers).await;
                }
                if unauthorized {
                    // The SDK's chain of transport errors says nothing more useful.
                    message = if challenge
                        .as_deref()
                        .is_some_and(crate::mcp::oauth::asks_for_scope)
                    {
                        "the server wants more scope than was granted (HTTP 403 insufficient_scope)"
                    } else {
                        "the server wants authorization (HTTP 401 to initialize)"
                    }
                    .into();
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
        let mut connection = Connection::from_service(service, None, STREAMABLE_HTTP);
        if connection.modern {
            // A server that speaks both eras keeps its 2025-era behaviour (requests in
            // the middle of a call, resources/subscribe, logging/setLevel) for sessions
            // of that era: 2025-era clients are served on one, beside the stateless
            // connection. Over HTTP a second session costs one request.
            if let Ok(Ok(legacy)) = open(Handshake::Initialize).await {
                connection.legacy = Some(LegacySession {
                    peer: legacy.peer().clone(),
                    cancel: legacy.cancellation_token(),
                });
                tokio::spawn(legacy.waiting());
            }
        }
        Ok(connection)
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
        let modern = peer
            .peer_info()
            .is_some_and(|i| !i.protocol_version.has_initialize());
        if modern {
            // A 2026-07-28 server sends list changes only on a subscription.
            let notices = service.service().notices.clone();
            tokio::spawn(listen_for_changes(peer.clone(), notices));
        }
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
            modern,
            legacy: None,
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
            modern: self.modern,
            legacy: self.legacy.as_ref().map(|l| l.peer.clone()),
            polled: self.identity.transport == STREAMABLE_HTTP,
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
        if let Some(legacy) = self.legacy.take() {
            legacy.cancel.cancel();
        }
        if let Some(mut child) = self.child.take() {
            child.terminate(Duration::from_secs(3)).await;
        }
    }
}

/// Relays a 2026-07-28 backend's list changes (`subscriptions/listen`) as the
/// notices a 2025-era backend sends unasked, for as long as the connection lasts.
async fn listen_for_changes(peer: Peer<RoleClient>, notices: Notices) {
    let filter = SubscriptionFilter::builder()
        .tools_list_changed()
        .prompts_list_changed()
        .resources_list_changed()
        .build();
    let mut subscription = match peer.listen(filter).await {
        Ok(s) => {
            tracing::debug!(accepted = ?s.acknowledged(), "subscriptions/listen acknowledged");
            s
        }
        Err(e) => {
            tracing::debug!("subscriptions/listen refused: {e}");
            return;
        }
    };
    loop {
        let n = match subscription.next().await {
            Ok(Some(n)) => n,
            other => {
                tracing::debug!(?other, end = ?subscription.end(), "subscriptions/listen ended");
                return;
            }
        };
        use rmcp::model::ServerNotification as N;
        let notice = match n {
            N::ToolListChangedNotification(_) => Notice::ToolsChanged,
            N::PromptListChangedNotification(_) => Notice::PromptsChanged,
            N::ResourceListChangedNotification(_) => Notice::ResourcesChanged,
            _ => continue,
        };
        if !notices.send(notice) {
            return;
        }
    }
}

/// Takes a backend's final result of the named kind, marked `complete`; anything
/// else is handed back to be reported as unexpected.
macro_rules! final_result {
    ($kind:ident) => {
        |r| match r {
            ServerResult::$kind(mut r) => {
                r.result_type = Some(ResultType::COMPLETE);
                Ok(Answer::Done(r))
            }
            other => Err(Box::new(other)),
        }
    };
}

/// A cheap, cloneable way to make requests on a connection.
///
/// A backend on a handshake-era revision answers without `resultType`; 2026-07-28
/// clients require it, so every final result is marked `complete` here (the SDK strips
/// it again for legacy clients).
#[derive(Clone)]
pub struct Handle {
    peer: Peer<RoleClient>,
    /// The backend speaks 2026-07-28: its requests carry the caller's `_meta`, and it
    /// may answer with `input_required` or a task.
    modern: bool,
    /// Its 2025-era session, when it has both: for 2025-era callers.
    legacy: Option<Peer<RoleClient>>,
    /// Streamable HTTP: a call's answer comes on a stream the server may close before
    /// answering (SEP-1699), which `polling` passes on to the caller.
    polled: bool,
}

/// A backend's answer to a request that may take rounds.
#[derive(Debug)]
pub enum Answer<R> {
    Done(R),
    /// A 2026-07-28 backend asks the caller: for a 2026-07-28 caller, as it is.
    Input(InputRequiredResult),
    /// A 2026-07-28 backend made the call a task (SEP-2663).
    Task(CreateTaskResult),
}

impl<R> Answer<R> {
    /// The result, for a caller that can take nothing else (REST).
    pub fn into_done(self) -> Result<R, CallError> {
        match self {
            Answer::Done(r) => Ok(r),
            Answer::Input(_) | Answer::Task(_) => Err(CallError::Protocol(McpError::new(
                ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
                "the server answered with a question or a task, which only an MCP client can take: call it through /mcp",
                None,
            ))),
        }
    }
}

/// The parameters of a request that may take rounds: the answers and the backend's
/// state go into the next one.
trait Rounds: Clone {
    fn answered(&mut self, responses: InputResponses, state: Option<String>);
    fn forget_meta(&mut self);
}

macro_rules! rounds_for {
    ($($t:ty),*) => {$(
        impl Rounds for $t {
            fn answered(&mut self, responses: InputResponses, state: Option<String>) {
                self.input_responses = Some(responses);
                self.request_state = state;
            }
            fn forget_meta(&mut self) {
                self.meta = None;
            }
        }
    )*};
}
rounds_for!(
    CallToolRequestParams,
    GetPromptRequestParams,
    ReadResourceRequestParams
);

impl Handle {
    /// Whether the backend was reached at 2026-07-28.
    pub fn is_modern(&self) -> bool {
        self.modern
    }

    /// Whether the server may close a call's stream before its answer: only then does
    /// a caller's stream need a way to be closed likewise.
    pub fn may_close_streams(&self) -> bool {
        self.polled
    }

    /// Whether `caller` is served in its own era (else across, by translation).
    pub fn serves_era_of(&self, caller: &Caller) -> bool {
        match caller.modern {
            Some(_) => self.modern,
            None => !self.modern || self.legacy.is_some(),
        }
    }

    /// The connection for `caller`'s era, and whether it is a 2026-07-28 one.
    fn peer_for(&self, caller: &Caller) -> (&Peer<RoleClient>, bool) {
        match (&caller.modern, &self.legacy) {
            (None, Some(legacy)) => (legacy, false),
            _ => (&self.peer, self.modern),
        }
    }

    /// The 2025-era session, for requests only that era has.
    fn session_era(&self) -> &Peer<RoleClient> {
        self.legacy.as_ref().unwrap_or(&self.peer)
    }

    /// The backend's lists. Fails with `unauthorized` (and the challenge) when the
    /// server wants authorization for them, as some do after an open `initialize`.
    pub async fn offer(&self, id: &ServerIdentity) -> Result<Offer, ConnectError> {
        // The four lists are asked for at once: JSON-RPC lets a server answer them in
        // any order, and a start-up then waits for one round trip instead of four.
        let tools = async {
            if !id.has_tools {
                return Ok(Vec::new());
            }
            list_all::<Tool>(&self.peer).await.map_err(|e| {
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
            optional(id.has_resources, list_all::<Resource>(&self.peer)),
            optional(id.has_resources, list_all::<ResourceTemplate>(&self.peer)),
            optional(id.has_prompts, list_all::<Prompt>(&self.peer)),
        )?;
        Ok(Offer {
            tools: OfferedTool::all(tools),
            resources,
            templates,
            prompts,
            json: Default::default(),
            json_len: Default::default(),
        })
    }

    pub async fn tools(&self) -> Result<Vec<Tool>, String> {
        list_all::<Tool>(&self.peer)
            .await
            .map_err(|e| e.to_string())
    }

    /// Calls a tool. `on_token` learns the progress token the backend will use for
    /// each round of this call before any progress can arrive, so progress can be
    /// routed back.
    pub async fn call_tool(
        &self,
        params: CallToolRequestParams,
        timeout: Duration,
        caller: &Caller,
        on_token: impl FnMut(&ProgressToken),
    ) -> Result<Answer<CallToolResult>, CallError> {
        let request = |p| ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(p));
        self.with_rounds(params, timeout, caller, on_token, request, |r| match r {
            ServerResult::CallToolResult(mut r) => {
                r.result_type = Some(ResultType::COMPLETE);
                Ok(Answer::Done(r))
            }
            ServerResult::CreateTaskResult(t) => Ok(Answer::Task(t)),
            other => Err(Box::new(other)),
        })
        .await
    }

    pub async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        timeout: Duration,
        caller: &Caller,
    ) -> Result<Answer<ReadResourceResult>, CallError> {
        let request =
            |p| ClientRequest::ReadResourceRequest(rmcp::model::ReadResourceRequest::new(p));
        let done = final_result!(ReadResourceResult);
        self.with_rounds(params, timeout, caller, |_| {}, request, done)
            .await
    }

    pub async fn get_prompt(
        &self,
        params: GetPromptRequestParams,
        timeout: Duration,
        caller: &Caller,
    ) -> Result<Answer<GetPromptResult>, CallError> {
        let request = |p| ClientRequest::GetPromptRequest(rmcp::model::GetPromptRequest::new(p));
        let done = final_result!(GetPromptResult);
        self.with_rounds(params, timeout, caller, |_| {}, request, done)
            .await
    }

    /// Sends a request that a 2026-07-28 backend may answer with `input_required`.
    /// A 2026-07-28 caller gets the question as it is (its next request carries the
    /// answers and the backend's state); a 2025-era session is asked each question
    /// as a request of its own, and the answers go back to the backend as the next
    /// round; anyone else cannot answer.
    async fn with_rounds<P: Rounds, R>(
        &self,
        mut params: P,
        timeout: Duration,
        caller: &Caller,
        mut on_token: impl FnMut(&ProgressToken),
        request: impl Fn(P) -> ClientRequest,
        answer: impl Fn(ServerResult) -> Result<Answer<R>, Box<ServerResult>>,
    ) -> Result<Answer<R>, CallError> {
        params.forget_meta();
        let (peer, modern) = self.peer_for(caller);
        for _ in 0..MAX_ROUNDS {
            let mut options = PeerRequestOptions::with_timeout(timeout);
            options.meta = modern.then(|| forwarded_meta(caller)).flatten();
            let handle = peer
                .send_request_with_option(request(params.clone()), options)
                .await?;
            on_token(&handle.progress_token);
            let question = match handle.await_response().await? {
                ServerResult::InputRequiredResult(q) => q,
                result => match answer(result) {
                    Ok(done) => return Ok(done),
                    Err(other) => return Err(unexpected(&other)),
                },
            };
            if caller.modern.is_some() {
                return Ok(Answer::Input(question));
            }
            let responses = answer_for(caller, &question).await?;
            params.answered(responses, question.request_state);
        }
        Err(CallError::Protocol(McpError::internal_error(
            format!("the backend asked for input {MAX_ROUNDS} times in one call: given up"),
            None,
        )))
    }

    pub async fn complete(
        &self,
        params: CompleteRequestParams,
        timeout: Duration,
    ) -> Result<CompleteResult, CallError> {
        let mut r = within(timeout, self.peer.complete(params)).await?;
        r.result_type = Some(ResultType::COMPLETE);
        Ok(r)
    }

    /// SEP-2663 `tasks/get`, with the caller's capabilities: a server answers only a
    /// client that declared the tasks extension.
    pub async fn get_task(
        &self,
        params: rmcp::model::GetTaskParams,
        timeout: Duration,
        caller: &Caller,
    ) -> Result<rmcp::model::GetTaskResult, CallError> {
        let request = ClientRequest::GetTaskRequest(rmcp::model::GetTaskRequest::new(params));
        match self.send_for(caller, request, timeout).await? {
            ServerResult::GetTaskResult(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn update_task(
        &self,
        params: rmcp::model::UpdateTaskParams,
        timeout: Duration,
        caller: &Caller,
    ) -> Result<(), CallError> {
        let request = ClientRequest::UpdateTaskRequest(rmcp::model::UpdateTaskRequest::new(params));
        match self.send_for(caller, request, timeout).await? {
            ServerResult::TaskAckResult(_) | ServerResult::EmptyResult(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn cancel_task(
        &self,
        params: rmcp::model::CancelTaskParams,
        timeout: Duration,
        caller: &Caller,
    ) -> Result<(), CallError> {
        let request = ClientRequest::CancelTaskRequest(rmcp::model::CancelTaskRequest::new(params));
        match self.send_for(caller, request, timeout).await? {
            ServerResult::TaskAckResult(_) | ServerResult::EmptyResult(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// One request on `caller`'s era's connection, with what a 2026-07-28 server
    /// learns of the caller.
    async fn send_for(
        &self,
        caller: &Caller,
        request: ClientRequest,
        timeout: Duration,
    ) -> Result<ServerResult, CallError> {
        let (peer, modern) = self.peer_for(caller);
        let mut options = PeerRequestOptions::with_timeout(timeout);
        options.meta = modern.then(|| forwarded_meta(caller)).flatten();
        let handle = peer.send_request_with_option(request, options).await?;
        Ok(handle.await_response().await?)
    }

    pub async fn set_level(&self, params: SetLevelRequestParams) -> Result<(), CallError> {
        self.session_era()
            .set_level(params)
            .await
            .map_err(CallError::from)
    }

    pub async fn subscribe(&self, params: SubscribeRequestParams) -> Result<(), CallError> {
        self.session_era()
            .subscribe(params)
            .await
            .map_err(CallError::from)
    }

    pub async fn unsubscribe(&self, params: UnsubscribeRequestParams) -> Result<(), CallError> {
        self.session_era()
            .unsubscribe(params)
            .await
            .map_err(CallError::from)
    }
}

/// What a 2026-07-28 backend learns of the caller with each request: a stateless
/// caller's own capabilities and log level; a session's capabilities, and every log
/// message (a 2025-era server sends them unasked); the hub's own otherwise.
fn forwarded_meta(caller: &Caller) -> Option<RequestMetaObject> {
    let mut meta = RequestMetaObject::new();
    meta.set_client_capabilities(caller.capabilities()?);
    match caller.modern.as_ref() {
        Some(m) => {
            if let Some(level) = m.log_level() {
                meta.set_log_level(level);
            }
        }
        None => meta.set_log_level(rmcp::model::LoggingLevel::Debug),
    }
    Some(meta)
}

fn unexpected(result: &ServerResult) -> CallError {
    CallError::Unavailable(format!(
        "the backend answered with an unexpected result: {}",
        serde_json::to_string(result).unwrap_or_default()
    ))
}

/// How many rounds of questions the hub answers for one call of a 2025-era session
/// (the SDKs' own limit).
const MAX_ROUNDS: usize = rmcp::model::DEFAULT_MRTR_MAX_ROUNDS;

/// A 2025-era session's answers to a 2026-07-28 backend's questions, each asked as
/// the request it would have been in that era.
async fn answer_for(
    caller: &Caller,
    question: &InputRequiredResult,
) -> Result<InputResponses, CallError> {
    let Some(peer) = caller.session_peer() else {
        return Err(CallError::Protocol(McpError::new(
            ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
            "the server asks the caller for input (sampling, elicitation or roots), which only an MCP client can give: call it through /mcp",
            None,
        )));
    };
    let mut responses = InputResponses::new();
    for (key, request) in question.input_requests.iter().flatten() {
        let answer = match request {
            InputRequest::CreateMessage(r) => peer
                .create_message(r.params.clone())
                .await
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            InputRequest::Elicitation(r) => peer
                .create_elicitation(r.params.clone())
                .await
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            InputRequest::ListRoots(_) => peer
                .list_roots()
                .await
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            _ => continue,
        };
        responses.insert(
            key.clone(),
            answer.map_err(|e| CallError::Protocol(relay_error(e)))?,
        );
    }
    Ok(responses)
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
