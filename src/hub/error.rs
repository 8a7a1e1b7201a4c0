//! Why the hub could not do what a client asked. One enum for every front: it is
//! rendered once as a JSON-RPC error ([`HubError::to_jsonrpc`], for MCP clients and for
//! the `mcpCode` REST adds) and once as HTTP (in `front::rest`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::mcp::client::CallError;
use crate::mcp::model::{ErrorCode, McpError};

/// mcp-hub's JSON-RPC code for a server that cannot take the request.
const SERVER_UNAVAILABLE: ErrorCode = ErrorCode(-32000);

#[derive(Debug, Clone, thiserror::Error)]
pub enum HubError {
    #[error("unknown tool `{tool}`: tools/list shows the tools this hub has")]
    UnknownTool { tool: String },
    /// A tool named by server and the server's own name (REST) that it does not have.
    #[error("server `{server}` has no tool `{tool}`")]
    NoSuchTool { server: String, tool: String },
    #[error("tool `{tool}` is filtered out: {why}")]
    Filtered {
        tool: String,
        category: String,
        why: String,
    },
    /// Connected, but its tools are not in the catalog yet: whether the filter allows
    /// this one is unknown.
    #[error("the hub is still taking in `{server}`'s tools; retry in a moment")]
    CatalogUpdating { server: String },
    #[error("unknown server `{server}`")]
    UnknownServer { server: String },
    #[error("unknown prompt `{prompt}`")]
    UnknownPrompt { prompt: String },
    #[error("no connected server has resource `{uri}`")]
    NoResource { uri: String },
    /// The server is not connected now (disabled, connecting, down); says which.
    #[error("{reason}")]
    NotConnected { server: String, reason: String },
    #[error(
        "server `{server}` did not answer within {} ms (its `timeoutMs` in the servers file; a REST call may set `request_options.timeout`)",
        after.as_millis()
    )]
    Timeout { server: String, after: Duration },
    #[error(
        "server `{server}` takes at most {rate} calls a second from this hub (`rateLimit` in its entry); retry in {} ms",
        retry_after.as_millis().max(1)
    )]
    RateLimited {
        server: String,
        rate: f64,
        retry_after: Duration,
    },
    /// The connection broke during the request.
    #[error("server `{server}` is unavailable: {reason}")]
    Unavailable { server: String, reason: String },
    #[error("the hub is shutting down; retry against the next one")]
    ShuttingDown,
    /// The backend answered with a JSON-RPC error: passed on as it is.
    #[error("{}", error.message)]
    Backend {
        server: String,
        error: Box<McpError>,
    },
    /// An OAuth step for a server that has no sign-in pending.
    #[error(
        "server `{server}` has no OAuth sign-in pending: only a remote server that asked for authorization has one (GET /api/servers shows its authorizationUrl)"
    )]
    NoAuthorizationPending { server: String },
    /// The authorization server did not complete a sign-in.
    #[error("signing `{server}` in failed: {reason}")]
    AuthorizationFailed { server: String, reason: String },
    /// The marketplace registry could not be read and no copy of it is cached.
    #[error(
        "cannot read the marketplace registry at {url}: {reason}; nothing is cached from before (is this machine offline? --marketplace-url or MCPHUB_MARKETPLACE_URL point at a mirror)"
    )]
    Marketplace { url: String, reason: String },
    /// A request the hub itself cannot take (a meta-tool's missing argument, say).
    #[error("{message}")]
    InvalidRequest {
        message: String,
        data: Option<Value>,
    },
}

impl HubError {
    /// A backend request that failed, in the hub's terms.
    pub fn from_call(server: &str, e: CallError) -> HubError {
        let server = server.to_owned();
        match e {
            CallError::Protocol(error) => HubError::Backend {
                server,
                error: Box::new(error),
            },
            CallError::Timeout(after) => HubError::Timeout { server, after },
            CallError::Unavailable(reason) => HubError::Unavailable { server, reason },
            CallError::Unauthorized { .. } => HubError::Unavailable {
                reason: format!(
                    "the server wants (more) authorization: sign `{server}` in at its authorizationUrl (POST /api/servers/authorize gives it) and call again"
                ),
                server,
            },
        }
    }

    pub fn invalid(message: impl Into<String>) -> HubError {
        HubError::InvalidRequest {
            message: message.into(),
            data: None,
        }
    }

    /// The server the request was for, where there is one.
    pub fn server(&self) -> Option<&str> {
        match self {
            HubError::NoSuchTool { server, .. }
            | HubError::CatalogUpdating { server }
            | HubError::UnknownServer { server }
            | HubError::NotConnected { server, .. }
            | HubError::NoAuthorizationPending { server }
            | HubError::AuthorizationFailed { server, .. }
            | HubError::Timeout { server, .. }
            | HubError::RateLimited { server, .. }
            | HubError::Unavailable { server, .. }
            | HubError::Backend { server, .. } => Some(server),
            _ => None,
        }
    }

    /// The JSON-RPC error an MCP client gets.
    pub fn to_jsonrpc(&self) -> McpError {
        let message = self.to_string();
        let (code, data) = match self {
            HubError::UnknownTool { tool } => {
                (ErrorCode::INVALID_PARAMS, Some(json!({"tool": tool})))
            }
            HubError::NoSuchTool { server, tool } => (
                ErrorCode::INVALID_PARAMS,
                Some(json!({"server": server, "tool": tool})),
            ),
            HubError::Filtered { tool, category, .. } => (
                ErrorCode::INVALID_PARAMS,
                Some(json!({"tool": tool, "reason": "filtered", "category": category})),
            ),
            HubError::CatalogUpdating { server } => {
                (SERVER_UNAVAILABLE, Some(json!({"server": server})))
            }
            HubError::UnknownServer { .. } | HubError::UnknownPrompt { .. } => {
                (ErrorCode::INVALID_PARAMS, None)
            }
            HubError::NoResource { uri } => {
                (ErrorCode::RESOURCE_NOT_FOUND, Some(json!({"uri": uri})))
            }
            HubError::NotConnected { server, .. } => {
                (SERVER_UNAVAILABLE, Some(json!({"server": server})))
            }
            HubError::Timeout { server, .. } => (
                ErrorCode::INTERNAL_ERROR,
                Some(json!({"server": server, "reason": "timeout"})),
            ),
            HubError::RateLimited {
                server,
                retry_after,
                ..
            } => (
                SERVER_UNAVAILABLE,
                Some(json!({"server": server, "reason": "rate_limited",
                            "retryAfterMs": retry_after.as_millis() as u64})),
            ),
            HubError::Unavailable { server, .. } => (
                SERVER_UNAVAILABLE,
                Some(json!({"server": server, "reason": "unavailable"})),
            ),
            HubError::ShuttingDown => (SERVER_UNAVAILABLE, None),
            HubError::Backend { error, .. } => return (**error).clone(),
            HubError::InvalidRequest { data, .. } => (ErrorCode::INVALID_PARAMS, data.clone()),
            HubError::NoAuthorizationPending { server }
            | HubError::AuthorizationFailed { server, .. } => {
                (ErrorCode::INVALID_REQUEST, Some(json!({"server": server})))
            }
            HubError::Marketplace { url, .. } => {
                (ErrorCode::INTERNAL_ERROR, Some(json!({"url": url})))
            }
        };
        McpError::new(code, message, data)
    }
}

impl From<HubError> for McpError {
    fn from(e: HubError) -> McpError {
        e.to_jsonrpc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backends_own_error_reaches_the_client_unchanged() {
        let theirs = McpError::new(ErrorCode(-32099), "quota exceeded", Some(json!({"n": 1})));
        let e = HubError::from_call("gh", CallError::Protocol(theirs.clone()));
        assert_eq!(e.to_jsonrpc(), theirs);
        assert_eq!(e.server(), Some("gh"));
    }

    #[test]
    fn each_failure_has_its_code_and_says_which_server() {
        let timeout = HubError::from_call("gh", CallError::Timeout(Duration::from_millis(1500)));
        let j = timeout.to_jsonrpc();
        assert_eq!(j.code, ErrorCode::INTERNAL_ERROR);
        assert!(
            j.message
                .starts_with("server `gh` did not answer within 1500 ms (its `timeoutMs`"),
            "{}",
            j.message
        );
        assert_eq!(j.data, Some(json!({"server": "gh", "reason": "timeout"})));

        let gone = HubError::from_call("gh", CallError::Unavailable("broken pipe".into()));
        let j = gone.to_jsonrpc();
        assert_eq!(j.code, ErrorCode(-32000));
        assert_eq!(j.message, "server `gh` is unavailable: broken pipe");

        let j = HubError::UnknownTool {
            tool: "x__y".into(),
        }
        .to_jsonrpc();
        assert_eq!(j.code, ErrorCode::INVALID_PARAMS);
        assert!(j.message.contains("tools/list"), "{}", j.message);

        let j = HubError::NoResource {
            uri: "file:///a".into(),
        }
        .to_jsonrpc();
        assert_eq!(j.code, ErrorCode::RESOURCE_NOT_FOUND);
        assert_eq!(HubError::ShuttingDown.to_jsonrpc().code, ErrorCode(-32000));
    }
}
