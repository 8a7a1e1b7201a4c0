//! Prometheus metrics (`/metrics`) and the JSON snapshot (`/api/metrics`) come from
//! the same counters, so the two never disagree.

use crate::api::metrics::{CacheFigures, LatencySnapshot, LlmReport, Quantiles, latency_bounds};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// How one LLM request ended, as counted in `mcphub_llm_requests_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmOutcome {
    /// An answer that could be used (some tools of it may still have been unusable).
    Success,
    /// HTTP error status or a connection failure.
    Error,
    /// No answer within the request timeout.
    Timeout,
    /// An answer came but none of it could be used (null, empty, not JSON, truncated).
    ParseError,
    /// Not sent: the circuit breaker is open.
    Rejected,
}

impl LlmOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LlmOutcome::Success => "success",
            LlmOutcome::Error => "error",
            LlmOutcome::Timeout => "timeout",
            LlmOutcome::ParseError => "parse_error",
            LlmOutcome::Rejected => "rejected",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub server: String,
    pub outcome: Outcome,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The backend answered with a result (even `isError: true`).
    Success,
    /// The backend answered with a JSON-RPC error.
    Error,
    /// The per-call timeout fired.
    Timeout,
    /// The backend was not connected or its connection broke.
    Unavailable,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::Unavailable => "unavailable",
        }
    }
}

// Label values in the snake_case Prometheus users write in their queries.
impl prometheus_client::encoding::EncodeLabelValue for Outcome {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    pub server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerStatusLabels {
    pub server: String,
    pub status: String,
}

/// The notifications the hub drops rather than queue without bound; list changes are
/// coalesced instead (one pending re-read stands for any number of them).
pub const DROPPABLE: [&str; 3] = [
    "notifications/message",
    "notifications/progress",
    "notifications/resources/updated",
];

/// The counter family `mcp::sessions` counts its drops in.
pub type DroppedNotifications = Family<DroppedLabels, Counter>;

/// A backend's notification the hub did not pass on, and its method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DroppedLabels {
    pub server: String,
    /// `notifications/message`, `notifications/progress`, `notifications/resources/updated`
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmCallLabels {
    pub provider: String,
    /// success, error, timeout, parse_error, rejected (circuit open)
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

pub struct Metrics {
    registry: Registry,
    pub tool_calls: Family<CallLabels, Counter>,
    pub tool_call_duration: Family<ServerLabels, Histogram>,
    pub reconnects: Family<ServerLabels, Counter>,
    pub server_status: Family<ServerStatusLabels, Gauge>,
    pub active_clients: Gauge,
    /// The HTTP front's open connections, and those refused past its caps.
    pub open_connections: Gauge,
    pub refused_connections: Counter,
    /// The front's limits, exported so that a dashboard can draw the ceiling.
    pub connection_limit: Gauge,
    pub connection_limit_per_client: Gauge,
    /// A backend's notifications dropped because its clients could not take them as
    /// fast as it sent them.
    pub notifications_dropped: DroppedNotifications,
    tools_total: Gauge,
    tools_exposed: Gauge,
    /// The LLM categorizer's families. Labelled by provider, so they carry no samples
    /// (and no invented zeros) until an LLM is configured.
    pub llm_requests: Family<LlmCallLabels, Counter>,
    pub llm_request_duration: Family<ProviderLabels, Histogram>,
    pub llm_cache_hits: Family<ProviderLabels, Counter>,
    pub llm_cache_misses: Family<ProviderLabels, Counter>,
    pub llm_queue_depth: Family<ProviderLabels, Gauge>,
    /// 0 closed, 1 half-open, 2 open.
    pub llm_circuit_state: Family<ProviderLabels, Gauge>,
    pub llm_parse_errors: Family<ProviderLabels, Counter>,
    /// Totals kept beside the families for the cheap JSON snapshot.
    calls_total: AtomicU64,
    calls_ok: AtomicU64,
    /// All servers' call latencies in the Prometheus buckets, cumulative: `measure`
    /// subtracts two snapshots to get the distribution of calls inside its window.
    latency: Vec<AtomicU64>,
    latency_sum_us: AtomicU64,
    server_calls: std::sync::RwLock<std::collections::HashMap<String, Arc<ServerCalls>>>,
    /// The LLM categorizer's figures for `/api/metrics`; `None` until an LLM is
    /// configured, so that "no LLM" is never shown as "0% success".
    llm: std::sync::Mutex<Option<LlmTotals>>,
}

/// One server's handles into the call families (by `Outcome as usize`).
struct ServerCalls {
    by_outcome: [std::sync::OnceLock<Counter>; 4],
    duration: Histogram,
}

/// Running totals of the LLM categorizer, beside its Prometheus families.
#[derive(Debug, Clone)]
struct LlmTotals {
    provider: String,
    model: String,
    requests: u64,
    success: u64,
    parse_errors: u64,
    cache_hits: u64,
    cache_misses: u64,
    queue_depth: usize,
    circuit: crate::api::CircuitState,
    latency: LatencySnapshot,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(None)
    }
}

impl Metrics {
    /// `log` is the hub's log file, whose size (rotated files included) is exported.
    pub fn new(log: Option<std::path::PathBuf>) -> Metrics {
        // The root holds the ecosystem's standard `process_*` names; everything of
        // ours lives under the `mcphub_` prefix.
        let mut root = Registry::default();
        root.register_collector(Box::new(ProcessCollector));
        let registry = root.sub_registry_with_prefix("mcphub");
        let tool_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "tool_calls",
            "Tool calls proxied to backends, by server and outcome",
            tool_calls.clone(),
        );
        let tool_call_duration = Family::<ServerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_bounds())
        });
        registry.register_with_unit(
            "tool_call_duration",
            "Time from a client's tools/call to the backend's answer",
            prometheus_client::registry::Unit::Seconds,
            tool_call_duration.clone(),
        );
        let reconnects = Family::<ServerLabels, Counter>::default();
        registry.register(
            "backend_reconnects",
            "Reconnections of a backend after it was lost",
            reconnects.clone(),
        );
        let server_status = Family::<ServerStatusLabels, Gauge>::default();
        registry.register(
            "backend_status",
            "1 for the backend's current status (connected, connecting, disconnected, disabled)",
            server_status.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "http_connections_open",
            "Connections open on the hub's HTTP front",
            open_connections.clone(),
        );
        let refused_connections = Counter::default();
        registry.register(
            "http_connections_refused",
            "Connections answered 503 because the hub's caps (--max-connections, --max-connections-per-client) were reached",
            refused_connections.clone(),
        );
        let connection_limit = Gauge::default();
        registry.register(
            "http_connections_limit",
            "Most connections the HTTP front keeps open (--max-connections)",
            connection_limit.clone(),
        );
        let connection_limit_per_client = Gauge::default();
        registry.register(
            "http_connections_per_client_limit",
            "Most connections one client address may keep open (--max-connections-per-client)",
            connection_limit_per_client.clone(),
        );
        let notifications_dropped = DroppedNotifications::default();
        registry.register(
            "notifications_dropped",
            "A backend's notifications dropped, not queued, while as many of its notifications as the hub relays at once were still on their way to slow clients",
            notifications_dropped.clone(),
        );
        let active_clients = Gauge::default();
        registry.register(
            "active_clients",
            "MCP client sessions currently open on /mcp",
            active_clients.clone(),
        );
        let tools_total = Gauge::default();
        registry.register(
            "tools",
            "Tools offered by the connected backends",
            tools_total.clone(),
        );
        let tools_exposed = Gauge::default();
        registry.register(
            "tools_exposed",
            "Tools the hub-wide filter exposes to clients",
            tools_exposed.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        registry.register("build_info", "mcphub build, value 1", build);
        let llm_requests = Family::<LlmCallLabels, Counter>::default();
        registry.register(
            "llm_requests",
            "LLM categorization requests, by provider and outcome",
            llm_requests.clone(),
        );
        let llm_request_duration =
            Family::<ProviderLabels, Histogram>::new_with_constructor(|| {
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.05, 2.0, 10,
                ))
            });
        registry.register_with_unit(
            "llm_request_duration",
            "Time an LLM categorization request took",
            prometheus_client::registry::Unit::Seconds,
            llm_request_duration.clone(),
        );
        let llm_cache_hits = Family::<ProviderLabels, Counter>::default();
        registry.register(
            "llm_cache_hits",
            "Tool categories answered from the cache",
            llm_cache_hits.clone(),
        );
        let llm_cache_misses = Family::<ProviderLabels, Counter>::default();
        registry.register(
            "llm_cache_misses",
            "Tool categories that needed the LLM",
            llm_cache_misses.clone(),
        );
        let llm_queue_depth = Family::<ProviderLabels, Gauge>::default();
        registry.register(
            "llm_queue_depth",
            "Tools waiting for LLM categorization",
            llm_queue_depth.clone(),
        );
        let llm_circuit_state = Family::<ProviderLabels, Gauge>::default();
        registry.register(
            "llm_circuit_state",
            "LLM circuit breaker: 0 closed, 1 half-open, 2 open",
            llm_circuit_state.clone(),
        );
        let llm_parse_errors = Family::<ProviderLabels, Counter>::default();
        registry.register(
            "llm_parse_errors",
            "LLM answers that could not be used (the heuristic answer stood)",
            llm_parse_errors.clone(),
        );
        registry.register_collector(Box::new(HeapCollector));
        if let Some(log) = log {
            registry.register_collector(Box::new(LogCollector { log }));
        }
        let latency = latency_bounds().map(|_| AtomicU64::new(0)).collect();
        Metrics {
            latency,
            latency_sum_us: AtomicU64::new(0),
            llm: std::sync::Mutex::new(None),
            server_calls: Default::default(),
            registry: root,
            tool_calls,
            tool_call_duration,
            reconnects,
            server_status,
            active_clients,
            open_connections,
            refused_connections,
            connection_limit,
            connection_limit_per_client,
            notifications_dropped,
            tools_total,
            tools_exposed,
            llm_requests,
            llm_request_duration,
            llm_cache_hits,
            llm_cache_misses,
            llm_queue_depth,
            llm_circuit_state,
            llm_parse_errors,
            calls_total: AtomicU64::new(0),
            calls_ok: AtomicU64::new(0),
        }
    }

    /// The server's call metrics, found once: a call then allocates no label strings.
    fn server_calls(&self, server: &str) -> Arc<ServerCalls> {
        if let Some(c) = self
            .server_calls
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(server)
        {
            return c.clone();
        }
        self.server_calls
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(server.to_owned())
            .or_insert_with(|| {
                Arc::new(ServerCalls {
                    by_outcome: Default::default(),
                    duration: self
                        .tool_call_duration
                        .get_or_create(&ServerLabels {
                            server: server.to_owned(),
                        })
                        .clone(),
                })
            })
            .clone()
    }

    pub fn record_call(&self, server: &str, outcome: Outcome, elapsed: Duration) {
        let calls = self.server_calls(server);
        // Created on first use, so an outcome that never happened has no series.
        calls.by_outcome[outcome as usize]
            .get_or_init(|| {
                self.tool_calls
                    .get_or_create(&CallLabels {
                        server: server.to_owned(),
                        outcome,
                    })
                    .clone()
            })
            .inc();
        calls.duration.observe(elapsed.as_secs_f64());
        self.calls_total.fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        for (bound, count) in latency_bounds().zip(&self.latency) {
            if secs <= bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        if outcome == Outcome::Success {
            self.calls_ok.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Brings the server's reconnect counter up to `total` (the backend's own count),
    /// creating it at 0 for a new server: "no reconnects" is a value, not missing data.
    pub fn sync_reconnects(&self, server: &str, total: u64) {
        let counter = self.reconnects.get_or_create(&ServerLabels {
            server: server.to_owned(),
        });
        let seen = counter.get();
        if total > seen {
            counter.inc_by(total - seen);
        }
    }

    /// Sets `status` to 1 and every other status of `server` to 0.
    pub fn set_status(&self, server: &str, status: &str) {
        for s in crate::api::ServerStatus::ALL.map(crate::api::ServerStatus::as_str) {
            self.server_status
                .get_or_create(&ServerStatusLabels {
                    server: server.to_owned(),
                    status: s.to_owned(),
                })
                .set(i64::from(s == status));
        }
    }

    pub fn forget_server(&self, server: &str) {
        self.server_calls
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(server);
        self.reconnects.remove(&ServerLabels {
            server: server.to_owned(),
        });
        for method in DROPPABLE {
            self.notifications_dropped.remove(&DroppedLabels {
                server: server.to_owned(),
                method: method.to_owned(),
            });
        }
        for s in crate::api::ServerStatus::ALL.map(crate::api::ServerStatus::as_str) {
            self.server_status.remove(&ServerStatusLabels {
                server: server.to_owned(),
                status: s.to_owned(),
            });
        }
    }

    pub fn latency(&self) -> LatencySnapshot {
        LatencySnapshot {
            bounds: latency_bounds().collect(),
            counts: self
                .latency
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            count: self.calls_total.load(Ordering::Relaxed),
            sum_seconds: self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    fn with_llm(&self, f: impl FnOnce(&mut LlmTotals)) {
        if let Some(t) = self.llm.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            f(t)
        }
    }

    fn provider(&self) -> Option<ProviderLabels> {
        self.llm
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|t| ProviderLabels {
                provider: t.provider.clone(),
            })
    }

    /// Starts the LLM figures (at zero, circuit closed) for the configured provider.
    pub fn llm_configured(&self, provider: &str, model: &str) {
        *self.llm.lock().unwrap_or_else(|p| p.into_inner()) = Some(LlmTotals {
            provider: provider.to_owned(),
            model: model.to_owned(),
            requests: 0,
            success: 0,
            parse_errors: 0,
            cache_hits: 0,
            cache_misses: 0,
            queue_depth: 0,
            circuit: crate::api::CircuitState::Closed,
            latency: LatencySnapshot::empty(),
        });
        let labels = ProviderLabels {
            provider: provider.to_owned(),
        };
        // Created at 0 so that rates and "no parse errors" are values from the start.
        self.llm_parse_errors.get_or_create(&labels).inc_by(0);
        self.llm_cache_hits.get_or_create(&labels).inc_by(0);
        self.llm_cache_misses.get_or_create(&labels).inc_by(0);
        self.llm_queue_depth.get_or_create(&labels).set(0);
        self.llm_circuit_state.get_or_create(&labels).set(0);
    }

    /// No LLM any more (or a new one coming): its figures go, so that a removed or
    /// replaced provider's circuit and queue are not shown as current.
    pub fn llm_unconfigured(&self) {
        if let Some(labels) = self.provider() {
            self.llm_queue_depth.remove(&labels);
            self.llm_circuit_state.remove(&labels);
        }
        *self.llm.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// One LLM request (a rejected one took no time and is not in the latency).
    pub fn record_llm_request(
        &self,
        outcome: crate::telemetry::metrics::LlmOutcome,
        elapsed: Duration,
    ) {
        use crate::telemetry::metrics::LlmOutcome;
        let Some(labels) = self.provider() else {
            return;
        };
        self.llm_requests
            .get_or_create(&LlmCallLabels {
                provider: labels.provider.clone(),
                outcome: outcome.as_str().to_owned(),
            })
            .inc();
        if outcome == LlmOutcome::Rejected {
            return;
        }
        self.llm_request_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.with_llm(|t| {
            t.requests += 1;
            if outcome == LlmOutcome::Success {
                t.success += 1;
            }
            t.latency.record(elapsed.as_secs_f64());
        });
    }

    /// Answers or parts of answers that could not be used.
    pub fn record_llm_parse_errors(&self, n: u64) {
        if let Some(labels) = self.provider() {
            self.llm_parse_errors.get_or_create(&labels).inc_by(n);
            self.with_llm(|t| t.parse_errors += n);
        }
    }

    pub fn set_llm_circuit(&self, state: crate::api::CircuitState) {
        if let Some(labels) = self.provider() {
            self.llm_circuit_state
                .get_or_create(&labels)
                .set(state.gauge());
            self.with_llm(|t| t.circuit = state);
        }
    }

    /// Tools that needed the LLM: found in the cache (`hit`) or sent to it.
    pub fn record_llm_cache(&self, hits: u64, misses: u64) {
        if let Some(labels) = self.provider() {
            self.llm_cache_hits.get_or_create(&labels).inc_by(hits);
            self.llm_cache_misses.get_or_create(&labels).inc_by(misses);
            self.with_llm(|t| {
                t.cache_hits += hits;
                t.cache_misses += misses;
            });
        }
    }

    pub fn set_llm_queue_depth(&self, depth: usize) {
        if let Some(labels) = self.provider() {
            self.llm_queue_depth
                .get_or_create(&labels)
                .set(depth as i64);
            self.with_llm(|t| t.queue_depth = depth);
        }
    }

    /// The `llm` object of `/api/metrics` (the shape `observe::LlmFigures` reads), or
    /// null without an LLM. Rates and percentiles are null until there is a sample.
    /// The LLM categorizer's figures; `None` without an LLM configured.
    pub fn llm_report(&self) -> Option<LlmReport> {
        let t = self.llm.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        let ms = |q: f64| t.latency.quantile(q).map(|s| s * 1000.0);
        let lookups = t.cache_hits + t.cache_misses;
        Some(LlmReport {
            provider: t.provider,
            model: t.model,
            requests: t.requests,
            success: t.success,
            success_rate: (t.requests > 0).then(|| t.success as f64 / t.requests as f64),
            latency_ms: Quantiles {
                p50: ms(0.5),
                p95: ms(0.95),
                p99: ms(0.99),
            },
            cache: CacheFigures {
                hits: t.cache_hits,
                misses: t.cache_misses,
                hit_rate: (lookups > 0).then(|| t.cache_hits as f64 / lookups as f64),
            },
            queue_depth: t.queue_depth,
            circuit_state: t.circuit.as_str().to_owned(),
            parse_errors: t.parse_errors,
        })
    }

    /// Tools the backends offer and tools the hub-wide filter exposes.
    pub fn set_tool_counts(&self, total: usize, exposed: usize) {
        self.tools_total.set(total as i64);
        self.tools_exposed.set(exposed as i64);
    }

    pub fn calls(&self) -> (u64, u64) {
        (
            self.calls_total.load(Ordering::Relaxed),
            self.calls_ok.load(Ordering::Relaxed),
        )
    }

    /// The classic Prometheus text format (0.0.4), for scrapers and tools that do not
    /// ask for OpenMetrics (curl, `promtool check metrics`). Derived from the
    /// OpenMetrics output because prometheus-client writes only that: counter families
    /// are named with their `_total` suffix, and `# UNIT`/`# EOF` lines go.
    pub fn encode_text_004(&self) -> String {
        let om = self.encode();
        let mut counters = std::collections::HashSet::new();
        for line in om.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ")
                && let Some(name) = rest.strip_suffix(" counter")
            {
                counters.insert(name.to_owned());
            }
        }
        let mut out = String::with_capacity(om.len());
        for line in om.lines() {
            if line == "# EOF" || line.starts_with("# UNIT ") {
                continue;
            }
            let meta = line
                .strip_prefix("# HELP ")
                .map(|r| ("# HELP ", r))
                .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
            if let Some((kind, rest)) = meta {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                if counters.contains(name) && !name.ends_with("_total") {
                    out.push_str(&format!("{kind}{name}_total {tail}\n"));
                    continue;
                }
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// The OpenMetrics text format (`# EOF` included).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// `process_cpu_seconds_total` and `process_resident_memory_bytes` of the hub itself,
/// read at scrape time, under the names the Prometheus ecosystem already knows.
#[derive(Debug)]
struct ProcessCollector;

/// `mcphub_log_file_bytes`: the log's size, rotated files included, for the
/// log-growth rule.
#[derive(Debug)]
struct LogCollector {
    log: std::path::PathBuf,
}

impl Collector for LogCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let bytes = ConstGauge::new(crate::telemetry::log::total_log_bytes(&self.log) as i64);
        bytes.encode(encoder.encode_descriptor(
            "log_file_bytes",
            "Size of the hub's log, rotated files included",
            None,
            bytes.metric_type(),
        )?)?;
        Ok(())
    }
}

/// `mcphub_heap_in_use_bytes` and `mcphub_heap_free_bytes`, read at scrape time: RSS
/// that stays up after a burst is either live data or free heap the allocator cannot
/// give back, and only these two tell which.
#[derive(Debug)]
struct HeapCollector;

impl Collector for HeapCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(heap) = crate::util::memory::heap() else {
            return Ok(());
        };
        for (name, help, bytes) in [
            (
                "heap_in_use_bytes",
                "Heap the hub's data occupies",
                heap.in_use,
            ),
            (
                "heap_free_bytes",
                "Heap the allocator keeps free (resident where it shares pages with live data)",
                heap.free,
            ),
        ] {
            let gauge = ConstGauge::new(bytes as i64);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(sample) = super::sample_process(std::process::id()) else {
            return Ok(());
        };
        let cpu = ConstCounter::new(sample.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "CPU time of the hub process",
            None,
            cpu.metric_type(),
        )?)?;
        let rss = ConstGauge::new(sample.rss_bytes as i64);
        rss.encode(encoder.encode_descriptor(
            "process_resident_memory_bytes",
            "Resident memory of the hub process",
            None,
            rss.metric_type(),
        )?)?;
        Ok(())
    }
}

pub type SharedMetrics = Arc<Metrics>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_quantiles_come_from_the_difference_of_two_snapshots() {
        let m = Metrics::new(None);
        for _ in 0..100 {
            m.record_call("a", Outcome::Success, Duration::from_millis(900));
        }
        let start = m.latency();
        assert!(start.quantile(0.5).unwrap() > 0.5);
        for i in 0..100 {
            m.record_call("a", Outcome::Success, Duration::from_micros(100 + i));
        }
        let window = m.latency().since(&start);
        assert_eq!(window.count, 100);
        let p99 = window.quantile(0.99).unwrap();
        assert!(p99 <= 0.0005, "only the window's fast calls count: {p99}");
        assert_eq!(LatencySnapshot::default().quantile(0.5), None);
    }
}
