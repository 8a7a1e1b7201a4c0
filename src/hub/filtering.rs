//! Tool filtering and categorization: every tool gets a category (a fast heuristic,
//! refined by an optional LLM whose answers are cached), and the hub exposes to each
//! client only the tools its `toolFiltering` / `toolExposure` settings allow.
//!
//! - [`heuristic`]: name/description/schema → category with a confidence.
//! - [`llm`]: the provider clients (OpenAI-compatible, Anthropic, Gemini), answer
//!   validation, retries and the circuit breaker.
//! - [`engine`]: the bounded queue in front of the LLM; [`cache`]: its answers on disk.
//! - [`category`]: a tool as the categorizers see it and the category it gets.
//! - [`listing`]: the catalog with every tool's category and the filter's verdicts,
//!   and what one session may see of it.
//! - [`search`] and [`meta`]: the meta-tools of search mode and prompt-based mode.
//!
//! `toolFiltering` / `toolExposure` as written in the servers file are read by
//! `config::filtering`.
//!
//! [`Filtering`] ties them together for the hub.

pub mod cache;
pub mod category;
pub mod engine;
pub mod heuristic;
pub mod listing;
pub mod llm;
pub mod meta;
pub mod search;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use serde_json::{Value, json};

use crate::api::events;
use crate::config::Placeholders;
use crate::config::filtering as settings;
use crate::config::filtering::{Exposure, FilterSettings, Mode};
use crate::hub::catalog::Catalog;
use crate::mcp::offer::Offer;
use crate::telemetry::metrics::Metrics;
use cache::Cache;
use category::{Categorized, Guess, Source};
use engine::Engine;
use listing::{Listing, ToolVerdict};

type OnChange = Box<dyn Fn() + Send + Sync>;

/// The LLM queue, if any, and the settings it is (being) started for.
#[derive(Default)]
struct EngineSlot {
    config: Option<settings::LlmConfig>,
    engine: Option<Arc<Engine>>,
    /// Bumped at every (re)start, so that a client still being made for older
    /// settings does not install itself.
    generation: u64,
}

/// The hub's filtering state: settings (changeable at run time), the category cache
/// and, with an LLM configured, its queue.
pub struct Filtering {
    settings: RwLock<Arc<FilterSettings>>,
    cache: Arc<Mutex<Cache>>,
    engine: Arc<Mutex<EngineSlot>>,
    metrics: Arc<Metrics>,
    placeholders: Arc<Placeholders>,
    /// Cache keys already counted as a hit or a miss: a tool counts once per run, not
    /// once per catalog rebuild.
    counted: Mutex<HashSet<String>>,
    /// Asks the hub to rebuild its catalog (new LLM answers change categories).
    on_change: Arc<OnceLock<OnChange>>,
    /// The heuristic's guesses for each backend's offer, by the offer's address. An
    /// offer never changes (a new list is a new offer), so its tools are guessed once,
    /// as it arrives (`guess_ahead` while the hub starts, `prepare`), not again at
    /// each rebuild: with 100 servers of 200 tools the guesses were a fifth of the
    /// hub's CPU to ready, all of it after the last server had answered.
    guesses: Mutex<HashMap<usize, OfferGuesses>>,
    /// Offers waiting to be guessed ahead (`guess_ahead`).
    ahead: Arc<Mutex<Ahead>>,
}

/// An offer's guesses, made once by whichever asks first.
type GuessSlot = Arc<OnceLock<Arc<[Guess]>>>;

#[derive(Default)]
struct Ahead {
    queue: std::collections::VecDeque<(String, Arc<Offer>, GuessSlot)>,
    /// Whether a blocking task is taking the queue.
    running: bool,
}

struct OfferGuesses {
    /// The offer guessed, held weakly: while the entry lives the offer's allocation is
    /// not reused, so its address names this offer; the entry goes once the offer has
    /// (`forget_gone_offers`).
    offer: Weak<Offer>,
    server: String,
    /// Another asker waits for whichever asked first.
    guesses: GuessSlot,
}

impl Filtering {
    pub fn new(
        settings: FilterSettings,
        cache_file: Option<PathBuf>,
        metrics: Arc<Metrics>,
        placeholders: Arc<Placeholders>,
    ) -> Filtering {
        let cache = match &cache_file {
            Some(f) => Cache::load(f),
            None => Cache::in_memory(),
        };
        Filtering {
            settings: RwLock::new(Arc::new(settings)),
            cache: Arc::new(Mutex::new(cache)),
            engine: Arc::new(Mutex::new(EngineSlot::default())),
            metrics,
            placeholders,
            counted: Mutex::new(HashSet::new()),
            guesses: Mutex::default(),
            ahead: Arc::default(),
            on_change: Arc::new(OnceLock::new()),
        }
    }

    pub fn set_on_change(&self, f: impl Fn() + Send + Sync + 'static) {
        let _ = self.on_change.set(Box::new(f));
    }

    pub fn settings(&self) -> Arc<FilterSettings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Starts (or restarts, when its settings changed) the LLM queue. Needs a runtime.
    /// The client is made on a task of its own: resolving an `apiKey` of the form
    /// `${cmd: …}` runs a program, which must not hold up the hub.
    pub fn start(&self) {
        let settings = self.settings();
        let mut slot = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        if slot.config == settings.llm {
            return;
        }
        if let Some(old) = slot.engine.take() {
            old.shutdown();
        }
        slot.generation += 1;
        slot.config = settings.llm.clone();
        self.metrics.llm_unconfigured();
        self.counted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let Some(config) = settings.llm.clone() else {
            return;
        };
        let generation = slot.generation;
        drop(slot);
        let slot = self.engine.clone();
        let placeholders = self.placeholders.clone();
        let metrics = self.metrics.clone();
        let on_answers = self.answer_sink(&config);
        let on_change = self.on_change.clone();
        tokio::spawn(async move {
            let written = config.client.api_key.clone();
            let resolved = tokio::task::spawn_blocking(move || match written {
                None => Ok(None),
                Some(k) => placeholders
                    .resolve(&k, &BTreeMap::new())
                    .map(|k| (!k.is_empty()).then_some(k)),
            })
            .await
            .unwrap_or_else(|e| Err(format!("resolving the key failed: {e}")));
            let api_key = match resolved {
                Ok(k) => k,
                Err(e) => {
                    tracing::warn!(
                        event = events::CONFIG_ERROR,
                        "toolFiltering.llmCategorization.apiKey: {e}; LLM categorization is off, the heuristic categorizes every tool (set the variable and POST /api/restart)"
                    );
                    return;
                }
            };
            let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            if slot.generation != generation {
                return; // Settings changed again meanwhile; a newer start owns the slot.
            }
            let client = match llm::LlmClient::new(config.client_settings(api_key), metrics.clone())
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(
                        event = events::CONFIG_ERROR,
                        "toolFiltering.llmCategorization: {e}; LLM categorization is off"
                    );
                    return;
                }
            };
            slot.engine = Some(Engine::start(client, config, metrics, on_answers));
            drop(slot);
            // Categorize again, now with an LLM for the tools the heuristic is unsure of.
            if let Some(f) = on_change.get() {
                f();
            }
        });
    }

    /// What the engine does with answers: cache them (on disk) and have the hub
    /// rebuild its catalog with them.
    fn answer_sink(
        &self,
        config: &settings::LlmConfig,
    ) -> Box<dyn Fn(Vec<engine::Answer>) + Send + Sync> {
        let cache = self.cache.clone();
        let on_change = self.on_change.clone();
        let provider = config.client.provider.as_str().to_owned();
        let model = config.client.model.clone();
        Box::new(move |answers: Vec<engine::Answer>| {
            let n = answers.len();
            {
                let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
                for a in answers {
                    c.insert(
                        a.key,
                        cache::Entry {
                            category: a.guess.category,
                            confidence: a.guess.confidence,
                            server: a.tool.server,
                            tool: a.tool.name,
                            provider: provider.clone(),
                            model: model.clone(),
                            at: chrono::Utc::now(),
                        },
                    );
                }
                if let Err(e) = c.save() {
                    tracing::warn!(error = %e, "cannot write the category cache: {e}; answers are kept in memory only");
                }
            }
            tracing::info!(
                event = events::TOOLS_CATEGORIZED,
                tools = n,
                "the LLM categorized {n} tools"
            );
            if let Some(f) = on_change.get() {
                f();
            }
        })
    }

    /// The categories a task described in `prompt` needs, with reasons: the
    /// heuristic's vocabulary, plus any custom category the prompt names.
    pub fn categories_for_prompt(&self, prompt: &str) -> Vec<(String, String)> {
        let mut out = heuristic::categories_for_prompt(prompt);
        let words = search::words(prompt);
        for (_, custom) in &self.settings().custom_mappings {
            let named = search::words(custom);
            let mentioned =
                !named.is_empty() && words.windows(named.len()).any(|w| w == named.as_slice());
            if mentioned && !out.iter().any(|(c, _)| c == custom) {
                out.push((custom.clone(), format!("\"{custom}\" → {custom}")));
            }
        }
        out
    }

    /// New settings (config reload, or the REST API); the hub rebuilds its catalog.
    pub fn replace_settings(&self, settings: FilterSettings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        self.start();
    }

    pub fn shutdown(&self) {
        let mut slot = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        slot.generation += 1;
        if let Some(e) = slot.engine.take() {
            e.shutdown();
        }
    }

    fn engine(&self) -> Option<Arc<Engine>> {
        self.engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .engine
            .clone()
    }

    /// Gives every tool of `catalog` a category (a custom mapping, else a cached LLM
    /// answer, else the heuristic's, queueing the unsure ones for the LLM) and computes
    /// which tools the settings allow; the category goes into each tool's `_meta` when
    /// it is listed (`Listing::listed`).
    pub fn apply(&self, catalog: Catalog) -> Listing {
        let settings = self.settings();
        let engine = self.engine();
        let ttl_threshold = engine
            .as_ref()
            .map(|e| (e.config.cache_ttl, e.config.confidence_threshold));
        let mut wanted = BTreeMap::new();
        let (mut hits, mut misses) = (0, 0);
        let total = catalog.tools.len();
        let active = settings.active(total);
        let mut verdicts = Vec::with_capacity(total);
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
            // A backend's tools sit together in the catalog: its guesses are looked up
            // once for all of them.
            let mut offer_guesses: Option<(*const Offer, Arc<[Guess]>)> = None;
            for tool in &catalog.tools {
                let exposed = &tool.name;
                let (server, own) = (tool.server(), tool.definition().name());
                // The namespaced name is made only when there is a mapping to match.
                let namespaced = if settings.custom_mappings.is_empty() {
                    String::new()
                } else {
                    format!("{server}__{own}")
                };
                let custom = settings.custom_mappings.iter().find(|(pattern, _)| {
                    settings::glob_match(pattern, &namespaced)
                        || settings::glob_match(pattern, exposed)
                });
                let c = if let Some((_, category)) = custom {
                    Categorized {
                        category: category.clone(),
                        confidence: 1.0,
                        source: Source::Custom,
                    }
                } else {
                    let (offer, at) = tool.source();
                    let guesses = match &offer_guesses {
                        Some((address, guesses)) if std::ptr::eq(*address, Arc::as_ptr(offer)) => {
                            guesses.clone()
                        }
                        _ => {
                            let guesses = self.prepare(server, offer);
                            offer_guesses = Some((Arc::as_ptr(offer), guesses.clone()));
                            guesses
                        }
                    };
                    let g = guesses
                        .get(at)
                        .cloned()
                        .unwrap_or_else(|| heuristic::guess(&listing::brief(tool)));
                    match ttl_threshold {
                        Some((ttl, threshold)) if g.confidence < threshold => {
                            let brief = listing::brief(tool);
                            let key = cache::key(&brief);
                            let first = counted.insert(key.clone());
                            match cache.get(&key, ttl) {
                                Some(hit) => {
                                    hits += u64::from(first);
                                    Categorized {
                                        category: hit.category,
                                        confidence: hit.confidence,
                                        source: Source::Llm,
                                    }
                                }
                                None => {
                                    misses += u64::from(first);
                                    wanted.insert(key, brief);
                                    heuristic_answer(g)
                                }
                            }
                        }
                        _ => heuristic_answer(g),
                    }
                };
                verdicts.push(ToolVerdict {
                    allowed: !active || global_allows(&settings, server, &c.category),
                    categorized: c,
                });
            }
        }
        if hits + misses > 0 {
            self.metrics.record_llm_cache(hits, misses);
        }
        if let Some(e) = engine {
            e.want(wanted, settings.known_categories());
        }
        self.forget_gone_offers();
        let listing = Listing::new(catalog, verdicts, active, settings);
        self.metrics
            .set_tool_counts(total, listing.exposure().exposed);
        listing
    }

    /// The heuristic's guess for each of `offer`'s tools (served by `server`), made
    /// now unless they were made already (or waited for while `guess_ahead` makes them).
    pub fn prepare(&self, server: &str, offer: &Arc<Offer>) -> Arc<[Guess]> {
        let (slot, _) = self.slot(server, offer);
        slot.get_or_init(|| guess_offer(server, offer)).clone()
    }

    /// Queues `offer`'s tools to be guessed on the blocking pool, unless that was done
    /// or begun already: while servers start, their lists are guessed on another core
    /// than the one reading the next servers' lists. One blocking thread takes the
    /// queue in turn, not a thread per server.
    pub fn guess_ahead(&self, server: &str, offer: &Arc<Offer>) {
        let (slot, fresh) = self.slot(server, offer);
        if !fresh {
            return;
        }
        let mut ahead = self.ahead.lock().unwrap_or_else(|p| p.into_inner());
        ahead
            .queue
            .push_back((server.to_owned(), offer.clone(), slot));
        if !ahead.running {
            ahead.running = true;
            let ahead = self.ahead.clone();
            tokio::task::spawn_blocking(move || {
                loop {
                    let next = {
                        let mut a = ahead.lock().unwrap_or_else(|p| p.into_inner());
                        let next = a.queue.pop_front();
                        a.running = next.is_some();
                        next
                    };
                    let Some((server, offer, slot)) = next else {
                        return;
                    };
                    slot.get_or_init(|| guess_offer(&server, &offer));
                }
            });
        }
    }

    /// The memo's slot for `offer`'s guesses, and whether it was made just now.
    fn slot(&self, server: &str, offer: &Arc<Offer>) -> (GuessSlot, bool) {
        // The same address is the same offer: the memo's weak reference keeps the
        // allocation from being reused while the entry exists.
        let address = Arc::as_ptr(offer) as usize;
        let mut memo = self.guesses.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = memo.get(&address).filter(|g| g.server == server) {
            return (g.guesses.clone(), false);
        }
        let slot = Arc::new(OnceLock::new());
        memo.insert(
            address,
            OfferGuesses {
                offer: Arc::downgrade(offer),
                server: server.to_owned(),
                guesses: slot.clone(),
            },
        );
        (slot, true)
    }

    /// Drops the guesses of offers no backend holds any more.
    fn forget_gone_offers(&self) {
        self.guesses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, g| g.offer.strong_count() > 0);
    }

    /// The categories a settings change or the LLM may answer with.
    pub fn known_categories(&self) -> Vec<String> {
        self.settings().known_categories()
    }

    /// `/api/filtering/stats`: the fork's figures plus each tool's category.
    pub fn stats(&self, listing: &Listing) -> Value {
        let settings = self.settings();
        let total = listing.catalog.tools.len();
        let exposure = listing.exposure();
        let exposed = exposure.exposed;
        let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, v) in listing.tools() {
            *by_category
                .entry(v.categorized.category.as_str())
                .or_default() += 1;
        }
        let tools: Vec<Value> = listing
            .tools()
            .map(|(t, v)| {
                let name = &*t.name;
                let c = &v.categorized;
                json!({
                    "name": name,
                    "server": t.server(),
                    "category": c.category,
                    "confidence": c.confidence,
                    "source": c.source,
                    "exposed": v.allowed,
                })
            })
            .collect();
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        json!({
            "enabled": listing.filtering_active,
            "configuredEnabled": settings.enabled,
            "mode": settings.mode.as_str(),
            "toolExposure": match settings.exposure { Exposure::All => "all", Exposure::Search => "search" },
            "totalTools": total,
            "exposedTools": exposed,
            "filteredTools": total - exposed,
            "filterRate": exposure.rate(),
            "summary": exposure.summary,
            "serverFilter": {"mode": if settings.server_allow { "allowlist" } else { "denylist" }, "servers": settings.servers},
            "categoryFilter": {"categories": settings.categories, "customMappings": settings.custom_mappings.iter().cloned().collect::<BTreeMap<_, _>>()},
            "autoEnableThreshold": settings.auto_enable_threshold,
            "categories": by_category,
            "llm": self.metrics.llm_report(),
            "queue": self.engine().map(|e| e.stats()),
            "cache": {"entries": cache.len(), "path": cache.path()},
            "tools": tools,
        })
    }
}

/// The heuristic's guess for each of `offer`'s tools.
fn guess_offer(server: &str, offer: &Offer) -> Arc<[Guess]> {
    offer
        .tools
        .iter()
        .map(|t| {
            heuristic::guess_text(&heuristic::ToolText {
                server,
                name: t.name(),
                description: t.description().unwrap_or_default(),
                params: &t.params(),
            })
        })
        .collect()
}

fn heuristic_answer(g: Guess) -> Categorized {
    Categorized {
        category: g.category,
        confidence: g.confidence,
        source: Source::Heuristic,
    }
}

/// Whether the settings' server and category filters let a tool through (when
/// filtering is active). Prompt-based mode narrows further per session.
pub fn global_allows(s: &FilterSettings, server: &str, category: &str) -> bool {
    let listed = s.servers.iter().any(|p| settings::glob_match(p, server));
    let server_ok = if s.server_allow { listed } else { !listed };
    let category_ok = s.categories.iter().any(|c| c == category);
    match s.mode {
        Mode::ServerAllowlist => server_ok,
        Mode::Category => category_ok,
        // The fork's hybrid: a tool passes either filter.
        Mode::Hybrid => server_ok || category_ok,
        Mode::PromptBased => s.servers.is_empty() || server_ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtering(top: Value) -> Filtering {
        Filtering::new(
            FilterSettings::from_top_level(top.as_object().unwrap()).unwrap(),
            None,
            Arc::new(Metrics::default()),
            Arc::new(Placeholders::from_process().unwrap()),
        )
    }

    #[test]
    fn a_prompt_naming_a_custom_category_gets_it() {
        let f = filtering(json!({"toolFiltering": {"categoryFilter": {
            "customMappings": {"grafana__*": "observability"}}}}));
        let got = f.categories_for_prompt("check the observability dashboards in my repo");
        let names: Vec<&str> = got.iter().map(|(c, _)| c.as_str()).collect();
        assert!(names.contains(&"observability"), "{got:?}");
        assert!(names.contains(&"version-control"), "{got:?}");
        assert!(
            f.categories_for_prompt("hello")
                .iter()
                .all(|(c, _)| c != "observability")
        );
    }

    /// An offer of `tools` (name, description), each with a `repo` parameter.
    fn offer(tools: &[(&str, &str)]) -> Arc<Offer> {
        let tools = tools
            .iter()
            .map(|(name, description)| {
                serde_json::from_value(json!({"name": name, "description": description,
                    "inputSchema": {"type": "object", "properties": {"repo": {}}}}))
                .unwrap()
            })
            .collect();
        Arc::new(Offer {
            tools,
            ..Offer::default()
        })
    }

    fn catalog_of(offer: &Arc<Offer>) -> Catalog {
        Catalog::build(&[crate::hub::catalog::Part {
            server: "gh",
            prefix: "gh",
            offer: offer.clone(),
        }])
    }

    /// Every tool of `listing` has the category and confidence a guess made now gives
    /// it; the pull-request tool of `offer`'s set is version control.
    fn assert_categorized_as_guessed_afresh(listing: &Listing) {
        for (tool, verdict) in listing.tools() {
            let fresh = heuristic::guess(&listing::brief(tool));
            assert_eq!(
                verdict.categorized.category, fresh.category,
                "{}",
                tool.name
            );
            assert_eq!(verdict.categorized.confidence, fresh.confidence);
        }
        assert_eq!(
            listing.category("gh__create_pull_request"),
            Some("version-control")
        );
    }

    #[test]
    fn an_offer_guessed_ahead_is_categorized_as_a_rebuild_would_and_forgotten_with_it() {
        let f = filtering(json!({}));
        let gh = offer(&[
            ("create_pull_request", "Open a pull request on a repository"),
            ("weather", "Today's forecast for a city"),
        ]);
        let ahead = f.prepare("gh", &gh);
        assert!(Arc::ptr_eq(&ahead, &f.prepare("gh", &gh)), "guessed twice");
        let listing = f.apply(catalog_of(&gh));
        assert_categorized_as_guessed_afresh(&listing);
        // Another server's name is another guess (the server's name is evidence).
        assert!(!Arc::ptr_eq(&ahead, &f.prepare("github", &gh)));
        drop((listing, gh));
        f.apply(Catalog::default());
        assert!(
            f.guesses.lock().unwrap().is_empty(),
            "a gone offer's guesses stay"
        );
    }

    #[tokio::test]
    async fn an_offer_queued_for_the_blocking_pool_is_guessed_once_and_used_by_the_build() {
        let f = filtering(json!({}));
        let gh = offer(&[
            ("create_pull_request", "Open a pull request on a repository"),
            ("weather", "Today's forecast for a city"),
        ]);
        f.guess_ahead("gh", &gh);
        f.guess_ahead("gh", &gh);
        // Waits for the pool's guesses when they are under way, makes them otherwise.
        let used = f.prepare("gh", &gh);
        assert!(Arc::ptr_eq(&used, &f.prepare("gh", &gh)), "guessed twice");
        assert_eq!(used.len(), 2);
        assert_categorized_as_guessed_afresh(&f.apply(catalog_of(&gh)));
    }
}
