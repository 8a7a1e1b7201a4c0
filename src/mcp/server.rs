//! The hub as an MCP server, independent of what answers: its identity and
//! capabilities, and the transports a handler is served on (streamable HTTP, stdio).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::ServerJsonRpcMessage;
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

/// How often a POST's SSE stream that waits for its answer carries a keep-alive
/// comment: clients time out a stream that stays silent (the SDK's own default).
pub const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a client waits before it resumes a broken stream, as a stream's priming
/// event tells it (the SDK's own default).
pub const SSE_RETRY: Duration = Duration::from_secs(3);

/// The `/mcp` endpoint as a tower service: sessions for 2025-06-18 and 2025-11-25
/// clients, stateless for 2026-07-28 ones (the SDK decides per request). `handler`
/// makes the handler of one session. Its sessions end when idle for `session_idle`
/// once [`IdleSessions::expire`] runs, and the front counts their exchanges. Their
/// streams are kept in `replay` for clients that resume them.
pub fn streamable_http_service<S: rmcp::ServerHandler>(
    handler: impl Fn() -> S + Send + Sync + 'static,
    replay: Arc<Replay>,
    allowed_hosts: Vec<String>,
    max_body: usize,
    session_idle: Duration,
    cancel: tokio_util::sync::CancellationToken,
) -> (
    StreamableHttpService<S, LocalSessionManager>,
    Arc<IdleSessions>,
) {
    let config = StreamableHttpServerConfig::default()
        .with_sse_keep_alive(Some(SSE_KEEP_ALIVE))
        .with_allowed_hosts(allowed_hosts)
        .with_max_request_body_bytes(max_body)
        .with_cancellation_token(cancel);
    let mut sessions = LocalSessionManager::default().with_event_store(replay);
    // The SDK's keep-alive counts messages only: see `IdleSessions`.
    sessions.session_config.keep_alive = None;
    sessions.session_config.sse_retry = Some(SSE_RETRY);
    let sessions = Arc::new(sessions);
    let idle = Arc::new(IdleSessions {
        manager: sessions.clone(),
        idle: session_idle,
        activity: Mutex::default(),
    });
    (
        StreamableHttpService::new(move || Ok(handler()), sessions, config),
        idle,
    )
}

/// Ends the sessions nobody uses: none of their requests in flight, none of their
/// streams open, and nothing asked of them for the idle time. The SDK's own
/// keep-alive ends a session after that long without a message, which closed a
/// session under a call that took longer (its backend working, nothing sent
/// meanwhile) and lost the call's answer. Written by hand: the SDK's session manager
/// has no notion of an exchange in flight.
pub struct IdleSessions {
    manager: Arc<LocalSessionManager>,
    idle: Duration,
    activity: Mutex<HashMap<Arc<str>, Activity>>,
}

#[derive(Clone, Copy)]
struct Activity {
    in_flight: usize,
    /// When the last exchange ended, or the session was first seen.
    since: Instant,
}

/// One exchange with a session, from its request to the end of its response's body
/// (a call's answer, or a GET stream held open): the session is not idle meanwhile.
pub struct Exchange {
    sessions: Arc<IdleSessions>,
    id: Arc<str>,
}

impl IdleSessions {
    /// Whether a session `id` is open now (false while that cannot be read at once).
    pub fn is_open(&self, id: &str) -> bool {
        self.manager
            .sessions
            .try_read()
            .is_ok_and(|open| open.contains_key(id))
    }

    /// An exchange with the session `id` begins; none with an id no session has (a
    /// stale or made-up one, answered 404), so that such ids are not kept.
    pub fn exchange(self: &Arc<Self>, id: &str) -> Option<Exchange> {
        if let Ok(open) = self.manager.sessions.try_read()
            && !open.contains_key(id)
        {
            return None;
        }
        let mut activity = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        let id: Arc<str> = match activity.get_key_value(id) {
            Some((known, _)) => known.clone(),
            None => id.into(),
        };
        activity
            .entry(id.clone())
            .or_insert(Activity {
                in_flight: 0,
                since: Instant::now(),
            })
            .in_flight += 1;
        Some(Exchange {
            sessions: self.clone(),
            id,
        })
    }

    /// Ends idle sessions, looking a few times per idle time, until `cancel`.
    pub async fn expire(self: Arc<Self>, cancel: tokio_util::sync::CancellationToken) {
        let every = (self.idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let open: HashSet<Arc<str>> =
                self.manager.sessions.read().await.keys().cloned().collect();
            for id in self.idle_among(&open, Instant::now()) {
                // A session the client deleted meanwhile is gone already: nothing to do.
                let _ = rmcp::transport::streamable_http_server::session::SessionManager::close_session(
                    &*self.manager,
                    &id,
                )
                .await;
            }
        }
    }

    /// The sessions of `open` idle at `now`, forgotten here; the sessions no longer
    /// open are forgotten too.
    fn idle_among(&self, open: &HashSet<Arc<str>>, now: Instant) -> Vec<Arc<str>> {
        let mut activity = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        activity.retain(|id, _| open.contains(id));
        for id in open {
            activity.entry(id.clone()).or_insert(Activity {
                in_flight: 0,
                since: now,
            });
        }
        let idle: Vec<Arc<str>> = activity
            .iter()
            .filter(|(_, a)| a.in_flight == 0 && now.duration_since(a.since) >= self.idle)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &idle {
            activity.remove(id);
        }
        idle
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let mut activity = self
            .sessions
            .activity
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(a) = activity.get_mut(&self.id) {
            a.in_flight = a.in_flight.saturating_sub(1);
            a.since = Instant::now();
        }
    }
}

/// The last events of each SSE stream, so that a client whose stream broke (a network
/// change, a proxy's timeout) reconnects with `Last-Event-ID` and gets what it missed,
/// then what comes next on that stream: a call's answer once it is there, a session's
/// notifications for as long as the client stays. In memory: a hub restart ends its
/// sessions anyway. Bounded: [`REPLAY_EVENTS`] per stream, [`REPLAY_STREAMS`] streams,
/// [`REPLAY_BYTES`] in all.
/// An event id carries its stream's random secret, so that no client can read another's.
///
/// Written by hand because the SDK's own per-request cache forgets a stream once its
/// answer has been written to the broken connection, which is the case that matters.
#[derive(Default)]
pub struct Replay {
    inner: std::sync::Mutex<ReplayInner>,
}

/// Events kept per stream: a call's progress, logs and answer, with room to spare.
pub const REPLAY_EVENTS: usize = 256;
/// Streams kept; the oldest goes first.
pub const REPLAY_STREAMS: usize = 512;
/// Bytes of JSON kept in all (escapes aside); past it the oldest streams go first.
/// Answers are kept whole, and a client that lists a large catalog page after page
/// (1 MB each) would otherwise have the hub keep 512 of them.
pub const REPLAY_BYTES: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct ReplayInner {
    next_stream: u64,
    next_event: u64,
    numbers: std::collections::HashMap<String, u64>,
    streams: std::collections::HashMap<u64, Kept>,
    order: std::collections::VecDeque<u64>,
    /// What the kept events weigh, as JSON.
    bytes: usize,
}

struct Kept {
    name: String,
    secret: u128,
    /// Each event with its number and its size as JSON.
    events: std::collections::VecDeque<(u64, ServerSseMessage, usize)>,
    bytes: usize,
    /// Events as they are stored, for clients that resumed this stream. Made at the
    /// first resumption: most streams never have one, and a channel's slots cost
    /// about 5 kB a stream before anything is sent.
    live: Option<tokio::sync::broadcast::Sender<ServerSseMessage>>,
    /// A call's stream whose answer is stored: nothing comes after it.
    answered: bool,
}

impl Kept {
    /// The SDK names a session's standalone stream `<session>:common`; every other
    /// stream is one request's, and ends with its answer.
    fn one_request(&self) -> bool {
        !self.name.ends_with(":common")
    }
}

fn is_answer(event: &ServerSseMessage) -> bool {
    use rmcp::model::JsonRpcMessage;
    matches!(
        event.message.as_deref(),
        Some(JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_))
    )
}

impl ReplayInner {
    fn forget_oldest(&mut self) {
        if let Some(old) = self.order.pop_front()
            && let Some(gone) = self.streams.remove(&old)
        {
            self.numbers.remove(&gone.name);
            self.bytes -= gone.bytes;
        }
    }
}

/// An event's message as JSON, in bytes, counted without writing the text (the SDK
/// writes it once already).
fn json_size(event: &ServerSseMessage) -> usize {
    event
        .message
        .as_deref()
        .map_or(0, crate::util::json_len::json_len)
}

#[async_trait::async_trait]
impl EventStore for Replay {
    async fn store_event(
        &self,
        stream_id: &str,
        event: &ServerSseMessage,
    ) -> Result<String, EventStoreError> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let r = &mut *guard;
        let number = match r.numbers.get(stream_id) {
            Some(n) => *n,
            None => {
                let n = r.next_stream;
                r.next_stream += 1;
                r.numbers.insert(stream_id.to_owned(), n);
                r.streams.insert(
                    n,
                    Kept {
                        name: stream_id.to_owned(),
                        secret: rand::random(),
                        events: Default::default(),
                        bytes: 0,
                        live: None,
                        answered: false,
                    },
                );
                r.order.push_back(n);
                if r.order.len() > REPLAY_STREAMS {
                    r.forget_oldest();
                }
                n
            }
        };
        let n = r.next_event;
        r.next_event += 1;
        let Some(kept) = r.streams.get_mut(&number) else {
            return Err("the replay lost a stream it had just made".into());
        };
        let id = format!("{number}.{:032x}.{n}", kept.secret);
        let mut event = event.clone();
        event.event_id = Some(id.clone());
        let mut freed = 0;
        if kept.events.len() >= REPLAY_EVENTS
            && let Some((_, _, size)) = kept.events.pop_front()
        {
            freed = size;
        }
        let size = json_size(&event);
        kept.bytes = kept.bytes + size - freed;
        kept.answered |= kept.one_request() && is_answer(&event);
        if let Some(live) = &kept.live {
            let _ = live.send(event.clone());
        }
        kept.events.push_back((n, event, size));
        r.bytes = r.bytes + size - freed;
        while r.bytes > REPLAY_BYTES && !r.order.is_empty() {
            r.forget_oldest();
        }
        Ok(id)
    }

    async fn replay_events_after(&self, last: &str) -> Result<EventStream, EventStoreError> {
        use futures::StreamExt;
        let unknown = || -> EventStoreError {
            format!("Last-Event-ID `{last}` is not one this hub gave, or it is too old to replay")
                .into()
        };
        let mut parts = last.split('.');
        let (Some(stream), Some(secret), Some(after), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(unknown());
        };
        let stream = stream.parse::<u64>().map_err(|_| unknown())?;
        let secret = u128::from_str_radix(secret, 16).map_err(|_| unknown())?;
        let after = after.parse::<u64>().map_err(|_| unknown())?;
        let mut r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let kept = r.streams.get_mut(&stream).ok_or_else(unknown)?;
        if kept.secret != secret {
            return Err(unknown());
        }
        let missed: Vec<ServerSseMessage> = kept
            .events
            .iter()
            .filter(|(n, _, _)| *n > after)
            .map(|(_, e, _)| e.clone())
            .collect();
        // The answer is among what was missed, or was seen already: nothing follows.
        if kept.answered || missed.iter().any(is_answer) {
            return Ok(sync_stream(futures::stream::iter(missed)));
        }
        // Subscribed under the lock that stores events: nothing falls between what was
        // missed and what comes next.
        let one_request = kept.one_request();
        let live = kept
            .live
            .get_or_insert_with(|| tokio::sync::broadcast::channel(64).0)
            .subscribe();
        let live = tokio_stream::wrappers::BroadcastStream::new(live);
        // Until a call's answer (included), or for as long as the client stays; a client
        // that fell behind (lagged) resumes again from its last id.
        let next = futures::stream::unfold((live, false), move |(mut live, ended)| async move {
            if ended {
                return None;
            }
            let event = live.next().await?.ok()?;
            let ends = one_request && is_answer(&event);
            Some((event, (live, ends)))
        });
        Ok(sync_stream(futures::stream::iter(missed).chain(next)))
    }
}

impl Replay {
    /// Opens a stream of one request that the front writes itself: its priming event,
    /// kept so that a client whose stream breaks resumes from it as from the SDK's, as
    /// SSE text.
    pub async fn prime(&self, stream: &str) -> bytes::Bytes {
        self.keep(stream, ServerSseMessage::retry(SSE_RETRY)).await
    }

    /// `message`, the answer on `stream`, kept for a client that resumes, as SSE text.
    pub async fn answer(&self, stream: &str, message: ServerJsonRpcMessage) -> bytes::Bytes {
        self.keep(stream, ServerSseMessage::from_message(message))
            .await
    }

    async fn keep(&self, stream: &str, mut event: ServerSseMessage) -> bytes::Bytes {
        // An event the replay could not keep is still written, with no id to resume from.
        event.event_id = self.store_event(stream, &event).await.ok();
        sse_text(&event)
    }
}

/// `message` as an event with no id: one not kept for resuming.
pub fn unkept_event(message: ServerJsonRpcMessage) -> bytes::Bytes {
    sse_text(&ServerSseMessage::from_message(message))
}

/// An event as the SDK's server writes it.
fn sse_text(event: &ServerSseMessage) -> bytes::Bytes {
    let data = event.message.as_deref().map_or_else(String::new, |m| {
        serde_json::to_string(m).unwrap_or_default()
    });
    let mut sse = sse_stream::Sse::default().data(data);
    sse.id = event.event_id.clone();
    sse.retry = event.retry.map(|r| r.as_millis() as u64);
    sse.into()
}

/// The SDK wants a `Sync` stream; a stream polled through `&mut` needs no lock to be one.
fn sync_stream(s: impl futures::Stream<Item = ServerSseMessage> + Send + 'static) -> EventStream {
    struct SyncStream(
        std::sync::Mutex<std::pin::Pin<Box<dyn futures::Stream<Item = ServerSseMessage> + Send>>>,
    );
    impl futures::Stream for SyncStream {
        type Item = ServerSseMessage;
        fn poll_next(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<ServerSseMessage>> {
            let inner = self
                .get_mut()
                .0
                .get_mut()
                .unwrap_or_else(|p| p.into_inner());
            inner.as_mut().poll_next(cx)
        }
    }
    Box::pin(SyncStream(std::sync::Mutex::new(Box::pin(s))))
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn answer(id: u32, text_bytes: usize) -> ServerSseMessage {
        let message: rmcp::model::ServerJsonRpcMessage =
            serde_json::from_value(serde_json::json!({
                "jsonrpc": "2.0", "id": id,
                "result": {"content": [{"type": "text", "text": "x".repeat(text_bytes)}]}
            }))
            .expect("a tool call's answer");
        ServerSseMessage::from_message(message)
    }

    /// 40 answers of 1 MB (a client listing a large catalog page after page): the
    /// store keeps the newest within its byte budget and forgets the oldest, whose
    /// ids then say they are too old.
    #[tokio::test]
    async fn large_answers_are_kept_within_the_byte_budget_newest_first() {
        let replay = Replay::default();
        let mut primed = Vec::new();
        for i in 0..40 {
            let stream = format!("session_{i}");
            let priming = ServerSseMessage::retry(std::time::Duration::from_secs(3));
            primed.push(replay.store_event(&stream, &priming).await.unwrap());
            replay
                .store_event(&stream, &answer(i, 1024 * 1024))
                .await
                .unwrap();
        }
        let kept = replay.inner.lock().unwrap().bytes;
        assert!(
            (REPLAY_BYTES / 2..=REPLAY_BYTES).contains(&kept),
            "{kept} bytes kept"
        );
        let newest = replay
            .replay_events_after(primed.last().unwrap())
            .await
            .expect("the newest stream is kept");
        let missed: Vec<_> = newest.collect().await;
        assert_eq!(missed.len(), 1);
        assert!(is_answer(&missed[0]));
        let oldest = replay.replay_events_after(&primed[0]).await;
        assert!(
            oldest
                .err()
                .is_some_and(|e| e.to_string().contains("too old to replay")),
            "the oldest stream is forgotten"
        );
    }

    #[tokio::test]
    async fn a_session_is_idle_only_with_nothing_in_flight_for_the_idle_time() {
        use rmcp::transport::streamable_http_server::session::SessionManager;
        let manager = Arc::new(LocalSessionManager::default());
        let idle = Arc::new(IdleSessions {
            manager: manager.clone(),
            idle: Duration::from_secs(60),
            activity: Mutex::default(),
        });
        let (waiting, _t1) = manager.create_session().await.unwrap();
        let (quiet, _t2) = manager.create_session().await.unwrap();
        let open: HashSet<Arc<str>> = [waiting.clone(), quiet.clone()].into();
        let start = Instant::now();
        // First seen now: not idle yet.
        assert!(idle.idle_among(&open, start).is_empty());
        let call = idle.exchange(&waiting).expect("an open session");
        assert!(idle.exchange("made-up").is_none(), "no session has this id");
        let later = start + Duration::from_secs(61);
        assert_eq!(idle.idle_among(&open, later), [quiet]);
        // A call in flight for longer than the idle time keeps its session.
        let open: HashSet<Arc<str>> = [waiting.clone()].into();
        assert!(
            idle.idle_among(&open, later + Duration::from_secs(600))
                .is_empty()
        );
        drop(call);
        // Idle from the end of its last exchange on.
        assert!(idle.idle_among(&open, Instant::now()).is_empty());
        assert_eq!(
            idle.idle_among(&open, Instant::now() + Duration::from_secs(61)),
            [waiting]
        );
    }
}
