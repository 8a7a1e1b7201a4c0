//! The hub: owns the backends, the aggregated catalog, the client sessions and the
//! hub's lifecycle state. The HTTP front (`http`) and the REST API (`rest`) read it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::api::events;
use crate::api::{HubState, ServerStatus};
use crate::config::{HubConfig, Placeholders};
use crate::hub::backends::{Backend, BackendEvent};
use crate::hub::catalog::{Catalog, Part};
use crate::hub::error::HubError;
use crate::hub::filtering::listing::Listing;
use crate::mcp::client::Notice;
use crate::mcp::sessions::Sessions;
use crate::state::{StateDir, WorkspaceEntry, Workspaces};
use crate::telemetry::metrics::Metrics;

/// One connected server as the catalog is built from it: name, tool-name prefix, offer.
type CatalogInput = (String, String, Arc<crate::mcp::offer::Offer>);

/// Something a subscriber of `/api/events` (and the front) wants to know.
#[derive(Debug, Clone, Serialize)]
pub struct HubEvent {
    /// mcp-hub's SSE event name: `hub_state`, `subscription_event`, `log`.
    pub event: &'static str,
    pub data: Value,
}

pub struct HubOptions {
    pub config_files: crate::config::ConfigFiles,
    pub state_dir: StateDir,
    /// How long a client's request made while the servers are still starting waits
    /// for them (`--startup-timeout`).
    pub startup_timeout: std::time::Duration,
    /// The marketplace registry's address (`--marketplace-url`).
    pub marketplace_url: String,
}

/// `--startup-timeout`'s default: long enough for `npx`/`uvx` servers already in their
/// caches, short enough that a client's request does not give up first.
pub const DEFAULT_STARTUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// The least time between two re-reads of one server's lists while it keeps saying
/// they changed: short enough that clients see the last list promptly.
const REREAD_SPACING: std::time::Duration = std::time::Duration::from_millis(50);

pub struct Hub {
    pub options: HubOptions,
    pub marketplace: crate::hub::marketplace::Marketplace,
    pub metrics: Arc<Metrics>,
    pub filtering: crate::hub::filtering::Filtering,
    pub sessions: Arc<Sessions>,
    /// Stateless clients' calls to 2025-era backends, parked while their clients
    /// answer the backend's questions.
    /// Each rate-limited server's bucket (`rateLimit`).
    pub(crate) rates:
        std::sync::Mutex<std::collections::HashMap<String, crate::util::rate::Bucket>>,
    /// Tasks 2026-07-28 backends made of calls: who owns each.
    pub(crate) tasks: std::sync::Mutex<crate::hub::catalog::TaskRoutes>,
    pub(crate) rounds: crate::mcp::rounds::Rounds<
        Result<crate::mcp::client::Answer<crate::mcp::model::CallToolResult>, HubError>,
    >,
    pub server_id: String,
    pub started: Instant,
    pub start_time: DateTime<Utc>,
    port: AtomicU16,
    config: RwLock<HubConfig>,
    backends: RwLock<BTreeMap<String, Arc<Backend>>>,
    listing: RwLock<Arc<Listing>>,
    state: RwLock<HubState>,
    events: broadcast::Sender<HubEvent>,
    backend_tx: mpsc::UnboundedSender<BackendEvent>,
    backend_rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<BackendEvent>>>,
    placeholders: Arc<Placeholders>,
    /// Held for a whole catalog rebuild, so that two rebuilds (a reload and an LLM
    /// answer, say) cannot swap in their results in the wrong order.
    rebuilding: std::sync::Mutex<()>,
    /// The connected servers' offers the catalog was last built from: a status change
    /// that leaves them as they were (connecting, a failed attempt) needs no rebuild.
    /// `None` until the first build, so that the first one always runs (with filtering
    /// on, even an empty catalog carries meta-tools and settings).
    built_from: std::sync::Mutex<Option<Vec<CatalogInput>>>,
    /// `workspaces.json` as last read, for health polls: re-read when the file
    /// changes, and at least every 2 s so that hubs that died drop out.
    workspaces_seen: std::sync::Mutex<Option<WorkspacesSeen>>,
    /// Tool calls being answered, so that shutdown can let them finish.
    inflight: std::sync::atomic::AtomicUsize,
    drained: tokio::sync::Notify,
    /// Told of every state change (`until_started`).
    state_changed: tokio::sync::Notify,
    /// Clients following the hub's events (`/api/events`), for `--auto-shutdown`.
    listeners: tokio::sync::watch::Sender<usize>,
    /// When `--auto-shutdown`'s wait began, and how long it is: mcp-hub's
    /// `shutting_down` state of its `workspaces.json` entry.
    shutdown_pending: std::sync::Mutex<Option<(DateTime<Utc>, std::time::Duration)>>,
    /// Held for a whole reload: two at once (a watched file and an API call) would
    /// both work out the changes from the same servers and both apply them.
    reloading: std::sync::Mutex<()>,
    /// `hard_restart` asked the hub to shut down.
    shutdown_requested: tokio_util::sync::CancellationToken,
    /// The clients of `/api/events` by id, with when each connected.
    events_clients: Arc<std::sync::Mutex<BTreeMap<u64, DateTime<Utc>>>>,
    /// Config files as the hub last wrote them (start/stop recorded in the file).
    own_writes:
        std::sync::Mutex<std::collections::HashMap<PathBuf, Option<(std::time::SystemTime, u64)>>>,
    next_events_client: std::sync::atomic::AtomicU64,
    last_event_at: std::sync::Mutex<Option<DateTime<Utc>>>,
}

/// One client following the hub's events, for as long as it lives.
pub struct Listening {
    id: u64,
    count: tokio::sync::watch::Sender<usize>,
    clients: Arc<std::sync::Mutex<BTreeMap<u64, DateTime<Utc>>>>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
        self.count.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// One client of `/api/events`, as mcp-hub's health lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsClient {
    pub id: String,
    pub state: &'static str,
    pub connected_at: String,
    /// Every client is sent every event: the last one sent, or its connection.
    pub last_event_at: String,
}

/// Which kinds of list changes were told server by server.
#[derive(Default)]
struct Told {
    tools: bool,
    prompts: bool,
    resources: bool,
}

/// Counts one in-flight call for as long as it lives.
pub struct InFlight<'a>(&'a Hub);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.inflight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

impl Hub {
    /// Registers a call, or refuses it when the hub is stopping.
    pub fn begin_call(&self) -> Result<InFlight<'_>, crate::hub::error::HubError> {
        self.inflight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(self);
        if matches!(self.state(), HubState::Stopping | HubState::Stopped) {
            return Err(crate::hub::error::HubError::ShuttingDown);
        }
        Ok(guard)
    }

    /// Resolves once every configured server has had its first attempt at starting
    /// (`ready`), or when the start-up timeout since the hub started has passed: a
    /// client that asks right away gets what the servers offer, not an empty hub.
    pub async fn until_started(&self) {
        let deadline = self.started + self.options.startup_timeout;
        loop {
            let changed = self.state_changed.notified();
            if self.state() != HubState::Starting {
                return;
            }
            if tokio::time::timeout_at(deadline.into(), changed)
                .await
                .is_err()
            {
                // What the servers that did connect offer, built now: while the hub
                // starts, the catalog waits for the last of them.
                self.rebuild_catalog_if_offers_changed();
                return;
            }
        }
    }

    /// Resolves when no call is in flight.
    pub async fn calls_drained(&self) {
        loop {
            let notified = self.drained.notified();
            if self.inflight.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    pub fn new(config: HubConfig, options: HubOptions, placeholders: Placeholders) -> Arc<Hub> {
        let (backend_tx, backend_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        let metrics = Arc::new(Metrics::new(Some(options.state_dir.log_file())));
        let sessions = Arc::new(Sessions::new(metrics.notifications_dropped.clone()));
        let placeholders = Arc::new(placeholders);
        let filtering = crate::hub::filtering::Filtering::new(
            config.filtering.clone(),
            Some(options.state_dir.llm_cache_file()),
            metrics.clone(),
            placeholders.clone(),
        );
        let marketplace = crate::hub::marketplace::Marketplace::new(
            options.marketplace_url.clone(),
            options.state_dir.marketplace_cache_file(),
        );
        Arc::new(Hub {
            metrics,
            filtering,
            marketplace,
            options,
            sessions,
            rounds: Default::default(),
            tasks: Default::default(),
            rates: Default::default(),
            server_id: crate::api::SERVER_ID.to_owned(),
            started: Instant::now(),
            start_time: Utc::now(),
            port: AtomicU16::new(0),
            config: RwLock::new(config),
            backends: RwLock::new(BTreeMap::new()),
            listing: RwLock::new(Arc::new(Listing::default())),
            state: RwLock::new(HubState::Starting),
            events,
            backend_tx,
            backend_rx: std::sync::Mutex::new(Some(backend_rx)),
            placeholders,
            rebuilding: std::sync::Mutex::new(()),
            built_from: std::sync::Mutex::new(None),
            workspaces_seen: std::sync::Mutex::new(None),
            inflight: std::sync::atomic::AtomicUsize::new(0),
            drained: tokio::sync::Notify::new(),
            state_changed: tokio::sync::Notify::new(),
            listeners: tokio::sync::watch::channel(0).0,
            shutdown_pending: std::sync::Mutex::new(None),
            shutdown_requested: tokio_util::sync::CancellationToken::new(),
            reloading: std::sync::Mutex::new(()),
            events_clients: Arc::default(),
            own_writes: Default::default(),
            next_events_client: std::sync::atomic::AtomicU64::new(1),
            last_event_at: std::sync::Mutex::new(None),
        })
    }

    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }

    pub fn set_port(&self, port: u16) {
        self.port.store(port, Ordering::Relaxed);
    }

    pub fn state(&self) -> HubState {
        *self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn set_state(&self, state: HubState) {
        let old = std::mem::replace(
            &mut *self.state.write().unwrap_or_else(|p| p.into_inner()),
            state,
        );
        if old != state {
            self.state_changed.notify_waiters();
            self.emit(
                "hub_state",
                {
                    let mut data = json!({"state": state.as_str(), "server_id": self.server_id, "pid": std::process::id(), "port": self.port(), "timestamp": Utc::now().to_rfc3339()});
                    if state == HubState::Restarted {
                        data["has_restarted"] = json!(true);
                    }
                    data
                },
            );
            self.write_workspace();
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.events.subscribe()
    }

    /// A client's subscription to the hub's events: counted while the guard lives.
    pub fn listen(&self) -> (broadcast::Receiver<HubEvent>, Listening) {
        let id = self.next_events_client.fetch_add(1, Ordering::Relaxed);
        self.events_clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, Utc::now());
        self.listeners.send_modify(|n| *n += 1);
        let guard = Listening {
            id,
            count: self.listeners.clone(),
            clients: self.events_clients.clone(),
        };
        (self.events.subscribe(), guard)
    }

    fn set_shutdown_pending(&self, pending: Option<(DateTime<Utc>, std::time::Duration)>) {
        *self
            .shutdown_pending
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = pending;
        self.write_workspace();
    }

    /// Keeps this hub's `workspaces.json` entry's `activeConnections` current, as
    /// mcp-hub does (its clients show it, and other hubs' clients hear of it).
    async fn track_listeners(self: Arc<Self>) {
        let mut count = self.listeners.subscribe();
        let weak = Arc::downgrade(&self);
        drop(self);
        while count.changed().await.is_ok() {
            let Some(hub) = weak.upgrade() else { return };
            hub.write_workspace();
        }
    }

    /// Resolves once event clients came and the last of them has been gone for
    /// `delay` (a new client in the meantime restarts the wait): mcp-hub's
    /// `--auto-shutdown`, for editors that start the hub and leave it to stop.
    pub async fn until_abandoned(&self, delay: std::time::Duration) {
        let mut count = self.listeners.subscribe();
        // The sender lives as long as the hub: these waits end only by the count.
        let came = count.wait_for(|n| *n > 0).await.is_ok();
        if !came {
            return std::future::pending().await;
        }
        loop {
            let left = count.wait_for(|n| *n == 0).await.is_ok();
            if !left {
                return std::future::pending().await;
            }
            self.set_shutdown_pending(Some((Utc::now(), delay)));
            let back = tokio::select! {
                _ = tokio::time::sleep(delay) => false,
                r = count.wait_for(|n| *n > 0) => r.is_ok(),
            };
            if !back {
                return;
            }
            self.set_shutdown_pending(None);
        }
    }

    /// Sends an event to the clients of `/api/events`, stamped with its time as
    /// mcp-hub stamps every event.
    pub fn emit(&self, event: &'static str, mut data: Value) {
        if let Value::Object(m) = &mut data {
            m.entry("timestamp")
                .or_insert_with(|| json!(Utc::now().to_rfc3339()));
        }
        if self.events.send(HubEvent { event, data }).is_ok() {
            *self.last_event_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Utc::now());
        }
    }

    /// The clients of `/api/events` now.
    pub fn events_clients(&self) -> Vec<EventsClient> {
        let last = *self.last_event_at.lock().unwrap_or_else(|p| p.into_inner());
        self.events_clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(id, since)| EventsClient {
                id: format!("events-{id}"),
                state: "connected",
                connected_at: since.to_rfc3339(),
                last_event_at: last.filter(|l| l > since).unwrap_or(*since).to_rfc3339(),
            })
            .collect()
    }

    /// What clients are shown now: the catalog and the filter's verdicts on it.
    pub fn listing(&self) -> Arc<Listing> {
        self.listing
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn backends(&self) -> Vec<Arc<Backend>> {
        self.backends
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn backend(&self, name: &str) -> Option<Arc<Backend>> {
        self.backends
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// The config files to watch (the default one even before it exists).
    pub fn config_files(&self) -> Vec<PathBuf> {
        self.options.config_files.watched()
    }

    /// Starts every configured server (in parallel: each has its own task) and the
    /// event loop. Returns at once; `until_started` tells when the first round is done.
    pub fn start(self: &Arc<Self>) {
        let rx = self
            .backend_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(rx) = rx {
            tokio::spawn(self.clone().event_loop(rx));
        }
        tokio::spawn(self.clone().track_listeners());
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
            loop {
                tick.tick().await;
                let Some(hub) = hub.upgrade() else { return };
                hub.sessions.sweep();
                hub.rounds.sweep();
                // Between calls only: memory a trim gives back mid-burst would be
                // asked for again at once.
                if hub.inflight.load(Ordering::Acquire) == 0 {
                    crate::util::memory::trim_free_heap();
                }
            }
        });
        let weak = Arc::downgrade(self);
        self.filtering.set_on_change(move || {
            if let Some(hub) = weak.upgrade() {
                hub.rebuild_catalog();
            }
        });
        self.filtering.start();
        let entries: Vec<_> = self
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .servers
            .values()
            .cloned()
            .collect();
        if entries.is_empty() {
            let hint = crate::config::default_config_path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "servers.json".into());
            tracing::info!(
                event = events::CONFIG_EMPTY,
                "no MCP servers configured: add one under \"mcpServers\" in {hint} (or pass -c FILE), e.g. {{\"mcpServers\": {{\"time\": {{\"command\": \"uvx\", \"args\": [\"mcp-server-time\"]}}}}}}, then POST /api/restart"
            );
        }
        for entry in entries {
            self.add_backend(Backend::new(entry));
        }
        // The catalog before any server has answered: with filtering on it already has
        // its meta-tools and settings, also when no server ever connects.
        self.rebuild_catalog();
        self.check_ready();
    }

    fn add_backend(self: &Arc<Self>, backend: Arc<Backend>) {
        self.metrics
            .set_status(&backend.name, backend.status().as_str());
        self.metrics.sync_reconnects(&backend.name, 0);
        let replaced = self
            .backends
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(backend.name.clone(), backend.clone());
        // Two reloads at once (a watched file and an API call) may both replace a
        // server: the one replaced must not keep running beside its successor.
        if let Some(old) = replaced {
            old.stop();
        }
        tokio::spawn(backend.supervise(
            self.placeholders.clone(),
            self.backend_tx.clone(),
            self.sessions.clone(),
            self.oauth_context(),
        ));
    }

    async fn event_loop(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<BackendEvent>) {
        while let Some(first) = rx.recv().await {
            // Events that queued up meanwhile are taken together and the catalog is
            // rebuilt once for all of them: 26 servers starting at once send 52.
            let mut changed = self.on_backend_event(first);
            for _ in 1..1024 {
                let Ok(ev) = rx.try_recv() else { break };
                changed |= self.on_backend_event(ev);
            }
            if changed {
                // While the hub starts, MCP clients wait for it (`until_started`): the
                // catalog is built when the last server has settled (`check_ready`),
                // not once per batch of servers. With 100 servers of 200 tools the
                // rebuilds in between took 1.4 s of the 1.7 s to ready.
                if !self.starting() {
                    self.rebuild_catalog_if_offers_changed();
                } else {
                    // Meanwhile the tools of the servers that did answer are guessed
                    // at, beside this thread, so that the last build has at most the
                    // last server's to wait for.
                    for b in self.backends() {
                        if b.status() == ServerStatus::Connected {
                            self.filtering.guess_ahead(&b.name, &b.offer());
                        }
                    }
                }
                self.check_ready();
            }
        }
    }

    /// Handles one event; true when a server's status changed.
    fn on_backend_event(self: &Arc<Self>, ev: BackendEvent) -> bool {
        match ev {
            BackendEvent::Changed { server } => {
                if let Some(b) = self.backend(&server) {
                    let snap = b.snapshot();
                    self.metrics.set_status(&server, snap.status.as_str());
                    self.metrics.sync_reconnects(&server, snap.reconnects);
                    // mcphub's own event type: mcp-hub's clients show every
                    // `servers_updated` as a notice, and mcp-hub sends that only for
                    // API actions and config changes.
                    self.emit(
                        "subscription_event",
                        json!({"type": "server_status", "server": server, "status": snap.status.as_str(), "error": snap.error}),
                    );
                }
                true
            }
            BackendEvent::Notice { server, notice } => {
                self.on_notice(&server, notice);
                false
            }
        }
    }

    /// A backend's list changed: its offer is re-read, one re-read at a time however
    /// many notices come meanwhile (`Backend::refresh_again`), and the next one no
    /// sooner than `REREAD_SPACING` after: a flood costs re-reads by its length, not
    /// by how fast the server answers (each re-read rebuilds the whole catalog).
    fn on_notice(self: &Arc<Self>, server: &str, notice: Notice) {
        if let Some(b) = self.backend(server)
            && b.offer_changed(notice)
        {
            let hub = self.clone();
            tokio::spawn(async move {
                loop {
                    let announced = b.take_announced();
                    if let Err(e) = b.refresh_offer().await {
                        tracing::warn!(server = %b.name, error = %e, "refreshing the offer of {} failed: {e}", b.name);
                    }
                    hub.rebuild(true, announced);
                    if !b.refresh_again() {
                        break;
                    }
                    tokio::time::sleep(REREAD_SPACING).await;
                }
            });
        }
    }

    /// Rebuilds the aggregated catalog and tells clients what changed.
    pub fn rebuild_catalog(&self) {
        self.rebuild(true, 0);
    }

    /// Whether the hub is in its first start, within the start-up timeout.
    fn starting(&self) -> bool {
        self.state() == HubState::Starting && self.started.elapsed() < self.options.startup_timeout
    }

    /// The listing, with what the servers connected so far offer: while the hub starts
    /// the catalog is rebuilt only when asked for (a REST call) or once all have
    /// settled.
    pub fn current_listing(&self) -> Arc<Listing> {
        if self.state() == HubState::Starting {
            self.rebuild_catalog_if_offers_changed();
        }
        self.listing()
    }

    /// Rebuilds only when a server connected, went away or got a new offer.
    fn rebuild_catalog_if_offers_changed(&self) {
        self.rebuild(false, 0);
    }

    /// `announced`: the kinds of list (`Notice::bit`) a server said changed, told to
    /// clients even when the rebuilt catalog shows them the same (a tool added and
    /// removed again, a change the comparison does not see): the server knows its
    /// lists better than the hub's comparison does. mcp-hub's events stay for what
    /// changed.
    fn rebuild(&self, always: bool, announced: u8) {
        let _one_at_a_time = self.rebuilding.lock().unwrap_or_else(|p| p.into_inner());
        let offers: Vec<CatalogInput> = self
            .backends()
            .iter()
            .filter(|b| b.status() == ServerStatus::Connected)
            .map(|b| (b.name.clone(), b.entry.prefix(), b.offer()))
            .collect();
        if !always {
            let built_from = self.built_from.lock().unwrap_or_else(|p| p.into_inner());
            let same = built_from.as_ref().is_some_and(|built| {
                built.len() == offers.len()
                    && built
                        .iter()
                        .zip(&offers)
                        .all(|(a, b)| a.0 == b.0 && a.1 == b.1 && Arc::ptr_eq(&a.2, &b.2))
            });
            if same {
                return;
            }
        }
        let parts: Vec<Part<'_>> = offers
            .iter()
            .map(|(server, prefix, offer)| Part {
                server,
                prefix,
                offer: offer.clone(),
            })
            .collect();
        let new = Arc::new(self.filtering.apply(Catalog::build(&parts)));
        let old = std::mem::replace(
            &mut *self.listing.write().unwrap_or_else(|p| p.into_inner()),
            new.clone(),
        );
        drop(parts);
        // Recorded once the new catalog is in place. Holding the offers, not their
        // addresses, keeps `ptr_eq` meaningful.
        // Rebuilds are serialized (`rebuilding`), so the record can be out while the
        // events are worked out from it.
        let previous = self
            .built_from
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let per_server = self.emit_offer_changes(previous.as_deref().unwrap_or_default(), &offers);
        *self.built_from.lock().unwrap_or_else(|p| p.into_inner()) = Some(offers);
        let tools_changed = !old.lets_same_tools_through(&new)
            || old.filtering_active != new.filtering_active
            || old.filter != new.filter
            || !old.shows_same_tools(&new);
        let prompts_changed = old.catalog.prompts != new.catalog.prompts;
        let resources_changed = old.catalog.resources != new.catalog.resources
            || old.catalog.templates != new.catalog.templates;
        // A server coming or going is told by `servers_updated` and `server_status`,
        // as mcp-hub tells it. Only a change of what the filter lets through, with the
        // same tools, is told as a tool list change without a server (mcphub's own).
        let said = |notice: Notice| announced & notice.bit() != 0;
        if tools_changed || said(Notice::ToolsChanged) {
            self.sessions.broadcast_tools_changed();
        }
        if tools_changed && !per_server.tools && old.shows_same_tools(&new) {
            self.emit("subscription_event", json!({"type": "tool_list_changed"}));
        }
        if prompts_changed || said(Notice::PromptsChanged) {
            self.sessions.broadcast_prompts_changed();
        }
        if resources_changed || said(Notice::ResourcesChanged) {
            self.sessions.broadcast_resources_changed();
        }
    }

    /// mcp-hub's capability events: for each server that was connected before and
    /// whose offer changed, the list that changed, with the server's name and its own
    /// names for what it lists (what mcphub.nvim reads; it drops events without a
    /// server). Returns which kinds were told.
    fn emit_offer_changes(&self, before: &[CatalogInput], now: &[CatalogInput]) -> Told {
        let mut told = Told::default();
        for (server, _, offer) in now {
            let Some((_, _, old)) = before.iter().find(|(s, _, _)| s == server) else {
                continue;
            };
            if Arc::ptr_eq(old, offer) {
                continue;
            }
            if old.tools != offer.tools {
                told.tools = true;
                self.emit(
                    "subscription_event",
                    json!({"type": "tool_list_changed", "server": server, "tools": offer.tools}),
                );
            }
            if old.prompts != offer.prompts {
                told.prompts = true;
                self.emit(
                    "subscription_event",
                    json!({"type": "prompt_list_changed", "server": server, "prompts": offer.prompts}),
                );
            }
            if old.resources != offer.resources || old.templates != offer.templates {
                told.resources = true;
                self.emit(
                    "subscription_event",
                    json!({"type": "resource_list_changed", "server": server,
                        "resources": offer.resources, "resourceTemplates": offer.templates}),
                );
            }
        }
        told
    }

    /// Changes the running hub's filter settings (not the file) and applies them.
    pub fn update_filtering(
        &self,
        change: impl FnOnce(&mut crate::config::filtering::FilterSettings),
    ) {
        let mut s = (*self.filtering.settings()).clone();
        change(&mut s);
        self.filtering.replace_settings(s);
        self.rebuild_catalog();
    }

    /// `ready` once every enabled server has had its first attempt (connected or
    /// failed): one broken server never holds the hub in `starting`.
    fn check_ready(&self) {
        let state = self.state();
        if !matches!(state, HubState::Starting | HubState::Restarting) {
            return;
        }
        let pending = self.backends().iter().any(|b| {
            let s = b.snapshot();
            s.status == ServerStatus::Connecting
                && s.error.is_none()
                && s.reconnects == 0
                && s.identity.is_none()
        });
        if !pending {
            self.rebuild_catalog_if_offers_changed();
            let connected = self
                .backends()
                .iter()
                .filter(|b| b.status() == ServerStatus::Connected)
                .count();
            let next = if state == HubState::Restarting {
                HubState::Restarted
            } else {
                HubState::Ready
            };
            self.set_state(next);
            if next == HubState::Restarted {
                self.set_state(HubState::Ready);
            }
            tracing::info!(
                event = events::HUB_READY,
                connected,
                total = self.backends().len(),
                port = self.port(),
                "hub ready: {connected}/{} servers connected",
                self.backends().len()
            );
        }
    }

    /// Re-reads the config files and restarts only the servers whose entry changed;
    /// servers that are gone are stopped, new ones started. A bad file changes nothing.
    pub fn reload(self: &Arc<Self>) -> Result<ReloadSummary, crate::config::ConfigError> {
        self.reload_with(Reload::Changed)
    }

    /// A reload because a config file changed on disk (`--watch`): clients hear
    /// mcp-hub's `config_changed` (the new servers, and whether any changed) first.
    pub fn reload_watched(self: &Arc<Self>) -> Result<ReloadSummary, crate::config::ConfigError> {
        self.reload_with(Reload::Watched)
    }

    /// Disables or enables `server` as mcp-hub's API does: recorded in its config file,
    /// then the files are read again (so the server stops, or starts, and a file
    /// another program changed meanwhile is taken in too).
    pub fn set_disabled(
        self: &Arc<Self>,
        server: &str,
        disabled: bool,
    ) -> Result<ReloadSummary, crate::config::ConfigError> {
        if let Some(b) = self.backend(server) {
            crate::config::set_disabled(&b.entry.source, server, disabled)?;
            self.own_write(&b.entry.source);
        }
        // Told by the caller as mcp-hub tells an API start or stop: one
        // `servers_updated` naming the server.
        self.reload_with(Reload::Quiet)
    }

    /// Remembers a config file as the hub itself wrote it: `--watch` does not tell
    /// it as news (mcp-hub records a start or stop in memory, and its clients hear
    /// no `config_changed` for one).
    fn own_write(&self, file: &std::path::Path) {
        let stamp = crate::util::file_stamp(file);
        self.own_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(file.to_owned(), stamp);
    }

    /// Whether `file` is as the hub last wrote it (`own_write`).
    pub fn is_own_write(&self, file: &std::path::Path, stamp: crate::util::FileStamp) -> bool {
        self.own_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(file)
            .is_some_and(|s| *s == stamp)
    }

    /// `server`, when a sign-in of it waits for its user.
    fn signing_in(&self, server: &str) -> Result<(Arc<Backend>, String), HubError> {
        let backend = self
            .backend(server)
            .ok_or_else(|| HubError::UnknownServer {
                server: server.into(),
            })?;
        let url = backend
            .authorization_url()
            .ok_or_else(|| HubError::NoAuthorizationPending {
                server: server.into(),
            })?;
        Ok((backend, url))
    }

    /// The address a user opens to sign `server` in (`POST /api/servers/authorize`).
    pub fn authorization_url(&self, server: &str) -> Result<String, HubError> {
        self.signing_in(server).map(|(_, url)| url)
    }

    /// Completes `server`'s sign-in with the code (and state, and issuer) its
    /// authorization server sent back (`/api/oauth/callback`,
    /// `/api/oauth/manual_callback`).
    pub async fn finish_authorization(
        &self,
        server: &str,
        code: &str,
        state: &str,
        issuer: Option<&str>,
    ) -> Result<(), HubError> {
        let (backend, _) = self.signing_in(server)?;
        backend
            .finish_sign_in(code, state, issuer)
            .await
            .map_err(|reason| HubError::AuthorizationFailed {
                server: server.into(),
                reason,
            })
    }

    /// Where tokens are kept and where authorization servers call the hub back.
    fn oauth_context(&self) -> crate::hub::backends::OAuthContext {
        let port = self.port();
        crate::hub::backends::OAuthContext {
            state: self.options.state_dir.clone(),
            callback: (port != 0).then(|| format!("http://localhost:{port}/api/oauth/callback")),
        }
    }

    /// `POST /api/restart`: a reload, passing through mcp-hub's `restarting` and
    /// `restarted` states; a refused config leaves the hub `ready` and unchanged.
    pub fn restart(self: &Arc<Self>) -> Result<ReloadSummary, crate::config::ConfigError> {
        self.set_state(HubState::Restarting);
        let r = self.reload();
        if r.is_ok() {
            self.set_state(HubState::Restarted);
        }
        self.set_state(HubState::Ready);
        r
    }

    /// `POST /api/hard-restart`, as mcp-hub does it: `restarting`, then the hub shuts
    /// down for whoever started it to start it again. mcphub.nvim relies on that: it
    /// hard-restarts a hub that has other config files than it wants, then spawns its
    /// own on the port the old one leaves.
    pub fn hard_restart(&self) {
        self.set_state(HubState::Restarting);
        self.shutdown_requested.cancel();
    }

    /// Resolves once the hub asked to be shut down (`hard_restart`).
    pub async fn until_shutdown_requested(&self) {
        self.shutdown_requested.cancelled().await
    }

    /// mcp-hub's dev restart: `server` starts again because files its `dev` block
    /// watches changed (`files`, relative to its `dev.cwd`). Clients hear
    /// `servers_updating`, then, once the new process has connected or failed,
    /// `servers_updated`, both with the reason and the files.
    pub async fn restart_for_dev(self: &Arc<Self>, server: &str, files: &[String]) {
        let Some(old) = self.backend(server) else {
            return;
        };
        tracing::info!(
            server,
            ?files,
            "files of `{server}` changed: restarting it (its dev block)"
        );
        let tell = |kind: &str| {
            self.emit(
                "subscription_event",
                json!({"type": kind, "changes": {"modified": [server]}, "reason": "dev_file_change",
                    "files": files, "timestamp": Utc::now().to_rfc3339()}),
            );
        };
        tell("servers_updating");
        let new = Backend::new(old.entry.clone());
        {
            let mut map = self.backends.write().unwrap_or_else(|p| p.into_inner());
            if let Some(b) = map.remove(server) {
                b.stop();
            }
        }
        self.add_backend(new.clone());
        self.rebuild_catalog();
        self.until_settled(&new).await;
        tell("servers_updated");
    }

    /// Resolves once `backend` is no longer connecting (connected, or failed), or
    /// after its timeout: what mcp-hub's start and restarts wait for before answering.
    pub async fn until_settled(&self, backend: &Backend) {
        self.until_status(backend, |s| s != ServerStatus::Connecting)
            .await
    }

    /// Resolves once `backend`'s status satisfies `done`, or after its timeout.
    pub async fn until_status(&self, backend: &Backend, done: impl Fn(ServerStatus) -> bool) {
        let mut rx = self.subscribe();
        let deadline = Instant::now() + backend.entry.timeout();
        while !done(backend.status()) && Instant::now() < deadline {
            // Status changes are hub events; the timeout covers one missed in between.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(200), rx.recv()).await;
        }
    }

    /// mcp-hub's event after an API action on one server.
    pub fn server_modified(&self, server: &str) {
        self.emit(
            "subscription_event",
            json!({"type": "servers_updated", "changes": {"modified": [server]}}),
        );
    }

    /// Refuses new calls from now on; the ones in flight go on (`calls_drained`).
    pub fn begin_stopping(&self) {
        self.set_state(HubState::Stopping);
    }

    /// Stops every server, and takes the hub out of `workspaces.json`.
    pub async fn stop(&self) {
        self.begin_stopping();
        self.stop_backends().await;
        self.set_state(HubState::Stopped);
        self.remove_workspace();
    }

    fn reload_with(
        self: &Arc<Self>,
        why: Reload,
    ) -> Result<ReloadSummary, crate::config::ConfigError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let new = self.options.config_files.load()?;
        // What changes, worked out before anything is touched, so that clients hear
        // mcp-hub's `servers_updating` first and `servers_updated` when it is done.
        let mut summary = ReloadSummary::default();
        let current = self.backends();
        for b in &current {
            match new.servers.get(&b.name) {
                Some(e) if *e == b.entry => summary.unchanged.push(b.name.clone()),
                Some(_) => summary.restarted.push(b.name.clone()),
                None => summary.removed.push(b.name.clone()),
            }
        }
        summary.added = new
            .servers
            .keys()
            .filter(|name| !current.iter().any(|b| &b.name == *name))
            .cloned()
            .collect();
        let significant = !(summary.added.is_empty()
            && summary.removed.is_empty()
            && summary.restarted.is_empty());
        if why == Reload::Watched {
            self.emit(
                "subscription_event",
                json!({"type": "config_changed", "newConfig": new.public_view(), "isSignificant": significant}),
            );
        }
        let tell = significant && why != Reload::Quiet;
        if tell {
            self.emit(
                "subscription_event",
                json!({"type": "servers_updating", "changes": summary.changes()}),
            );
        }
        {
            let mut map = self.backends.write().unwrap_or_else(|p| p.into_inner());
            for name in summary.restarted.iter().chain(&summary.removed) {
                if let Some(b) = map.remove(name) {
                    b.stop();
                }
            }
        }
        for name in &summary.removed {
            self.metrics.forget_server(name);
        }
        for name in summary.restarted.iter().chain(&summary.added) {
            if let Some(entry) = new.servers.get(name) {
                self.add_backend(Backend::new(entry.clone()));
            }
        }
        let filter_settings = new.filtering.clone();
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = new;
        self.filtering.replace_settings(filter_settings);
        tracing::info!(event = events::CONFIG_RELOADED, added = ?summary.added, removed = ?summary.removed, restarted = ?summary.restarted, "config reloaded");
        self.rebuild_catalog();
        if tell {
            self.emit(
                "subscription_event",
                json!({"type": "servers_updated", "changes": summary.changes()}),
            );
        }
        Ok(summary)
    }

    /// Stops every backend and waits for their processes to be gone.
    async fn stop_backends(&self) {
        self.filtering.shutdown();
        let backends = self.backends();
        for b in &backends {
            b.stop();
        }
        // Each supervisor shuts its child down (SIGTERM, then SIGKILL after a grace
        // period); wait until every one reports it.
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let mut rx = self.subscribe();
        loop {
            let live = backends.iter().any(|b| {
                b.snapshot().pid.is_some()
                    || b.status() == ServerStatus::Connected
                    || b.status() == ServerStatus::Connecting
            });
            if !live || Instant::now() >= deadline {
                break;
            }
            let _ = tokio::time::timeout(std::time::Duration::from_millis(200), rx.recv()).await;
        }
    }

    /// This hub's `workspaces.json` entry: mcp-hub's fields (its clients read
    /// `state` as `active` or `shutting_down`, and the connections and shutdown
    /// fields), then mcphub's own (`hubState`, the hub's lifecycle state).
    pub fn workspace_entry(&self) -> WorkspaceEntry {
        let pending = *self
            .shutdown_pending
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut extra = serde_json::Map::new();
        extra.insert("activeConnections".into(), json!(*self.listeners.borrow()));
        extra.insert(
            "shutdownStartedAt".into(),
            json!(pending.map(|(at, _)| at.to_rfc3339())),
        );
        extra.insert(
            "shutdownDelay".into(),
            json!(pending.map(|(_, d)| d.as_millis() as u64)),
        );
        extra.insert("hubState".into(), json!(self.state().as_str()));
        extra.insert("server_id".into(), json!(self.server_id));
        extra.insert("hub".into(), json!("mcphub"));
        extra.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
        WorkspaceEntry {
            pid: std::process::id(),
            port: self.port(),
            cwd: std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            config_files: self
                .options
                .config_files
                .present()
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            start_time: self.start_time.to_rfc3339(),
            state: if pending.is_some() {
                "shutting_down"
            } else {
                "active"
            }
            .to_owned(),
            extra,
        }
    }

    /// Records this hub in `workspaces.json`. A state directory that cannot be
    /// written is logged; the hub keeps serving.
    pub fn write_workspace(&self) {
        if self.port() == 0 {
            return;
        }
        if let Err(e) = Workspaces::new(&self.options.state_dir).upsert(&self.workspace_entry()) {
            tracing::warn!(error = %e, "cannot write {}: {e}", self.options.state_dir.workspaces_file().display());
        }
    }

    /// The live entries of `workspaces.json` (dead PIDs left out).
    pub fn live_workspaces(&self) -> Arc<Vec<WorkspaceEntry>> {
        let file = self.options.state_dir.workspaces_file();
        let stamp = crate::util::file_stamp(&file);
        let mut seen = self
            .workspaces_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(s) = seen.as_ref()
            && s.stamp == stamp
            && s.at.elapsed() < std::time::Duration::from_secs(2)
        {
            return s.entries.clone();
        }
        let entries = Arc::new(Workspaces::new(&self.options.state_dir).read());
        *seen = Some(WorkspacesSeen {
            stamp,
            at: Instant::now(),
            entries: entries.clone(),
        });
        entries
    }

    /// The live hubs of `workspaces.json`, keyed by port as mcp-hub keys them (and
    /// its clients read them).
    pub fn workspaces_by_port(&self) -> serde_json::Map<String, Value> {
        self.live_workspaces()
            .iter()
            .map(|e| {
                (
                    e.port.to_string(),
                    serde_json::to_value(e).unwrap_or_default(),
                )
            })
            .collect()
    }

    fn remove_workspace(&self) {
        if self.port() == 0 {
            return;
        }
        if let Err(e) =
            Workspaces::new(&self.options.state_dir).remove(self.port(), std::process::id())
        {
            tracing::warn!(error = %e, "cannot update workspaces.json: {e}");
        }
    }
}

struct WorkspacesSeen {
    stamp: crate::util::FileStamp,
    at: Instant,
    entries: Arc<Vec<WorkspaceEntry>>,
}

/// Why the config files are read again.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reload {
    /// Restart the servers whose entry changed (`POST /api/restart`, start, stop).
    Changed,
    /// As `Changed`, for a file that changed on disk.
    Watched,
    /// As `Changed`, with no `servers_updating`/`servers_updated`: the caller tells
    /// the change its own way.
    Quiet,
}

#[derive(Debug, Default, Serialize)]
pub struct ReloadSummary {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub restarted: Vec<String>,
    pub unchanged: Vec<String>,
}

impl ReloadSummary {
    /// mcp-hub's `changes` of its config events (a restarted server is `modified`).
    fn changes(&self) -> Value {
        json!({"added": self.added, "removed": self.removed, "modified": self.restarted,
            "unchanged": self.unchanged})
    }
}
