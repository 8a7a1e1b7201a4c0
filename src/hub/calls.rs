//! Call routing: which backend a request goes to, whether this caller may make it,
//! and every backend request on the counted path that shutdown drains.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::events;
use crate::hub::catalog::{ExposedTool, page};
use crate::hub::error::HubError;
use crate::hub::filtering::listing::{Listing, SessionView, ToolVerdict};
use crate::hub::lifecycle::Hub;
use crate::mcp::client::{Answer, CallError, Handle};
#[allow(deprecated)] // `logging/setLevel`: still in the revisions the hub serves
use crate::mcp::model::{
    CallToolRequestParams, CallToolResult, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResult, ReadResourceRequestParams, ReadResourceResult,
    Reference, SetLevelRequestParams, SubscribeRequestParams, Tool, UnsubscribeRequestParams,
};
use crate::mcp::rounds::{RoundError, Rounds, Step};
use crate::mcp::sessions::{Caller, SessionId};
use crate::telemetry::metrics::Outcome;

type Arguments = Option<serde_json::Map<String, serde_json::Value>>;

/// A bridged call's next step as the hub answers it.
fn bridged(
    step: Result<Step<Result<Answer<CallToolResult>, HubError>>, RoundError>,
) -> Result<Answer<CallToolResult>, HubError> {
    match step {
        Ok(Step::Done(answer)) => answer,
        Ok(Step::Input(question)) => Ok(Answer::Input(question)),
        Err(e) => Err(HubError::invalid(e.to_string())),
    }
}

/// Where a call of the tool exposed as `exposed` goes.
struct Route<'a> {
    server: &'a str,
    /// The server's own name for the tool.
    name: &'a str,
    /// In the catalog, so a filter has judged it.
    listed: bool,
}

/// Where `exposed` goes: the server that lists it, or for a name no server lists the
/// one whose namespace holds it. That covers a tool added since the hub last read its
/// server's list (a client told of the change may call it before the re-read lands),
/// or one the server does not list: that server answers, as it would directly. A
/// filter cannot judge a tool it has not seen, so with one on the name stays unknown.
fn route<'a>(listing: &'a Listing, exposed: &'a str) -> Option<Route<'a>> {
    if let Some(r) = listing.catalog.tool(exposed) {
        return Some(Route {
            server: r.server,
            name: r.name,
            listed: true,
        });
    }
    match listing.catalog.unlisted_tool(exposed) {
        Some((server, name)) if !listing.filtering_active => Some(Route {
            server,
            name,
            listed: false,
        }),
        _ => None,
    }
}

impl Hub {
    /// Whether the tool exposed as `exposed` may be called: the hub-wide filter, and
    /// for an MCP session (`view`) what that session chose to see. REST callers have
    /// no session and see what the hub-wide filter lets through.
    pub fn authorize(
        &self,
        listing: &Listing,
        exposed: &str,
        view: Option<&SessionView>,
    ) -> Result<(), HubError> {
        let settings = self.filtering.settings();
        let allowed = match view {
            Some(view) => view.allows(&settings, listing, exposed),
            None => listing.allows(exposed),
        };
        if allowed {
            return Ok(());
        }
        let category = listing.category(exposed).unwrap_or("other");
        let why = if listing.allows(exposed) {
            format!(
                "this session's categories do not include `{category}`: call {} with your task to change them",
                crate::hub::filtering::meta::ANALYZE_PROMPT
            )
        } else {
            format!(
                "toolFiltering (mode {}) hides it (category `{category}`); change toolFiltering in the servers file, or POST /api/filtering/status {{\"enabled\": false}}",
                settings.mode.as_str()
            )
        };
        tracing::info!(
            event = events::TOOL_FILTERED,
            tool = exposed,
            category,
            "refused a call to filtered tool {exposed}"
        );
        Err(HubError::Filtered {
            tool: exposed.to_owned(),
            category: category.to_owned(),
            why,
        })
    }

    /// A tool call by exposed name from an MCP client: refused when the tool is
    /// unknown or filtered out for that session, else routed to its backend (an
    /// unlisted name to the server whose namespace holds it).
    ///
    /// A stateless (2026-07-28) caller of a 2025-era backend is bridged: the call runs
    /// on while the backend's requests go to the client as `input_required` rounds,
    /// and the client's next call with the hub's `requestState` carries the answers.
    pub async fn call_tool(
        self: &Arc<Self>,
        mut params: CallToolRequestParams,
        mut caller: Caller,
        view: &SessionView,
    ) -> Result<Answer<CallToolResult>, HubError> {
        if caller.modern.is_some()
            && let Some(state) = params.request_state.take_if(|s| Rounds::<()>::is_ours(s))
        {
            let responses = params.input_responses.take().unwrap_or_default();
            return bridged(self.rounds.resume(&state, responses).await);
        }
        let exposed = params.name.to_string();
        let exposed = exposed.as_str();
        let listing = self.listing();
        let Some(route) = route(&listing, exposed) else {
            return Err(HubError::UnknownTool {
                tool: exposed.to_owned(),
            });
        };
        if route.listed {
            self.authorize(&listing, exposed, Some(view))?;
        }
        let (server, name) = (route.server.to_owned(), route.name.to_owned());
        drop(listing);
        params.name = name.into();
        // A 2025-era caller is served in its own era by every backend.
        if caller.modern.is_none() || self.handle(&server)?.0.serves_era_of(&caller) {
            return self.call_backend_tool(&server, params, caller, None).await;
        }
        let (asks, questions) = crate::mcp::rounds::channel();
        caller.rounds = Some(asks);
        let hub = self.clone();
        let call = async move { hub.call_backend_tool(&server, params, caller, None).await };
        bridged(self.rounds.start(questions, call).await)
    }

    /// Whether a 2025-era session's call of `exposed` (one that asks for no progress)
    /// is answered by its backend in one message: a backend of that era (no
    /// `input_required` rounds, no tasks) that cannot close the call's stream before
    /// its answer (not a streamable HTTP server, whose streams the hub follows). The
    /// front may then write the answer itself, without the SDK's stream machinery.
    pub fn answers_whole(&self, exposed: &str) -> bool {
        let listing = self.listing();
        let Some(route) = route(&listing, exposed) else {
            return false;
        };
        self.handle(route.server)
            .is_ok_and(|(h, _)| !h.is_modern() && !h.may_close_streams())
    }

    /// A tool call by server and the server's own tool name (mcp-hub's REST API);
    /// `timeout` replaces the server's `timeoutMs` for this call (mcp-hub's
    /// `request_options.timeout`).
    pub async fn call_server_tool(
        &self,
        server: &str,
        tool: &str,
        arguments: Arguments,
        timeout: Option<Duration>,
    ) -> Result<CallToolResult, HubError> {
        let backend = self
            .backend(server)
            .ok_or_else(|| HubError::UnknownServer {
                server: server.to_owned(),
            })?;
        backend.handle().map_err(|reason| HubError::NotConnected {
            server: server.to_owned(),
            reason,
        })?;
        let listing = self.current_listing();
        match listing.catalog.exposed_tool_name(server, tool) {
            Some(exposed) => self.authorize(&listing, exposed, None)?,
            None if listing.filtering_active => {
                return Err(HubError::CatalogUpdating {
                    server: server.to_owned(),
                });
            }
            None => {}
        }
        drop(listing);
        if !backend.offer().tools.iter().any(|t| t.name() == tool) {
            return Err(HubError::NoSuchTool {
                server: server.to_owned(),
                tool: tool.to_owned(),
            });
        }
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = arguments;
        match self
            .call_backend_tool(server, params, Caller::default(), timeout)
            .await?
        {
            Answer::Done(r) => Ok(r),
            // Only a 2026-07-28 caller is given these, and REST is not one.
            Answer::Input(_) | Answer::Task(_) => Err(HubError::Unavailable {
                server: server.to_owned(),
                reason: "the server answered a REST call with a question or a task, which only an MCP client can take".into(),
            }),
        }
    }

    /// What `tools/list` shows one session: the page that starts at `from`, and where
    /// the next one starts.
    pub fn visible_tools(&self, view: &SessionView, from: usize) -> (Vec<Tool>, Option<usize>) {
        let page = self.tools_page(Some(view), from);
        let next = page.next;
        (page.into_tools(), next)
    }

    /// The page of `tools/list` that starts at `from` as every session of an earlier
    /// revision than 2026-07-28 is shown it, or `None` while sessions may be shown
    /// different tools (prompt-based filtering: each session its own categories).
    pub fn shared_tools_page(&self, from: usize) -> Option<ToolsPage> {
        let page = self.tools_page(None, from);
        page.shared.then_some(page)
    }

    /// `view` `None`: as a session that chose nothing sees it.
    fn tools_page(&self, view: Option<&SessionView>, from: usize) -> ToolsPage {
        use crate::config::filtering::{Exposure, Mode};
        use crate::hub::filtering::meta;
        let settings = self.filtering.settings();
        let listing = self.listing();
        let per_session = listing.filtering_active && settings.mode == Mode::PromptBased;
        let meta_tools = (per_session && settings.meta_tools).then(meta::analyze_prompt_tool);
        let search_mode = settings.exposure == Exposure::Search;
        let hub_tools = meta_tools.into_iter().map(|t| PageEntry::Hub(Box::new(t)));
        let (entries, next) = if search_mode {
            let search = meta::search_mode_tools(&settings.known_categories());
            let search = search.into_iter().map(|t| PageEntry::Hub(Box::new(t)));
            page(hub_tools.chain(search), from, |e| e)
        } else {
            let nothing_chosen = SessionView::default();
            let view = view.unwrap_or(&nothing_chosen);
            let exposed = listing
                .tools()
                .enumerate()
                .filter(|(_, (_, verdict))| view.allows_verdict(&settings, &listing, verdict))
                .map(|(at, _)| PageEntry::Backend(at));
            page(hub_tools.chain(exposed), from, |e| e)
        };
        ToolsPage {
            listing,
            entries,
            next,
            shared: search_mode || !per_session,
        }
    }

    /// Calls `server`'s tool `tool`, counted in the metrics and the log.
    async fn call_backend_tool(
        &self,
        server: &str,
        params: CallToolRequestParams,
        mut caller: Caller,
        timeout: Option<Duration>,
    ) -> Result<Answer<CallToolResult>, HubError> {
        let tool = params.name.to_string();
        let tool = tool.as_str();
        let started = Instant::now();
        self.within_rate(server)?;
        let _inflight = self.begin_call()?;
        let (handle, configured) = self.handle(server).inspect_err(|_| {
            self.metrics
                .record_call(server, Outcome::Unavailable, started.elapsed());
        })?;
        let timeout = timeout.unwrap_or(configured);
        if !handle.may_close_streams() {
            // Nothing to route a stream's early end for (most calls: stdio).
            caller.cut = None;
        }
        let mut routes = self.sessions.begin_call(server, caller.clone());
        let result = handle
            .call_tool(params, timeout, &caller, |backend_token| {
                routes.progress_token(backend_token)
            })
            .await;
        if let Ok(Answer::Task(t)) = &result {
            self.tasks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(&t.task.task_id, server);
        }
        routes.settle().await;
        drop(routes);
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(CallError::Protocol(_)) => Outcome::Error,
            Err(CallError::Timeout(_)) => Outcome::Timeout,
            Err(CallError::Unavailable(_) | CallError::Unauthorized { .. }) => Outcome::Unavailable,
        };
        if let Some(backend) = self.backend(server) {
            match &result {
                Ok(_) => backend.call_went_through(),
                Err(CallError::Unauthorized { challenge }) => {
                    backend.needs_authorization(challenge.clone())
                }
                Err(_) => {}
            }
        }
        self.metrics.record_call(server, outcome, elapsed);
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        match &result {
            Ok(r) => {
                let is_error = matches!(r, Answer::Done(r) if r.is_error == Some(true));
                tracing::info!(
                    event = events::TOOL_CALL,
                    server,
                    tool,
                    duration_ms,
                    outcome = "success",
                    is_error,
                    "tools/call {server}/{tool}"
                )
            }
            Err(e) => {
                tracing::warn!(event = events::TOOL_CALL, server, tool, duration_ms, outcome = ?outcome, error = ?e, "tools/call {server}/{tool} failed")
            }
        }
        result.map_err(|e| HubError::from_call(server, e))
    }

    /// Refuses a call past the server's `rateLimit`.
    fn within_rate(&self, server: &str) -> Result<(), HubError> {
        let Some(rate) = self.backend(server).and_then(|b| b.entry.rate_limit()) else {
            return Ok(());
        };
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = rates
            .entry(server.to_owned())
            .or_insert_with(|| crate::util::rate::Bucket::new(rate, rate.max(1.0)));
        if bucket.rate() != rate {
            // The entry changed on a reload: a fresh bucket at the new rate.
            *bucket = crate::util::rate::Bucket::new(rate, rate.max(1.0));
        }
        bucket
            .take(Instant::now())
            .map_err(|retry_after| HubError::RateLimited {
                server: server.to_owned(),
                rate,
                retry_after,
            })
    }

    /// A request handle for `server` and its per-request timeout.
    fn handle(&self, server: &str) -> Result<(Handle, Duration), HubError> {
        let backend = self
            .backend(server)
            .ok_or_else(|| HubError::UnknownServer {
                server: server.to_owned(),
            })?;
        let handle = backend.handle().map_err(|reason| HubError::NotConnected {
            server: server.to_owned(),
            reason,
        })?;
        Ok((handle, backend.entry.timeout()))
    }

    /// Any request to a backend other than a tool call: counted in flight, so that
    /// shutdown lets it finish, and failing in the hub's terms.
    pub async fn request<T, F, Fut>(&self, server: &str, send: F) -> Result<T, HubError>
    where
        F: FnOnce(Handle, Duration) -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let _inflight = self.begin_call()?;
        let (handle, timeout) = self.handle(server)?;
        send(handle, timeout)
            .await
            .map_err(|e| HubError::from_call(server, e))
    }

    /// The server that made task `task` of a call (SEP-2663).
    pub fn task_owner(&self, task: &str) -> Result<String, HubError> {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .owner(task)
            .map(str::to_owned)
            .ok_or_else(|| {
                HubError::invalid(format!(
                    "unknown task `{task}`: no server of this hub made it (or it is long gone)"
                ))
            })
    }

    /// The server a resource URI belongs to.
    pub fn resource_owner(&self, uri: &str) -> Result<String, HubError> {
        self.listing()
            .catalog
            .resource_servers(uri)
            .into_iter()
            .next()
            .ok_or_else(|| HubError::NoResource {
                uri: uri.to_owned(),
            })
    }

    /// Reads a resource from the server that lists it (or whose template matches; the
    /// next candidate when one fails).
    pub async fn read_resource(
        &self,
        mut request: ReadResourceRequestParams,
        caller: &Caller,
    ) -> Result<Answer<ReadResourceResult>, HubError> {
        let listing = self.listing();
        let servers = match listing.catalog.resource_alias(&request.uri) {
            Some((server, uri)) => {
                let server = server.to_owned();
                request.uri = uri.to_owned();
                vec![server]
            }
            None => listing.catalog.resource_servers(&request.uri),
        };
        drop(listing);
        let mut last = None;
        for server in servers {
            let read = self
                .request(&server, |h, timeout| {
                    let request = request.clone();
                    async move { h.read_resource(request, timeout, caller).await }
                })
                .await;
            match read {
                Ok(r) => return Ok(r),
                // Not connected (or gone): the next candidate may answer.
                Err(HubError::UnknownServer { .. } | HubError::NotConnected { .. }) => {}
                Err(HubError::ShuttingDown) => return Err(HubError::ShuttingDown),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(HubError::NoResource { uri: request.uri }))
    }

    /// A prompt by exposed name, from the server that has it.
    pub async fn get_prompt(
        &self,
        mut request: GetPromptRequestParams,
        caller: &Caller,
    ) -> Result<Answer<GetPromptResult>, HubError> {
        let route = self
            .listing()
            .catalog
            .prompt(&request.name)
            .cloned()
            .ok_or_else(|| HubError::UnknownPrompt {
                prompt: request.name.clone(),
            })?;
        request.name = route.name;
        self.request(&route.server, |h, timeout| async move {
            h.get_prompt(request, timeout, caller).await
        })
        .await
    }

    /// `completion/complete` for a prompt's or a resource's arguments, by the server
    /// that owns the reference.
    pub async fn complete(
        &self,
        mut request: CompleteRequestParams,
    ) -> Result<CompleteResult, HubError> {
        let listing = self.listing();
        let server = match &mut request.r#ref {
            Reference::Prompt(p) => {
                let route = listing.catalog.prompt(&p.name).cloned().ok_or_else(|| {
                    HubError::UnknownPrompt {
                        prompt: p.name.clone(),
                    }
                })?;
                p.name = route.name;
                route.server
            }
            Reference::Resource(r) => listing
                .catalog
                .resource_servers(&r.uri)
                .into_iter()
                .next()
                .ok_or_else(|| HubError::invalid(format!("no server has resource `{}`", r.uri)))?,
            _ => {
                return Err(HubError::invalid(
                    "completion/complete: unsupported reference type (use ref/prompt or ref/resource)",
                ));
            }
        };
        drop(listing);
        self.request(&server, |h, timeout| async move {
            h.complete(request, timeout).await
        })
        .await
    }

    /// Subscribes `session` to a resource's updates; the owning server is asked once,
    /// for the first subscriber.
    pub async fn subscribe_resource(
        &self,
        session: SessionId,
        request: SubscribeRequestParams,
    ) -> Result<(), HubError> {
        let server = self.resource_owner(&request.uri)?;
        if self.sessions.subscribe(&request.uri, session) {
            let uri = request.uri.clone();
            if let Err(e) = self
                .request(&server, |h, _| async move { h.subscribe(request).await })
                .await
            {
                self.sessions.unsubscribe(&uri, session);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Ends `session`'s subscription; the owning server is told when it was the last.
    pub async fn unsubscribe_resource(
        &self,
        session: SessionId,
        request: UnsubscribeRequestParams,
    ) -> Result<(), HubError> {
        if self.sessions.unsubscribe(&request.uri, session)
            && let Ok(server) = self.resource_owner(&request.uri)
            && self.handle(&server).is_ok()
        {
            self.request(&server, |h, _| async move { h.unsubscribe(request).await })
                .await?;
        }
        Ok(())
    }

    /// Tells every backend that logs the level a client asked for.
    #[allow(deprecated)]
    pub async fn set_level(&self, request: SetLevelRequestParams) {
        for b in self.backends() {
            if b.snapshot().identity.is_some_and(|i| i.has_logging) {
                let _ = self
                    .request(&b.name, |h, _| {
                        let request = request.clone();
                        async move { h.set_level(request).await }
                    })
                    .await;
            }
        }
    }
}

/// One entry of a `tools/list` page: a tool of the hub's own, or a backend's by its
/// place in the listing.
enum PageEntry {
    Hub(Box<Tool>),
    Backend(usize),
}

/// An entry of a page, as it is shown.
enum Shown<'a> {
    Hub(&'a Tool),
    Backend(&'a ExposedTool, &'a ToolVerdict),
}

/// A page of `tools/list`, over the listing it was chosen from: its backend tools
/// are made (as the SDK's objects, or as JSON from their texts) only as it is shown.
pub struct ToolsPage {
    listing: Arc<Listing>,
    entries: Vec<PageEntry>,
    /// Where the next page starts.
    pub next: Option<usize>,
    /// Whether every session that chose nothing is shown the same.
    shared: bool,
}

impl ToolsPage {
    fn shown(&self) -> impl Iterator<Item = Shown<'_>> {
        self.entries.iter().filter_map(|entry| match entry {
            PageEntry::Hub(tool) => Some(Shown::Hub(tool)),
            PageEntry::Backend(at) => self
                .listing
                .tool_at(*at)
                .map(|(tool, verdict)| Shown::Backend(tool, verdict)),
        })
    }

    /// The page's tools, as the SDK's objects.
    pub fn into_tools(self) -> Vec<Tool> {
        self.shown()
            .map(|shown| match shown {
                Shown::Hub(tool) => tool.clone(),
                Shown::Backend(tool, verdict) => self.listing.listed(tool, verdict),
            })
            .collect()
    }

    /// The page's tools as a JSON array, as a client of a revision before 2026-07-28
    /// is shown them: the same as the SDK's server writes `into_tools`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, shown) in self.shown().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match shown {
                // The hub's own tools are JSON values with string keys.
                Shown::Hub(tool) => {
                    let _ = serde_json::to_writer(&mut *out, tool);
                }
                Shown::Backend(tool, verdict) => self.listing.write_listed(tool, verdict, out),
            }
        }
        out.push(b']');
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::filtering::FilterSettings;
    use crate::config::{HubConfig, Placeholders};
    use crate::hub::filtering::category::{Categorized, Source};
    use crate::hub::lifecycle::HubOptions;
    use crate::state::StateDir;

    fn hub(filter: serde_json::Value, state: &std::path::Path) -> Arc<Hub> {
        let config = HubConfig {
            filtering: FilterSettings::from_top_level(filter.as_object().unwrap()).unwrap(),
            ..HubConfig::default()
        };
        Hub::new(
            config,
            HubOptions {
                config_files: crate::config::ConfigFiles::Given(vec![]),
                state_dir: StateDir::new(state.to_owned()),
                startup_timeout: crate::hub::lifecycle::DEFAULT_STARTUP_TIMEOUT,
                marketplace_url: crate::hub::marketplace::DEFAULT_REGISTRY_URL.into(),
            },
            Placeholders::from_process().unwrap(),
        )
    }

    /// Tools `gh__push` (version-control) and `web__fetch` (web), of which the hub-wide
    /// filter lets `allowed` through.
    fn listing(hub: &Hub, allowed: &[&str]) -> Listing {
        use crate::hub::catalog::{Catalog, Part};
        let offer = |tool: &str| {
            let tool = serde_json::json!({"name": tool, "inputSchema": {"type": "object"}});
            Arc::new(crate::mcp::offer::Offer {
                tools: vec![serde_json::from_value(tool).unwrap()],
                ..Default::default()
            })
        };
        let parts = [("gh", "push", "version-control"), ("web", "fetch", "web")];
        let catalog = Catalog::build(&parts.map(|(server, tool, _)| Part {
            server,
            prefix: server,
            offer: offer(tool),
        }));
        let verdicts = parts
            .iter()
            .map(|(server, tool, category)| ToolVerdict {
                categorized: Categorized {
                    category: category.to_string(),
                    confidence: 1.0,
                    source: Source::Custom,
                },
                allowed: allowed.contains(&format!("{server}__{tool}").as_str()),
            })
            .collect();
        Listing::new(catalog, verdicts, true, hub.filtering.settings())
    }

    #[test]
    fn a_tool_the_filter_hides_is_refused_on_every_front_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(
            serde_json::json!({"toolFiltering": {"enabled": true, "mode": "category",
                "categoryFilter": {"categories": ["web"]}}}),
            dir.path(),
        );
        let listing = listing(&hub, &["web__fetch"]);
        let session = SessionView::default();
        for view in [Some(&session), None] {
            assert!(hub.authorize(&listing, "web__fetch", view).is_ok());
            match hub.authorize(&listing, "gh__push", view) {
                Err(HubError::Filtered {
                    tool,
                    category,
                    why,
                }) => {
                    assert_eq!(
                        (tool.as_str(), category.as_str()),
                        ("gh__push", "version-control")
                    );
                    assert!(why.contains("toolFiltering (mode category)"), "{why}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_prompt_based_session_sees_only_what_it_chose_while_rest_sees_the_hub_wide_set() {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(
            serde_json::json!({"toolFiltering": {"enabled": true, "mode": "prompt-based",
                "promptBasedFiltering": {"defaultExposure": "meta-only"}}}),
            dir.path(),
        );
        let listing = listing(&hub, &["gh__push", "web__fetch"]);
        let undecided = SessionView::default();
        match hub.authorize(&listing, "gh__push", Some(&undecided)) {
            Err(HubError::Filtered { why, .. }) => {
                assert!(why.contains("this session's categories"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        let chose = SessionView {
            categories: Some(vec!["version-control".into()]),
        };
        assert!(hub.authorize(&listing, "gh__push", Some(&chose)).is_ok());
        assert!(hub.authorize(&listing, "web__fetch", Some(&chose)).is_err());
        assert!(hub.authorize(&listing, "gh__push", None).is_ok());
    }
}
