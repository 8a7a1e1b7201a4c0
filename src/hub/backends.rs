//! Backends: one supervisor task per configured server that connects it, watches it,
//! and reconnects it with exponential backoff and jitter when it dies.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::api::ServerStatus;
use crate::api::events;
use crate::config::{Placeholders, ServerEntry, Transport};
use crate::mcp::client::{
    ConnectError, Connection, Handle, Notice, Relay, ServerIdentity, StdioSpec,
};
use crate::mcp::offer::Offer;
use crate::mcp::sessions::Sessions;

/// A backend's observable state.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: ServerStatus,
    pub error: Option<String>,
    pub last_started: Option<DateTime<Utc>>,
    pub connected_at: Option<Instant>,
    pub reconnects: u64,
    pub pid: Option<u32>,
    /// Shared, not copied, by every snapshot (health polls take one per server).
    pub identity: Option<Arc<ServerIdentity>>,
    pub offer: Arc<Offer>,
    /// Where the user signs the server in, while a sign-in waits for them.
    pub authorization_url: Option<String>,
}

/// What a backend reports to the hub.
#[derive(Debug)]
pub enum BackendEvent {
    /// Status or offer changed: the hub rebuilds its catalog and tells clients.
    Changed { server: String },
    /// A notification to route to the client that caused it.
    Notice { server: String, notice: Notice },
}

pub struct Backend {
    pub name: String,
    pub entry: ServerEntry,
    state: RwLock<Snapshot>,
    handle: RwLock<Option<Handle>>,
    stop: CancellationToken,
    /// Wakes a supervisor sleeping in backoff (a manual start or refresh).
    kick: Notify,
    /// Set by `/api/servers/stop`; cleared by `/api/servers/start`.
    paused: Mutex<bool>,
    /// A list_changed notice came that the offer may not reflect yet.
    offer_stale: AtomicBool,
    /// A re-read of the offer after list_changed notices is under way.
    refreshing: AtomicBool,
    /// The kinds of list (`Notice::bit`) the server said changed since the hub last
    /// took them: clients are told of those even when a re-read shows the same list.
    announced: AtomicU8,
    /// A sign-in (OAuth) handed out and not completed yet.
    sign_in: Mutex<Option<Arc<crate::mcp::oauth::SignIn>>>,
    /// A call's refusal (`WWW-Authenticate`) that asks for a new sign-in, and the
    /// wake-up of the supervisor to start it.
    reauth: Mutex<Option<String>>,
    reauth_notify: Notify,
    /// Sign-ins started since a call last went through, and when the last one was.
    sign_ins: Mutex<(u32, Option<Instant>)>,
}

/// How many sign-ins in a row (a call refused each time in between) the hub starts:
/// past that the server refuses what the user can grant, and asking again would
/// loop. Three, the conformance suite's limit; the count starts afresh after a call
/// goes through or after `SIGN_IN_MEMORY` without one.
const MAX_SIGN_INS: u32 = 3;
const SIGN_IN_MEMORY: Duration = Duration::from_secs(600);

/// Where remote servers' OAuth tokens are kept, and where the hub is called back.
#[derive(Debug, Clone)]
pub struct OAuthContext {
    pub state: crate::state::StateDir,
    /// `http://localhost:PORT/api/oauth/callback`, or `None` when the hub has no
    /// HTTP front (`--stdio`) to be called back on.
    pub callback: Option<String>,
}

impl Backend {
    pub fn new(entry: ServerEntry) -> Arc<Backend> {
        let status = if entry.disabled() {
            ServerStatus::Disabled
        } else {
            ServerStatus::Connecting
        };
        Arc::new(Backend {
            name: entry.name.clone(),
            entry,
            state: RwLock::new(Snapshot {
                status,
                error: None,
                last_started: None,
                connected_at: None,
                reconnects: 0,
                pid: None,
                identity: None,
                offer: Arc::new(Offer::default()),
                authorization_url: None,
            }),
            handle: RwLock::new(None),
            stop: CancellationToken::new(),
            offer_stale: AtomicBool::new(false),
            refreshing: AtomicBool::new(false),
            announced: AtomicU8::new(0),
            kick: Notify::new(),
            paused: Mutex::new(false),
            sign_in: Mutex::new(None),
            reauth: Mutex::new(None),
            reauth_notify: Notify::new(),
            sign_ins: Mutex::new((0, None)),
        })
    }

    pub fn snapshot(&self) -> Snapshot {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn offer(&self) -> Arc<Offer> {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .offer
            .clone()
    }

    pub fn status(&self) -> ServerStatus {
        self.state.read().unwrap_or_else(|p| p.into_inner()).status
    }

    /// A handle for requests, or why there is none.
    pub fn handle(&self) -> Result<Handle, String> {
        if let Some(h) = self
            .handle
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(h);
        }
        let s = self.snapshot();
        Err(match (s.status, s.error) {
            (ServerStatus::Disabled, _) => format!("server `{}` is disabled", self.name),
            (st, Some(e)) => format!("server `{}` is {}: {e}", self.name, st.as_str()),
            (st, None) => format!("server `{}` is {}", self.name, st.as_str()),
        })
    }

    fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
    }

    /// Stops the supervisor for good (config removal, hub shutdown).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// `/api/servers/stop`: disconnect and stay down until started again.
    pub fn pause(&self) {
        *self.paused.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.kick.notify_one();
    }

    /// `/api/servers/start`: (re)connect now, skipping any backoff.
    pub fn resume(&self) {
        // A user's start: sign-ins refused before may be tried again, from scratch.
        *self.sign_ins.lock().unwrap_or_else(|p| p.into_inner()) = (0, None);
        self.drop_sign_in();
        let was_paused = std::mem::replace(
            &mut *self.paused.lock().unwrap_or_else(|p| p.into_inner()),
            false,
        );
        // Connecting from now, not from when the supervisor next runs: a caller that
        // waits for the start to settle must not see the stopped state first.
        if was_paused {
            self.update(|s| {
                s.status = ServerStatus::Connecting;
                s.error = None;
            });
        }
        self.kick.notify_one();
    }

    /// The address where the user signs this server in, while a sign-in waits.
    pub fn authorization_url(&self) -> Option<String> {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .authorization_url
            .clone()
    }

    /// The server refused the hub for want of authorization: starts a sign-in (one
    /// at a time) and returns the status message that says what to do.
    async fn begin_sign_in(
        &self,
        refused: &ConnectError,
        placeholders: &Arc<Placeholders>,
        oauth: &OAuthContext,
    ) -> String {
        if let Some(url) = self.authorization_url() {
            return format!("waiting for authorization: open {url}");
        }
        let Some(callback) = &oauth.callback else {
            return format!(
                "{} (this hub has no HTTP front to be called back on: sign it in once with `mcphub serve` and `mcphub auth {}`; the tokens are kept for every hub on this state directory)",
                refused.message, self.name
            );
        };
        let Ok(Transport::Http {
            url, oauth: client, ..
        }) = self.entry.resolve(placeholders)
        else {
            return refused.message.clone();
        };
        if !self.may_sign_in() {
            return format!(
                "{}; still refused after {MAX_SIGN_INS} sign-ins in a row, so not asking again: check what the account may do on this server, then POST /api/servers/start",
                refused.message
            );
        }
        let redirect = format!(
            "{callback}?server_name={}",
            crate::util::percent_encode(&self.name)
        );
        let tokens = self.token_file(oauth);
        // A step-up keeps what was granted and adds what the server now names.
        let mut client = client;
        for scope in crate::mcp::oauth::step_up_scopes(&tokens, refused.challenge.as_deref()) {
            if !client.scopes.contains(&scope) {
                client.scopes.push(scope);
            }
        }
        // Refused with the kept token (not for want of scope): refresh it first.
        let wants_scope = refused
            .challenge
            .as_deref()
            .is_some_and(crate::mcp::oauth::asks_for_scope);
        if tokens.exists()
            && !wants_scope
            && crate::mcp::oauth::refresh(&url, &tokens, &client).await
        {
            self.kick.notify_one();
            return "the server refused the token; refreshed it, reconnecting".into();
        }
        match crate::mcp::oauth::begin(
            &url,
            refused.challenge.as_deref(),
            &redirect,
            &client,
            &tokens,
        )
        .await
        {
            Ok(sign_in) => {
                let at = sign_in.url().to_owned();
                *self.sign_in.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(sign_in));
                self.update(|s| s.authorization_url = Some(at));
                tracing::warn!(event = events::SERVER_UNAUTHORIZED, server = %self.name, "server {} needs authorization: POST /api/servers/authorize {{\"server_name\": \"{}\"}} gives the address to open", self.name, self.name);
                "authorization needed: open the server's authorizationUrl (POST /api/servers/authorize gives it)".into()
            }
            Err(e) => format!("{}; starting a sign-in failed: {e}", refused.message),
        }
    }

    /// A call was refused for want of authorization or scope (`challenge` is the
    /// server's `WWW-Authenticate`): the supervisor signs in again, asking for what the
    /// server named. Returns false once `MAX_STEP_UPS` sign-ins in a row did not help.
    pub fn needs_authorization(&self, challenge: String) {
        *self.reauth.lock().unwrap_or_else(|p| p.into_inner()) = Some(challenge);
        self.reauth_notify.notify_one();
    }

    /// Forgets a pending sign-in (spent, or no longer wanted).
    fn drop_sign_in(&self) {
        *self.sign_in.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.update(|s| s.authorization_url = None);
    }

    /// A call went through: a later refusal may start sign-ins again.
    pub fn call_went_through(&self) {
        *self.sign_ins.lock().unwrap_or_else(|p| p.into_inner()) = (0, None);
    }

    /// Counts a sign-in about to start; false when `MAX_SIGN_INS` in a row did not
    /// get a call through.
    fn may_sign_in(&self) -> bool {
        let mut s = self.sign_ins.lock().unwrap_or_else(|p| p.into_inner());
        if s.1.is_some_and(|at| at.elapsed() > SIGN_IN_MEMORY) {
            *s = (0, None);
        }
        if s.0 >= MAX_SIGN_INS {
            return false;
        }
        *s = (s.0 + 1, Some(Instant::now()));
        true
    }

    /// Completes the pending sign-in with the authorization server's answer, then
    /// reconnects with the tokens.
    pub async fn finish_sign_in(
        &self,
        code: &str,
        state: &str,
        issuer: Option<&str>,
    ) -> Result<(), String> {
        let pending = self
            .sign_in
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| format!("server `{}` has no OAuth sign-in pending", self.name))?;
        let finished = pending.finish(code, state, issuer).await;
        // Either way this sign-in is spent (the SDK forgets its PKCE state at the
        // exchange): a failed one gives way to a fresh one on the next connect.
        self.drop_sign_in();
        if let Err(e) = finished {
            self.kick.notify_one();
            return Err(format!("{e}; a new sign-in is being prepared"));
        }
        self.update(|s| {
            s.status = ServerStatus::Connecting;
            s.error = None;
        });
        tracing::info!(server = %self.name, "server {} authorized: connecting with its tokens", self.name);
        self.kick.notify_one();
        Ok(())
    }

    fn token_file(&self, oauth: &OAuthContext) -> crate::mcp::oauth::TokenFile {
        crate::mcp::oauth::TokenFile::new(oauth.state.oauth_token_file(&self.name))
    }

    /// As mcp-hub shows a server stopped through its API: disconnected, no error,
    /// nothing of the run before (its clients read these).
    fn mark_stopped(&self) {
        self.update(|s| {
            s.status = ServerStatus::Disconnected;
            s.error = None;
            s.pid = None;
            s.last_started = None;
            s.connected_at = None;
            s.identity = None;
            s.offer = Arc::new(Offer::default());
        });
    }

    fn is_paused(&self) -> bool {
        *self.paused.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The server said a list changed: true when its offer is to be fetched again now.
    /// While it is still connecting that is remembered instead, and the supervisor
    /// fetches it once connected (servers announce list changes as they start, before
    /// there is an offer to refresh). The flag is set before the status is read, and
    /// the supervisor reads it after setting the status: one of them sees the other.
    pub fn offer_changed(&self, notice: Notice) -> bool {
        self.announced.fetch_or(notice.bit(), Ordering::SeqCst);
        self.offer_stale.store(true, Ordering::SeqCst);
        self.status() == ServerStatus::Connected && !self.refreshing.swap(true, Ordering::SeqCst)
    }

    /// The kinds of list the server said changed since this was last called.
    pub fn take_announced(&self) -> u8 {
        self.announced.swap(0, Ordering::SeqCst)
    }

    /// Ends a re-read started by `offer_changed`; true when notices came during it, so
    /// that it must run once more (the caller keeps the turn).
    pub fn refresh_again(&self) -> bool {
        self.refreshing.store(false, Ordering::SeqCst);
        self.offer_stale.load(Ordering::SeqCst) && !self.refreshing.swap(true, Ordering::SeqCst)
    }

    /// Re-reads the offer (after `list_changed` or a refresh through the API), bounded
    /// by the server's `timeoutMs`: one that stops answering must not hold its
    /// supervisor or a client.
    pub async fn refresh_offer(&self) -> Result<(), String> {
        // What was announced before the re-read starts is in what it reads.
        self.offer_stale.store(false, Ordering::SeqCst);
        let handle = self.handle()?;
        let identity = self.snapshot().identity.unwrap_or_default();
        let identity = identity.as_ref();
        let timeout = self.entry.timeout();
        let offer = tokio::time::timeout(timeout, handle.offer(identity))
            .await
            .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
            .map_err(|e| e.message)?;
        self.update(|s| s.offer = Arc::new(offer));
        Ok(())
    }

    /// Runs until `stop()`: connect, wait for the end, back off, again.
    pub async fn supervise(
        self: Arc<Self>,
        placeholders: Arc<Placeholders>,
        events: mpsc::UnboundedSender<BackendEvent>,
        sessions: Arc<Sessions>,
        oauth: OAuthContext,
    ) {
        if self.entry.disabled() {
            return;
        }
        let policy = self.entry.restart_policy();
        let mut failures: u32 = 0;
        let mut ever_connected = false;
        let changed = || {
            let _ = events.send(BackendEvent::Changed {
                server: self.name.clone(),
            });
        };
        loop {
            if self.stop.is_cancelled() {
                break;
            }
            if self.is_paused() {
                self.mark_stopped();
                changed();
                tokio::select! {
                    _ = self.stop.cancelled() => break,
                    _ = self.kick.notified() => continue,
                }
            }
            self.update(|s| {
                s.status = ServerStatus::Connecting;
                s.last_started = Some(Utc::now());
            });
            // What a previous connection announced is in the new one's first offer.
            self.offer_stale.store(false, Ordering::SeqCst);
            self.announced.store(0, Ordering::SeqCst);
            changed();
            tracing::info!(event = events::SERVER_STARTING, server = %self.name, transport = self.entry.transport_kind(), "starting server {}", self.name);
            let connected = tokio::select! {
                _ = self.stop.cancelled() => break,
                r = self.connect(&placeholders, &events, &sessions, &oauth) => r,
            };
            let mut unauthorized = false;
            let reason = match connected {
                Ok(mut conn) => {
                    let since = Instant::now();
                    if ever_connected {
                        self.update(|s| s.reconnects += 1);
                    }
                    ever_connected = true;
                    let handle = conn.handle();
                    let identity = conn.identity.clone();
                    let offer = handle.offer(&identity).await;
                    match offer {
                        Ok(offer) => {
                            let tools = offer.tools.len();
                            *self.handle.write().unwrap_or_else(|p| p.into_inner()) = Some(handle);
                            self.update(|s| {
                                s.status = ServerStatus::Connected;
                                s.error = None;
                                s.connected_at = Some(since);
                                s.pid = conn.pid();
                                s.identity = Some(Arc::new(identity));
                                s.offer = Arc::new(offer);
                                // Signed in elsewhere (`mcphub auth`, another hub):
                                // an address handed out before is stale.
                                s.authorization_url = None;
                            });
                            *self.sign_in.lock().unwrap_or_else(|p| p.into_inner()) = None;
                            changed();
                            tracing::info!(event = events::SERVER_CONNECTED, server = %self.name, tools, pid = conn.pid(), "server {} connected with {tools} tools", self.name);
                            if self.offer_stale.swap(false, Ordering::SeqCst) {
                                match self.refresh_offer().await {
                                    Ok(()) => changed(),
                                    Err(e) => {
                                        tracing::warn!(server = %self.name, error = %e, "refreshing the offer of {} failed: {e}", self.name)
                                    }
                                }
                            }
                            let reason = tokio::select! {
                                _ = self.stop.cancelled() => None,
                                _ = self.wait_for_pause() => Some(String::new()),
                                _ = self.wait_for_reauth() => Some(String::new()),
                                r = conn.closed() => Some(r),
                            };
                            *self.handle.write().unwrap_or_else(|p| p.into_inner()) = None;
                            conn.shutdown().await;
                            if since.elapsed() > Duration::from_secs(60) {
                                failures = 0;
                            }
                            match reason {
                                None => break,
                                Some(r) => r,
                            }
                        }
                        Err(e) if e.unauthorized => {
                            conn.shutdown().await;
                            unauthorized = true;
                            self.begin_sign_in(&e, &placeholders, &oauth).await
                        }
                        Err(e) => {
                            conn.shutdown().await;
                            format!("connected, but listing its offer failed: {}", e.message)
                        }
                    }
                }
                Err(e) if e.unauthorized => {
                    unauthorized = true;
                    self.begin_sign_in(&e, &placeholders, &oauth).await
                }
                Err(e) => e.message,
            };
            if self.is_paused() {
                self.mark_stopped();
                changed();
                tracing::info!(event = events::SERVER_DISCONNECTED, server = %self.name, "server {} stopped through the API", self.name);
                continue;
            }
            let taken = self.reauth.lock().unwrap_or_else(|p| p.into_inner()).take();
            let reason = match taken {
                // A call was refused for want of (more) authorization: sign in again.
                Some(challenge) => {
                    unauthorized = true;
                    let refused = ConnectError {
                        message: "the server asks for more authorization".into(),
                        unauthorized: true,
                        unreachable: false,
                        challenge: Some(challenge),
                    };
                    self.begin_sign_in(&refused, &placeholders, &oauth).await
                }
                None => reason,
            };
            self.update(|s| {
                s.status = if unauthorized {
                    ServerStatus::Unauthorized
                } else {
                    ServerStatus::Disconnected
                };
                s.error = Some(reason.clone());
                s.pid = None;
                s.connected_at = None;
                s.offer = Arc::new(Offer::default());
            });
            changed();
            tracing::warn!(event = events::SERVER_DISCONNECTED, server = %self.name, error = %reason, "server {} disconnected: {reason}", self.name);
            if self.is_paused() {
                continue;
            }
            if self.authorization_url().is_some() {
                // Nothing to retry until the user signs in: the callback kicks.
                tokio::select! {
                    _ = self.stop.cancelled() => break,
                    _ = self.kick.notified() => { failures = 0; continue; }
                }
            }
            if !policy.enabled {
                break;
            }
            let delay = backoff(failures, policy.initial, policy.max);
            failures = failures.saturating_add(1);
            tracing::info!(event = events::SERVER_RECONNECT_SCHEDULED, server = %self.name, delay_ms = delay.as_millis() as u64, attempt = failures, "reconnecting {} in {:?}", self.name, delay);
            tokio::select! {
                _ = self.stop.cancelled() => break,
                _ = tokio::time::sleep(delay) => {},
                _ = self.kick.notified() => { failures = 0; },
            }
        }
        *self.handle.write().unwrap_or_else(|p| p.into_inner()) = None;
        self.update(|s| {
            if s.status != ServerStatus::Disabled {
                s.status = ServerStatus::Disconnected;
            }
            s.pid = None;
            s.offer = Arc::new(Offer::default());
        });
        changed();
        tracing::info!(event = events::SERVER_STOPPED, server = %self.name, "server {} stopped", self.name);
    }

    /// Until a call's refusal asks for a new sign-in (a wake-up left from one already
    /// handled is no reason to drop the connection).
    async fn wait_for_reauth(&self) {
        loop {
            self.reauth_notify.notified().await;
            if self
                .reauth
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some()
            {
                return;
            }
        }
    }

    async fn wait_for_pause(&self) {
        loop {
            self.kick.notified().await;
            if self.is_paused() {
                return;
            }
        }
    }

    async fn connect(
        &self,
        placeholders: &Arc<Placeholders>,
        events: &mpsc::UnboundedSender<BackendEvent>,
        sessions: &Arc<Sessions>,
        oauth: &OAuthContext,
    ) -> Result<Connection, ConnectError> {
        // `${cmd: …}` runs a process and may block for its timeout, so it runs off the
        // runtime; anything else is string work, cheaper than a blocking-pool thread
        // per server (26 of them when 26 servers start at once).
        let transport = if self.entry.may_run_commands() {
            let entry = self.entry.clone();
            let ph = placeholders.clone();
            tokio::task::spawn_blocking(move || entry.resolve(&ph))
                .await
                .map_err(|e| e.to_string())??
        } else {
            self.entry.resolve(placeholders)?
        };
        let (ntx, mut nrx) = crate::mcp::client::notices();
        let forward = events.clone();
        let server = self.name.clone();
        tokio::spawn(async move {
            while let Some(notice) = nrx.recv().await {
                let _ = forward.send(BackendEvent::Notice {
                    server: server.clone(),
                    notice,
                });
            }
        });
        let relay = || Relay {
            server: self.name.clone(),
            notices: ntx.clone(),
            sessions: sessions.clone(),
        };
        let init_timeout = self.entry.timeout().max(Duration::from_secs(30));
        match &transport {
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                let server = self.name.clone();
                Connection::stdio(
                    StdioSpec {
                        command,
                        args,
                        env,
                        cwd: cwd.as_deref(),
                        max_message: self.entry.max_message_bytes(),
                    },
                    relay,
                    move |line| {
                        tracing::info!(event = events::SERVER_STDERR, server = %server, "{line}");
                    },
                    init_timeout,
                )
                .await
                .map_err(ConnectError::from)
            }
            Transport::Http {
                url,
                headers,
                mode,
                oauth: client,
            } => {
                let signed_in =
                    crate::mcp::oauth::signed_in(url, &self.token_file(oauth), client).await?;
                Connection::http(url, headers, *mode, signed_in, relay, init_timeout).await
            }
        }
    }
}

/// Exponential backoff with full jitter in the upper half: `initial * 2^n`, capped at
/// `max`, then a random point in [delay/2, delay] so that many servers dying together
/// do not come back in lockstep.
pub fn backoff(failures: u32, initial: Duration, max: Duration) -> Duration {
    let exp = initial.saturating_mul(1u32 << failures.min(16));
    let capped = exp.min(max);
    let half = capped / 2;
    let jitter = rand::random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_cap_with_jitter() {
        let (i, m) = (Duration::from_millis(100), Duration::from_secs(5));
        for n in 0..30 {
            let d = backoff(n, i, m);
            let full = i.saturating_mul(1 << n.min(16)).min(m);
            assert!(d >= full / 2 && d <= full, "n={n} d={d:?} full={full:?}");
        }
        assert!(backoff(20, i, m) >= Duration::from_millis(2500));
    }
}
