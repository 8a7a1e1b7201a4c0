//! The contract between the hub and the toolkit (and mcp-hub's clients): the words and
//! shapes the hub writes into its API answers and its log, which the toolkit reads back.
//! Both sides use these definitions, so a name changed here changes on both.

use serde::Serialize;

pub mod metrics;

/// The mcp-hub API version mcphub implements: what mcp-hub's clients (mcphub.nvim among
/// them) check in `--version` and in `/api/health`'s `version`.
pub const MCP_HUB_API_VERSION: &str = "4.2.1";

/// `server_id` in `/api/health` and the hub's events: mcp-hub's fixed name for itself,
/// which its clients require.
pub const SERVER_ID: &str = "mcp-hub";

/// What `mcphub --version` prints: the API version alone on the first line, as mcp-hub
/// prints it (mcphub.nvim reads the first line, and its health check wants exactly
/// `4.2.1` there), then mcphub's own name and version.
pub const VERSION_TEXT: &str = concat!(
    "4.2.1\nmcphub ",
    env!("CARGO_PKG_VERSION"),
    ", serving the mcp-hub 4.2.1 API"
);

/// The same on one line, for the man pages' headers.
pub const VERSION_LINE: &str = concat!(
    "4.2.1 (mcphub ",
    env!("CARGO_PKG_VERSION"),
    ", serving the mcp-hub 4.2.1 API)"
);

/// The stable event names of the hub's log lines (SPEC, "State directory").
pub mod events {
    pub const HUB_STARTED: &str = "hub_started";
    pub const HUB_READY: &str = "hub_ready";
    /// The address the hub listens on (with `--port 0`, the one it picked).
    pub const HUB_LISTENING: &str = "hub_listening";
    pub const HUB_STOPPING: &str = "hub_stopping";
    pub const HUB_STOPPED: &str = "hub_stopped";
    pub const SERVER_STARTING: &str = "server_starting";
    pub const SERVER_CONNECTED: &str = "server_connected";
    pub const SERVER_DISCONNECTED: &str = "server_disconnected";
    pub const SERVER_RECONNECT_SCHEDULED: &str = "server_reconnect_scheduled";
    pub const SERVER_STDERR: &str = "server_stderr";
    pub const SERVER_STOPPED: &str = "server_stopped";
    /// A remote server wants its user to sign in (OAuth): the address is in health.
    pub const SERVER_UNAUTHORIZED: &str = "server_unauthorized";
    pub const TOOL_CALL: &str = "tool_call";
    pub const TOOL_NAME_COLLISION: &str = "tool_name_collision";
    pub const CLIENT_CONNECTED: &str = "client_connected";
    pub const CLIENT_DISCONNECTED: &str = "client_disconnected";
    pub const CONFIG_RELOADED: &str = "config_reloaded";
    pub const CONFIG_ERROR: &str = "config_error";
    pub const CONFIG_EMPTY: &str = "config_empty";
    pub const LOG_LINES_LOST: &str = "log_lines_lost";
    pub const LLM_REQUEST: &str = "llm_request";
    pub const LLM_PARSE_ERROR: &str = "llm_parse_error";
    pub const CIRCUIT_OPENED: &str = "circuit_opened";
    pub const CIRCUIT_CLOSED: &str = "circuit_closed";
    pub const TOOLS_CATEGORIZED: &str = "tools_categorized";
    pub const TOOL_FILTERED: &str = "tool_filtered";
}

/// mcp-hub's status words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerStatus {
    Connecting,
    Connected,
    Disconnected,
    Disabled,
    Unauthorized,
}

impl ServerStatus {
    pub const ALL: [ServerStatus; 5] = [
        ServerStatus::Connecting,
        ServerStatus::Connected,
        ServerStatus::Disconnected,
        ServerStatus::Disabled,
        ServerStatus::Unauthorized,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServerStatus::Connecting => "connecting",
            ServerStatus::Connected => "connected",
            ServerStatus::Disconnected => "disconnected",
            ServerStatus::Disabled => "disabled",
            ServerStatus::Unauthorized => "unauthorized",
        }
    }

    /// The status a word names; `None` for a word of another hub or version.
    pub fn parse(word: &str) -> Option<ServerStatus> {
        ServerStatus::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

/// mcp-hub's hub states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HubState {
    Starting,
    Ready,
    Restarting,
    Restarted,
    Stopping,
    Stopped,
    Error,
}

impl HubState {
    pub const ALL: [HubState; 7] = [
        HubState::Starting,
        HubState::Ready,
        HubState::Restarting,
        HubState::Restarted,
        HubState::Stopping,
        HubState::Stopped,
        HubState::Error,
    ];

    /// The state a word names; `None` for a word of another hub or version.
    pub fn parse(word: &str) -> Option<HubState> {
        HubState::ALL.into_iter().find(|s| s.as_str() == word)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HubState::Starting => "starting",
            HubState::Ready => "ready",
            HubState::Restarting => "restarting",
            HubState::Restarted => "restarted",
            HubState::Stopping => "stopping",
            HubState::Stopped => "stopped",
            HubState::Error => "error",
        }
    }
}

/// The LLM circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CircuitState {
    /// Requests flow.
    Closed,
    /// One probe request is allowed after the cool-down.
    HalfOpen,
    /// Requests are refused until the cool-down ends.
    Open,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::HalfOpen => "half-open",
            CircuitState::Open => "open",
        }
    }

    /// The value of `mcphub_llm_circuit_state`.
    pub fn gauge(self) -> i64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Open => 2,
        }
    }
}
