//! The hub's downstream MCP sessions: who is connected, and where what a backend sends
//! outside of an answer goes. Progress goes to the call that asked for it, log messages
//! and requests (sampling, elicitation, roots) to the calls in flight on that backend,
//! list changes to everyone, resource updates to subscribers. A call is a session's
//! (2025-era clients) or a single stateless request's (2026-07-28 clients): both have
//! a way back, the request's peer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rmcp::model::{
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, RequestMetaObject,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::{Peer, RoleServer};

use super::rounds::AskSender;
use crate::telemetry::metrics::{DroppedLabels, DroppedNotifications};

/// How many of one server's progress, log and resource-update notifications may be on
/// their way to clients at once. Each waits for its client's stream to take it; past
/// this a flood is dropped and counted (`mcphub_notifications_dropped_total`) rather
/// than held in memory for a client that reads slower than the server writes. A relay
/// waiting costs about 8 kB (the SDK's task and the message), so this is 2 MB a server.
pub const RELAY_BACKLOG: usize = 256;

/// One MCP session of a client of the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(u64);

/// Which list changed, for 2026-07-28 clients listening through `subscriptions/listen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Tools,
    Prompts,
    Resources,
}

/// Open client sessions, for notifications that are not an answer to a request.
pub struct Sessions {
    /// Stateless (2026-07-28) clients have no session to notify: they listen here.
    listeners: tokio::sync::broadcast::Sender<ListKind>,
    next: AtomicU64,
    peers: Mutex<HashMap<SessionId, Session>>,
    /// (server, backend's progress token) → the calling request and its own token.
    progress: Mutex<HashMap<(String, ProgressToken), ProgressRoute>>,
    /// Which calls are in flight on which server, oldest first: where a backend's log
    /// messages and requests (sampling, elicitation) go.
    inflight: Mutex<HashMap<String, Vec<Arc<Link>>>>,
    next_call: AtomicU64,
    /// Resource URI → sessions subscribed to its updates.
    subscriptions: Mutex<HashMap<String, Vec<SessionId>>>,
    /// Finished calls whose routes go once late notifications had their chance.
    retiring: Mutex<std::collections::VecDeque<Retiring>>,
    /// Progress and log notifications being relayed right now, by server (see
    /// `relays_settled`).
    relaying: Mutex<HashMap<String, usize>>,
    relayed: tokio::sync::Notify,
    dropped: DroppedNotifications,
}

/// The call a backend's progress token belongs to, and the caller's own token (none
/// when the caller asked for no progress, and the route is there for a stream cut).
type ProgressRoute = (Arc<Link>, Option<ProgressToken>);

/// Ends one call's response stream to its client early, as the call's backend ended
/// its own (SEP-1699 polling: a server may close a call's SSE stream before the answer
/// and have the client resume with `Last-Event-ID`). The front makes one for each
/// request of a session; what comes after the cut waits in the hub's replay for the
/// client that resumes.
#[derive(Debug, Clone, Default)]
pub struct StreamCut(tokio_util::sync::CancellationToken);

impl StreamCut {
    pub fn cut(&self) {
        self.0.cancel();
    }

    /// Done once the stream is to end.
    pub fn cut_off(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.0.clone().cancelled_owned()
    }
}

/// Counts one relay from a server for as long as it lives.
struct Relaying<'a> {
    sessions: &'a Sessions,
    server: &'a str,
}

impl Drop for Relaying<'_> {
    fn drop(&mut self) {
        let mut relaying = self
            .sessions
            .relaying
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = relaying.get_mut(self.server) {
            *n -= 1;
            if *n == 0 {
                relaying.remove(self.server);
                self.sessions.relayed.notify_waiters();
            }
        }
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(DroppedNotifications::default())
    }
}

impl Sessions {
    /// `dropped` counts the notifications a flood made the hub drop.
    pub fn new(dropped: DroppedNotifications) -> Self {
        Sessions {
            listeners: tokio::sync::broadcast::channel(64).0,
            next: AtomicU64::default(),
            peers: Mutex::default(),
            progress: Mutex::default(),
            inflight: Mutex::default(),
            next_call: AtomicU64::default(),
            subscriptions: Mutex::default(),
            retiring: Mutex::default(),
            relaying: Mutex::default(),
            relayed: tokio::sync::Notify::new(),
            dropped,
        }
    }
}

struct Session {
    peer: Peer<RoleServer>,
    name: String,
}

impl Sessions {
    pub fn register(&self, peer: Peer<RoleServer>, name: String) -> SessionId {
        let id = SessionId(self.next.fetch_add(1, Ordering::Relaxed) + 1);
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, Session { peer, name });
        id
    }

    /// Forgets a session and its subscriptions; returns the client's name.
    pub fn unregister(&self, id: SessionId) -> Option<String> {
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

    /// List changes, for sessionless (2026-07-28) clients' `subscriptions/listen`.
    pub fn listen(&self) -> tokio::sync::broadcast::Receiver<ListKind> {
        self.listeners.subscribe()
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

    fn peer(&self, id: SessionId) -> Option<Peer<RoleServer>> {
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
    pub async fn route_resource_updated(
        &self,
        server: &str,
        params: ResourceUpdatedNotificationParam,
    ) {
        let Some(_relaying) = self.relaying(server, "notifications/resources/updated") else {
            return;
        };
        let ids = self
            .subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&params.uri)
            .cloned()
            .unwrap_or_default();
        for id in ids {
            if let Some(peer) = self.peer(id) {
                let _ = peer.notify_resource_updated(params.clone()).await;
            }
        }
    }

    /// Returns true when `client` is the first session subscribed to `uri`.
    pub fn subscribe(&self, uri: &str, client: SessionId) -> bool {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        let list = subs.entry(uri.to_owned()).or_default();
        let first = list.is_empty();
        if !list.contains(&client) {
            list.push(client);
        }
        first
    }

    /// Returns true when no session is subscribed to `uri` any more.
    pub fn unsubscribe(&self, uri: &str, client: SessionId) -> bool {
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

    /// Calls in flight on `server`, oldest first.
    fn callers(&self, server: &str) -> Vec<Arc<Link>> {
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(server)
            .cloned()
            .unwrap_or_default()
    }

    /// The call on `server` that started last and can be asked something: the one a
    /// backend's request (sampling, elicitation, roots) most plausibly belongs to.
    pub fn asker_for(&self, server: &str) -> Option<Arc<Link>> {
        self.callers(server).into_iter().rev().find(|l| {
            l.rounds.is_some() || l.peer.as_ref().is_some_and(|p| !p.is_transport_closed())
        })
    }

    /// Counts one relay from `server`, or drops it (and counts that) when the server
    /// already has `RELAY_BACKLOG` on their way.
    fn relaying<'a>(&'a self, server: &'a str, method: &str) -> Option<Relaying<'a>> {
        let mut relaying = self.relaying.lock().unwrap_or_else(|p| p.into_inner());
        let n = relaying.entry(server.to_owned()).or_default();
        if *n >= RELAY_BACKLOG {
            drop(relaying);
            self.dropped
                .get_or_create(&DroppedLabels {
                    server: server.to_owned(),
                    method: method.to_owned(),
                })
                .inc();
            return None;
        }
        *n += 1;
        Some(Relaying {
            sessions: self,
            server,
        })
    }

    /// Resolves once the notifications a backend sent before its answer have been
    /// relayed. The SDK hands each notification to a task of its own but the answer
    /// straight to the caller, so the answer could otherwise overtake them (and close
    /// the client's stream first). Yielding lets the tasks already queued start.
    async fn relays_settled(&self, server: &str) {
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
        let Some(_relaying) = self.relaying(server, "notifications/progress") else {
            return;
        };
        let key = (server.to_owned(), params.progress_token.clone());
        let target = self
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some((link, Some(token))) = target
            && let Some(peer) = &link.peer
        {
            params.progress_token = token;
            let _ = peer.notify_progress(params).await;
        }
    }

    /// `server` closed the stream of its call known by `backend_token` before
    /// answering: the caller's stream is closed too, if the caller has one to close.
    pub fn cut_stream(&self, server: &str, backend_token: &ProgressToken) {
        let key = (server.to_owned(), backend_token.clone());
        let progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cut) = progress.get(&key).and_then(|(link, _)| link.cut.as_ref()) {
            tracing::debug!(
                server,
                "{server} closed a call's stream before its answer: the caller's is closed too"
            );
            cut.cut();
        }
    }

    /// A backend's log message goes to the sessions with calls in flight on it.
    pub async fn route_log(&self, server: &str, params: LoggingMessageNotificationParam) {
        let Some(_relaying) = self.relaying(server, "notifications/message") else {
            return;
        };
        for link in self.callers(server) {
            if link.logs
                && let Some(peer) = &link.peer
            {
                let _ = peer.notify_logging_message(params.clone()).await;
            }
        }
    }
}

/// One call in flight on a backend, seen from the backend's side: where what the
/// backend sends during it goes.
#[derive(Debug)]
pub struct Link {
    id: u64,
    pub session: Option<SessionId>,
    /// The way back to the caller: its session, or its stateless request's stream.
    pub peer: Option<Peer<RoleServer>>,
    /// Whether the caller gets the backend's log messages: a session always; a
    /// stateless request only when its `_meta` named a log level.
    pub logs: bool,
    /// Whether the caller has roots to give (it declared the capability).
    pub roots: bool,
    /// A 2026-07-28 request's call.
    pub stateless: bool,
    /// A stateless caller bridged to a backend with server-to-client requests: those
    /// requests become `input_required` rounds through here.
    pub rounds: Option<AskSender>,
    /// Closes the caller's response stream when the backend closes the call's.
    pub cut: Option<StreamCut>,
}

/// The routes of one call on a backend, for as long as the call lasts: dropped when
/// the call ends, however it ends.
pub struct CallRoutes {
    sessions: Arc<Sessions>,
    server: String,
    link: Arc<Link>,
    progress: Option<ProgressToken>,
    tokens: Vec<ProgressToken>,
}

/// How long a finished call's routes (progress, log messages) stay: the SDK hands
/// notifications and answers to separate tasks, so a notification a backend sent just
/// before its answer can be processed just after it.
const LATE_PROGRESS: std::time::Duration = std::time::Duration::from_secs(2);

impl Drop for CallRoutes {
    fn drop(&mut self) {
        // Retired, not removed: one sweeper removes them once the late window passed
        // (a timer task per call cost more than the call's own bookkeeping).
        self.sessions
            .retiring
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Retiring {
                due: std::time::Instant::now() + LATE_PROGRESS,
                server: std::mem::take(&mut self.server),
                call: self.link.id,
                tokens: std::mem::take(&mut self.tokens),
            });
    }
}

/// A finished call's routes, kept for [`LATE_PROGRESS`].
struct Retiring {
    due: std::time::Instant,
    server: String,
    call: u64,
    tokens: Vec<ProgressToken>,
}

impl Sessions {
    /// Routes what `server` sends during a call of `caller` back to it. A caller with
    /// no way back (REST) gets the answer alone.
    pub fn begin_call(self: &Arc<Self>, server: &str, caller: Caller) -> CallRoutes {
        let link = Arc::new(Link {
            id: self.next_call.fetch_add(1, Ordering::Relaxed),
            session: caller.session,
            logs: caller.peer.is_some()
                && caller
                    .modern
                    .as_ref()
                    .is_none_or(|meta| meta.log_level().is_some()),
            roots: caller.has_roots(),
            stateless: caller.modern.is_some(),
            peer: caller.peer,
            rounds: caller.rounds,
            cut: caller.cut,
        });
        if link.peer.is_some() || link.rounds.is_some() {
            self.inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(server.to_owned())
                .or_default()
                .push(link.clone());
        }
        CallRoutes {
            sessions: self.clone(),
            server: server.to_owned(),
            link,
            progress: caller.progress,
            tokens: Vec::new(),
        }
    }

    /// Removes the routes of calls that finished more than [`LATE_PROGRESS`] ago.
    pub fn sweep(&self) {
        self.sweep_at(std::time::Instant::now());
    }

    fn sweep_at(&self, now: std::time::Instant) {
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
            for t in r.tokens {
                progress.remove(&(r.server.clone(), t));
            }
            if let Some(v) = inflight.get_mut(&r.server) {
                v.retain(|l| l.id != r.call);
                if v.is_empty() {
                    inflight.remove(&r.server);
                }
            }
        }
    }
}

/// Who makes a call, for relaying the backend's progress, log messages and requests
/// back to it. The default, no way back, is a REST call's.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub session: Option<SessionId>,
    pub progress: Option<ProgressToken>,
    /// The request's own peer: its session's, or (stateless) its response stream's.
    pub peer: Option<Peer<RoleServer>>,
    /// A 2026-07-28 request's `_meta`: the client's capabilities and log level, passed
    /// on to backends of that revision. `None` for 2025-era sessions and REST.
    pub modern: Option<RequestMetaObject>,
    /// Set by the hub when a stateless call reaches a backend that asks with
    /// server-to-client requests (see [`super::rounds`]).
    pub rounds: Option<AskSender>,
    /// The front's handle on the request's response stream (a session's request).
    pub cut: Option<StreamCut>,
}

impl Caller {
    /// A session can be asked directly (sampling, elicitation, roots requests).
    pub fn session_peer(&self) -> Option<&Peer<RoleServer>> {
        self.session.and(self.peer.as_ref())
    }

    /// What the client said it can do: per request (2026-07-28) or at `initialize`.
    pub fn capabilities(&self) -> Option<rmcp::model::ClientCapabilities> {
        match &self.modern {
            Some(meta) => meta.client_capabilities(),
            None => self
                .session_peer()
                .and_then(|p| p.peer_info())
                .map(|i| i.capabilities.clone()),
        }
    }

    fn has_roots(&self) -> bool {
        self.capabilities().is_some_and(|c| c.roots.is_some())
    }
}

impl CallRoutes {
    /// The backend's progress token for this call (one per round of a multi-round
    /// call): its progress goes to the caller under the caller's own token, and the
    /// end of its stream before the answer to the caller's stream (`cut_stream`).
    pub fn progress_token(&mut self, backend_token: &ProgressToken) {
        let token = self.progress.clone();
        if self.link.peer.is_some() && (token.is_some() || self.link.cut.is_some()) {
            self.sessions
                .progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(
                    (self.server.clone(), backend_token.clone()),
                    (self.link.clone(), token),
                );
            self.tokens.push(backend_token.clone());
        }
    }

    /// Waits (bounded: a client that stopped reading must not hold the answer back)
    /// until the notifications the backend sent before its answer are relayed. Only a
    /// caller with a way back has any.
    pub async fn settle(&self) {
        if self.link.peer.is_some() {
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(500),
                self.sessions.relays_settled(&self.server),
            )
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caller that can be asked things (as a bridged stateless call can) without
    /// a live peer, which unit tests cannot make.
    fn askable(id: u64) -> (Caller, crate::mcp::rounds::AskReceiver) {
        let (asks, questions) = crate::mcp::rounds::channel();
        let caller = Caller {
            session: Some(SessionId(id)),
            rounds: Some(asks),
            ..Caller::default()
        };
        (caller, questions)
    }

    fn sessions_of(links: Vec<Arc<Link>>) -> Vec<Option<SessionId>> {
        links.iter().map(|l| l.session).collect()
    }

    #[test]
    fn a_call_is_asked_until_its_late_window_passes() {
        let sessions = Arc::new(Sessions::default());
        let (first, _q1) = askable(7);
        let (second, _q2) = askable(8);
        let a = sessions.begin_call("gh", first);
        let b = sessions.begin_call("gh", second);
        assert_eq!(
            sessions_of(sessions.callers("gh")),
            [Some(SessionId(7)), Some(SessionId(8))]
        );
        // The call that started last is the one a backend's request belongs to.
        assert_eq!(
            sessions.asker_for("gh").and_then(|l| l.session),
            Some(SessionId(8))
        );
        drop(b);
        // Ended, but a notification sent just before the answer may still come.
        sessions.sweep_at(std::time::Instant::now());
        assert_eq!(sessions.callers("gh").len(), 2);
        sessions.sweep_at(std::time::Instant::now() + LATE_PROGRESS);
        assert_eq!(sessions_of(sessions.callers("gh")), [Some(SessionId(7))]);
        drop(a);
        sessions.sweep_at(std::time::Instant::now() + LATE_PROGRESS * 2);
        assert!(sessions.callers("gh").is_empty());
        assert!(sessions.inflight.lock().unwrap().is_empty());
    }

    #[test]
    fn a_call_with_no_way_back_routes_nothing() {
        let sessions = Arc::new(Sessions::default());
        let mut routes = sessions.begin_call("gh", Caller::default());
        routes.progress_token(&ProgressToken(rmcp::model::NumberOrString::Number(1)));
        assert!(sessions.callers("gh").is_empty());
        assert!(sessions.asker_for("gh").is_none());
        assert!(sessions.progress.lock().unwrap().is_empty());
        drop(routes);
        sessions.sweep_at(std::time::Instant::now() + LATE_PROGRESS);
        assert!(sessions.inflight.lock().unwrap().is_empty());
    }

    #[test]
    fn the_backend_is_asked_for_the_first_subscriber_and_told_after_the_last() {
        let sessions = Sessions::default();
        let (a, b) = (SessionId(1), SessionId(2));
        assert!(sessions.subscribe("file:///x", a), "first subscriber");
        assert!(!sessions.subscribe("file:///x", b));
        assert!(!sessions.subscribe("file:///x", a), "again, same session");
        assert!(!sessions.unsubscribe("file:///x", a), "b still subscribed");
        assert!(sessions.unsubscribe("file:///x", b), "the last one left");
        assert!(sessions.unsubscribe("file:///never", a));
    }
}
