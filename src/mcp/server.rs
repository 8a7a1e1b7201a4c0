//! The hub as an MCP server, independent of what answers: its identity and
//! capabilities, and the transports a handler is served on (streamable HTTP, stdio).

use std::sync::Arc;

use rmcp::model::{Implementation, InitializeResult, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

/// What the hub says of itself in `initialize`.
pub fn server_info() -> ServerConfig {
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

/// The `/mcp` endpoint as a tower service: sessions for 2025-06-18 and 2025-11-25
/// clients, stateless for 2026-07-28 ones (the SDK decides per request). `handler`
/// makes the handler of one session.
pub fn streamable_http_service<S: rmcp::ServerHandler>(
    handler: impl Fn() -> S + Send + Sync + 'static,
    allowed_hosts: Vec<String>,
    max_body: usize,
    cancel: tokio_util::sync::CancellationToken,
) -> StreamableHttpService<S, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts)
        .with_max_request_body_bytes(max_body)
        .with_cancellation_token(cancel);
    StreamableHttpService::new(
        move || Ok(handler()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

/// One session over this process's stdin/stdout, until it ends.
pub async fn serve_stdio<S: rmcp::ServerHandler>(handler: S) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let service = handler
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("stdio session failed to start: {e}"))?;
    service.waiting().await?;
    Ok(())
}
