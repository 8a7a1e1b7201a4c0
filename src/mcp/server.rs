//! The hub as an MCP server, independent of what answers: its identity and
//! capabilities, and the transports a handler is served on (streamable HTTP, stdio).

use std::sync::Arc;

use rmcp::model::{Implementation, InitializeResult, ServerCapabilities, ServerConfig};
use rmcp::transport::common::server_side_http::ServerSseMessage;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::store::{
    EventStore, EventStoreError, EventStream,
};
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
        // Its servers' tasks (SEP-2663) reach clients, and `tasks/*` reach them back.
        .enable_tasks()
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
    session_idle: std::time::Duration,
    cancel: tokio_util::sync::CancellationToken,
) -> StreamableHttpService<S, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts)
        .with_max_request_body_bytes(max_body)
        .with_cancellation_token(cancel);
    let mut sessions = LocalSessionManager::default().with_event_store(Arc::new(Replay::default()));
    sessions.session_config.keep_alive = Some(session_idle);
    StreamableHttpService::new(move || Ok(handler()), Arc::new(sessions), config)
}

/// The last events of each SSE stream a session opened, so that a client whose stream
/// broke (a network change, a proxy's timeout) reconnects with `Last-Event-ID` and
/// gets what it missed, the answer included, once. In memory: a hub restart ends its
/// sessions anyway. Bounded: [`REPLAY_EVENTS`] per stream, [`REPLAY_STREAMS`] streams.
///
/// Written by hand because the SDK's own per-request cache forgets a stream once its
/// answer has been written to the broken connection, which is the case that matters.
#[derive(Default)]
pub struct Replay {
    inner: std::sync::Mutex<ReplayInner>,
}

/// Events kept per stream: a call's progress, logs and answer, with room to spare.
pub const REPLAY_EVENTS: usize = 256;
/// Streams kept; the oldest goes first. Their answers are kept whole, so this also
/// bounds the memory a few large answers can hold.
pub const REPLAY_STREAMS: usize = 512;

#[derive(Default)]
struct ReplayInner {
    next_stream: u64,
    next_event: u64,
    numbers: std::collections::HashMap<String, u64>,
    streams: std::collections::HashMap<u64, std::collections::VecDeque<ServerSseMessage>>,
    order: std::collections::VecDeque<(u64, String)>,
}

#[async_trait::async_trait]
impl EventStore for Replay {
    async fn store_event(
        &self,
        stream_id: &str,
        event: &ServerSseMessage,
    ) -> Result<String, EventStoreError> {
        let mut r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let stream = match r.numbers.get(stream_id) {
            Some(n) => *n,
            None => {
                let n = r.next_stream;
                r.next_stream += 1;
                r.numbers.insert(stream_id.to_owned(), n);
                r.order.push_back((n, stream_id.to_owned()));
                if r.order.len() > REPLAY_STREAMS
                    && let Some((old, name)) = r.order.pop_front()
                {
                    r.numbers.remove(&name);
                    r.streams.remove(&old);
                }
                n
            }
        };
        let id = format!("{stream}-{}", r.next_event);
        r.next_event += 1;
        let mut kept = event.clone();
        kept.event_id = Some(id.clone());
        let events = r.streams.entry(stream).or_default();
        if events.len() >= REPLAY_EVENTS {
            events.pop_front();
        }
        events.push_back(kept);
        Ok(id)
    }

    async fn replay_events_after(&self, last: &str) -> Result<EventStream, EventStoreError> {
        let unknown = || -> EventStoreError {
            format!("Last-Event-ID `{last}` is not one this hub gave, or it is too old to replay")
                .into()
        };
        let (stream, number) = last
            .split_once('-')
            .and_then(|(s, e)| Some((s.parse::<u64>().ok()?, e.parse::<u64>().ok()?)))
            .ok_or_else(unknown)?;
        let r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let events = r.streams.get(&stream).ok_or_else(unknown)?;
        let after: Vec<ServerSseMessage> = events
            .iter()
            .filter(|e| {
                e.event_id
                    .as_deref()
                    .and_then(|id| id.split_once('-'))
                    .and_then(|(_, n)| n.parse::<u64>().ok())
                    .is_some_and(|n| n > number)
            })
            .cloned()
            .collect();
        Ok(Box::pin(futures::stream::iter(after)))
    }
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
