//! The hub's downstream MCP sessions: who is connected, and where what a backend sends
//! outside of an answer goes. Progress goes to the session whose call asked for it, log
//! messages and requests (sampling, elicitation, roots) to the sessions with calls in
//! flight on that backend, list changes to everyone, resource updates to subscribers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rmcp::model::{
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::{Peer, RoleServer};

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
    /// (server, backend's progress token) → the client's own token and session.
    progress: Mutex<HashMap<(String, ProgressToken), (SessionId, ProgressToken)>>,
    /// Which client session has calls in flight on which server: where a backend's
    /// log messages and requests (sampling, elicitation) go.
    inflight: Mutex<HashMap<String, Vec<SessionId>>>,
    /// Resource URI → sessions subscribed to its updates.
    subscriptions: Mutex<HashMap<String, Vec<SessionId>>>,
    /// Finished calls whose routes go once late notifications had their chance.
    retiring: Mutex<std::collections::VecDeque<Retiring>>,
    /// Progress and log notifications being relayed right now, by server (see
    /// `relays_settled`).
    relaying: Mutex<HashMap<String, usize>>,
    relayed: tokio::sync::Notify,
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
        Sessions {
            listeners: tokio::sync::broadcast::channel(64).0,
            next: AtomicU64::default(),
            peers: Mutex::default(),
            progress: Mutex::default(),
            inflight: Mutex::default(),
            subscriptions: Mutex::default(),
            retiring: Mutex::default(),
            relaying: Mutex::default(),
            relayed: tokio::sync::Notify::new(),
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
    pub fn route_resource_updated(&self, params: ResourceUpdatedNotificationParam) {
        let ids = self
            .subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&params.uri)
            .cloned()
            .unwrap_or_default();
        for id in ids {
            if let Some(peer) = self.peer(id) {
                let params = params.clone();
                tokio::spawn(async move {
                    let _ = peer.notify_resource_updated(params).await;
                });
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

    /// Sessions with calls in flight on `server`, oldest first.
    fn callers(&self, server: &str) -> Vec<SessionId> {
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(server)
            .cloned()
            .unwrap_or_default()
    }

    /// The session whose call on `server` started last: the one a backend's request
    /// (sampling, elicitation, roots) most plausibly belongs to.
    pub fn caller_for(&self, server: &str) -> Option<Peer<RoleServer>> {
        self.callers(server)
            .iter()
            .rev()
            .find_map(|id| self.peer(*id))
    }

    fn relaying<'a>(&'a self, server: &'a str) -> Relaying<'a> {
        *self
            .relaying
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(server.to_owned())
            .or_default() += 1;
        Relaying {
            sessions: self,
            server,
        }
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
        let _relaying = self.relaying(server);
        let key = (server.to_owned(), params.progress_token.clone());
        let target = self
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some((client, token)) = target
            && let Some(peer) = self.peer(client)
        {
            params.progress_token = token;
            let _ = peer.notify_progress(params).await;
        }
    }

    /// A backend's log message goes to the sessions with calls in flight on it.
    pub async fn route_log(&self, server: &str, params: LoggingMessageNotificationParam) {
        let _relaying = self.relaying(server);
        for id in self.callers(server) {
            if let Some(peer) = self.peer(id) {
                let _ = peer.notify_logging_message(params.clone()).await;
            }
        }
    }
}

/// The routes of one call of a session on a backend, for as long as the call lasts:
/// dropped when the call ends, however it ends.
pub struct CallRoutes {
    sessions: Arc<Sessions>,
    server: String,
    client: Option<SessionId>,
    progress: Option<ProgressToken>,
    token: Option<ProgressToken>,
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
                client: self.client,
                token: self.token.take(),
            });
    }
}

/// A finished call's routes, kept for [`LATE_PROGRESS`].
struct Retiring {
    due: std::time::Instant,
    server: String,
    client: Option<SessionId>,
    token: Option<ProgressToken>,
}

impl Sessions {
    /// Routes what `server` sends during a call of `caller` back to its session. A
    /// caller without a session (REST, stateless clients) gets the answer alone.
    pub fn begin_call(self: &Arc<Self>, server: &str, caller: Caller) -> CallRoutes {
        if let Some(id) = caller.session {
            self.inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(server.to_owned())
                .or_default()
                .push(id);
        }
        CallRoutes {
            sessions: self.clone(),
            server: server.to_owned(),
            client: caller.session,
            progress: caller.progress,
            token: None,
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
            if let Some(t) = r.token {
                progress.remove(&(r.server.clone(), t));
            }
            let Some(client) = r.client else { continue };
            if let Some(v) = inflight.get_mut(&r.server) {
                if let Some(pos) = v.iter().position(|c| *c == client) {
                    v.remove(pos);
                }
                if v.is_empty() {
                    inflight.remove(&r.server);
                }
            }
        }
    }
}

/// The client session a call comes from, for relaying the backend's progress, log
/// messages and requests back to it. The default, no session, is a REST call's.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub session: Option<SessionId>,
    pub progress: Option<ProgressToken>,
}

impl CallRoutes {
    /// The backend's progress token for this call: its progress goes to the caller
    /// under the caller's own token.
    pub fn progress_token(&mut self, backend_token: &ProgressToken) {
        if let (Some(client), Some(token)) = (self.client, self.progress.clone()) {
            self.sessions
                .progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(
                    (self.server.clone(), backend_token.clone()),
                    (client, token),
                );
            self.token = Some(backend_token.clone());
        }
    }

    /// Waits (bounded: a client that stopped reading must not hold the answer back)
    /// until the notifications the backend sent before its answer are relayed. Only a
    /// session has any.
    pub async fn settle(&self) {
        if self.client.is_some() {
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

    fn caller(id: u64, token: Option<&str>) -> Caller {
        Caller {
            session: Some(SessionId(id)),
            progress: token.map(|t| ProgressToken(rmcp::model::NumberOrString::String(t.into()))),
        }
    }

    fn backend_token(n: i64) -> ProgressToken {
        ProgressToken(rmcp::model::NumberOrString::Number(n))
    }

    #[test]
    fn a_call_routes_to_its_session_until_its_late_window_passes() {
        let sessions = Arc::new(Sessions::default());
        let mut routes = sessions.begin_call("gh", caller(7, Some("mine")));
        routes.progress_token(&backend_token(1));
        assert_eq!(sessions.callers("gh"), [SessionId(7)]);
        let key = ("gh".to_owned(), backend_token(1));
        assert_eq!(
            sessions.progress.lock().unwrap().get(&key).map(|(s, _)| *s),
            Some(SessionId(7))
        );
        drop(routes);
        // Ended, but a notification sent just before the answer may still come.
        sessions.sweep_at(std::time::Instant::now());
        assert_eq!(sessions.callers("gh"), [SessionId(7)]);
        sessions.sweep_at(std::time::Instant::now() + LATE_PROGRESS);
        assert!(sessions.callers("gh").is_empty());
        assert!(sessions.progress.lock().unwrap().is_empty());
    }

    #[test]
    fn a_call_without_a_session_routes_nothing() {
        let sessions = Arc::new(Sessions::default());
        let mut routes = sessions.begin_call("gh", Caller::default());
        routes.progress_token(&backend_token(1));
        assert!(sessions.callers("gh").is_empty());
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
