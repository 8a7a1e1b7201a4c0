//! One look at a hub, as every toolkit command takes it: where it is, whether its
//! process and port are alive, its health and metrics, and its resource use.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::api::metrics::MetricsReport;
use crate::toolkit::discovery::{PidSource, Target, UrlSource, find_pid, port_listening};
use crate::toolkit::probe::{Health, Probe};

/// The LLM categorizer's figures; `None` when the hub has none (no data, not zero).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LlmFigures {
    pub requests: Option<u64>,
    pub success_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub cache_hits: Option<u64>,
    pub cache_misses: Option<u64>,
    pub queue_depth: Option<f64>,
    pub circuit_state: Option<String>,
    pub parse_errors: Option<u64>,
}

impl LlmFigures {
    /// The `llm` part of `/api/metrics`; all `None` when the hub has no LLM (or no
    /// `/api/metrics`, as mcp-hub).
    pub fn from_metrics(metrics: Option<&MetricsReport>) -> LlmFigures {
        let Some(l) = metrics.and_then(|m| m.llm.as_ref()) else {
            return LlmFigures::default();
        };
        LlmFigures {
            requests: Some(l.requests),
            success_rate: l.success_rate,
            p50_ms: l.latency_ms.p50,
            p95_ms: l.latency_ms.p95,
            p99_ms: l.latency_ms.p99,
            cache_hits: Some(l.cache.hits),
            cache_misses: Some(l.cache.misses),
            queue_depth: Some(l.queue_depth as f64),
            circuit_state: Some(l.circuit_state.clone()),
            parse_errors: Some(l.parse_errors),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub timestamp: DateTime<Utc>,
    pub target_url: String,
    pub url_source: UrlSource,
    pub port: Option<u16>,
    pub pid: Option<u32>,
    pub pid_source: Option<PidSource>,
    pub port_listening: bool,
    #[serde(skip)]
    pub health: Option<Health>,
    pub hub_state: Option<String>,
    pub health_latency_ms: Option<f64>,
    pub health_error: Option<String>,
    #[serde(skip)]
    pub metrics: Option<MetricsReport>,
    pub rss_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub llm: LlmFigures,
    pub log_growth_mb_per_hour: Option<f64>,
}

impl Observation {
    pub fn servers_connected(&self) -> (usize, usize) {
        self.health
            .as_ref()
            .map_or((0, 0), |h| h.servers_connected())
    }
}

/// Looks at the hub once. Never fails: what could not be seen is `None` with a reason.
pub async fn observe(target: Target, token: Option<String>) -> Observation {
    let pid = find_pid(&target);
    let listening = target.port.is_some_and(port_listening);
    let client = Probe::new(target.clone(), token);
    let (health, latency, error) = match client.health().await {
        Ok((h, took)) => (Some(h), Some(took), None),
        Err(e) => (None, None, Some(e.to_string())),
    };
    let metrics = if health.is_some() {
        client.metrics().await.ok().flatten()
    } else {
        None
    };
    let sample = pid.and_then(|(p, _)| crate::telemetry::sample_process(p));
    Observation {
        timestamp: Utc::now(),
        target_url: target.url.clone(),
        url_source: target.source,
        port: target.port,
        pid: pid.map(|p| p.0),
        pid_source: pid.map(|p| p.1),
        port_listening: listening,
        hub_state: health.as_ref().map(|h| h.state.clone()),
        health_latency_ms: latency.map(|d: Duration| d.as_secs_f64() * 1000.0),
        health_error: error,
        llm: LlmFigures::from_metrics(metrics.as_ref()),
        metrics,
        health,
        rss_bytes: sample.map(|s| s.rss_bytes),
        cpu_seconds: sample.map(|s| s.cpu_seconds),
        log_growth_mb_per_hour: None,
    }
}
