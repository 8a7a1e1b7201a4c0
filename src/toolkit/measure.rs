//! `measure`: the hub's figures over a window (calls made inside it, not since start),
//! written as a baseline (markdown + JSON) and compared with the previous one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::metrics::{LatencySnapshot, MetricsReport};
use crate::state::{StateDir, write_atomic};
use crate::toolkit::observe::LlmFigures;
use crate::toolkit::probe::Probe;

/// What one sample of the hub during the window contributes.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub rss_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub queue_depth: Option<f64>,
}

/// Counters read at the start and at the end of the window.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub calls: Option<u64>,
    pub successes: Option<u64>,
    pub latency: Option<LatencySnapshot>,
}

impl Counters {
    pub fn from_metrics(m: Option<&MetricsReport>) -> Counters {
        let Some(m) = m else {
            return Counters::default();
        };
        Counters {
            calls: Some(m.tool_calls.total),
            successes: Some(m.tool_calls.success),
            latency: Some(m.tool_call_latency.clone()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Measurement {
    pub started: String,
    pub ended: String,
    pub duration_s: f64,
    pub hub: String,
    pub pid: Option<u32>,
    pub calls: Option<u64>,
    pub throughput_per_s: Option<f64>,
    pub success_rate_percent: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    #[serde(default)]
    pub llm: LlmWindow,
    pub llm_success_rate_percent: Option<f64>,
    pub cache_hit_rate_percent: Option<f64>,
    pub cpu_percent: Option<f64>,
    pub rss_mb: Option<f64>,
    pub health_ms: Option<f64>,
    pub servers_connected: usize,
    pub servers_total: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct LlmWindow {
    pub requests: Option<u64>,
    pub p95_ms: Option<f64>,
    pub queue_depth: Option<f64>,
}

pub struct Window<'a> {
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub hub: String,
    pub pid: Option<u32>,
    pub start: &'a Counters,
    pub end: &'a Counters,
    pub llm_start: &'a LlmFigures,
    pub llm_end: &'a LlmFigures,
    pub samples: &'a [Sample],
    pub health_ms: Option<f64>,
    pub servers: (usize, usize),
}

fn diff(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(b?.saturating_sub(a?))
}

pub fn compute(w: Window<'_>) -> Measurement {
    let secs = (w.ended - w.started).num_milliseconds().max(1) as f64 / 1000.0;
    let calls = diff(w.start.calls, w.end.calls);
    let ok = diff(w.start.successes, w.end.successes);
    // Rates need calls: zero load is "no data" (None), never 0%.
    let loaded = calls.filter(|n| *n > 0);
    let window = match (&w.start.latency, &w.end.latency) {
        (Some(a), Some(b)) => Some(b.since(a)),
        _ => None,
    };
    let q = |p: f64| {
        window
            .as_ref()
            .and_then(|h| h.quantile(p))
            .map(|s| s * 1000.0)
    };
    let cpu = {
        let first = w.samples.iter().find_map(|s| s.cpu_seconds);
        let last = w.samples.iter().rev().find_map(|s| s.cpu_seconds);
        match (first, last) {
            (Some(a), Some(b)) if w.samples.len() > 1 => Some(((b - a) / secs * 100.0).max(0.0)),
            _ => None,
        }
    };
    let rss = w
        .samples
        .iter()
        .filter_map(|s| s.rss_bytes)
        .max()
        .map(|b| b as f64 / 1_048_576.0);
    let llm_requests = diff(w.llm_start.requests, w.llm_end.requests);
    let llm_hits = diff(w.llm_start.cache_hits, w.llm_end.cache_hits);
    let llm_misses = diff(w.llm_start.cache_misses, w.llm_end.cache_misses);
    let lookups = llm_hits.zip(llm_misses).map(|(h, m)| (h, h + m));
    Measurement {
        started: w.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ended: w.ended.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        duration_s: (secs * 10.0).round() / 10.0,
        hub: w.hub,
        pid: w.pid,
        calls,
        throughput_per_s: loaded.map(|n| n as f64 / secs),
        success_rate_percent: loaded.zip(ok).map(|(n, ok)| ok as f64 * 100.0 / n as f64),
        p50_ms: loaded.and(q(0.50)),
        p95_ms: loaded.and(q(0.95)),
        p99_ms: loaded.and(q(0.99)),
        llm: LlmWindow {
            requests: llm_requests,
            p95_ms: llm_requests.filter(|n| *n > 0).and(w.llm_end.p95_ms),
            queue_depth: w
                .samples
                .iter()
                .filter_map(|s| s.queue_depth)
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))),
        },
        llm_success_rate_percent: llm_requests
            .filter(|n| *n > 0)
            .and(w.llm_end.success_rate)
            .map(|r| r * 100.0),
        cache_hit_rate_percent: lookups
            .filter(|(_, n)| *n > 0)
            .map(|(h, n)| h as f64 * 100.0 / n as f64),
        cpu_percent: cpu,
        rss_mb: rss,
        health_ms: w.health_ms,
        servers_connected: w.servers.0,
        servers_total: w.servers.1,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ComparisonRow {
    pub metric: &'static str,
    pub previous: String,
    pub current: String,
    pub change: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub previous: String,
    pub rows: Vec<ComparisonRow>,
}

pub fn compare(prev_name: &str, prev: &Measurement, cur: &Measurement) -> Comparison {
    let fmt = |v: Option<f64>, unit: &str| v.map_or("N/A".to_owned(), |v| format!("{v:.1}{unit}"));
    let change = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a != 0.0 => format!("{:+.0}%", (b - a) / a * 100.0),
        (Some(_), Some(_)) => "—".into(),
        _ => "N/A".into(),
    };
    let row = |metric, a: Option<f64>, b: Option<f64>, unit| ComparisonRow {
        metric,
        previous: fmt(a, unit),
        current: fmt(b, unit),
        change: change(a, b),
    };
    Comparison {
        previous: prev_name.to_owned(),
        rows: vec![
            row(
                "throughput",
                prev.throughput_per_s,
                cur.throughput_per_s,
                "/s",
            ),
            row(
                "success rate",
                prev.success_rate_percent,
                cur.success_rate_percent,
                "%",
            ),
            row("latency p95", prev.p95_ms, cur.p95_ms, " ms"),
            row("latency p99", prev.p99_ms, cur.p99_ms, " ms"),
            row("RSS", prev.rss_mb, cur.rss_mb, " MB"),
            row("/api/health", prev.health_ms, cur.health_ms, " ms"),
        ],
    }
}

/// Watches the hub behind `client` (process `pid`) for `duration`: counters at both
/// ends, CPU, RSS and LLM queue depth every `interval`. `tick` hears the time elapsed
/// after each sample (for a progress bar).
pub async fn run(
    client: &Probe,
    pid: Option<u32>,
    duration: Duration,
    interval: Duration,
    mut tick: impl FnMut(Duration),
) -> Result<Measurement, String> {
    // Fail early, with the reason, when no hub answers.
    client.health().await.map_err(|e| e.to_string())?;
    let m0 = client.metrics().await.map_err(|e| e.to_string())?;
    let start = Counters::from_metrics(m0.as_ref());
    let llm_start = LlmFigures::from_metrics(m0.as_ref());
    let started = Utc::now();
    let t0 = Instant::now();
    let mut samples = Vec::new();
    loop {
        let proc = pid.and_then(crate::telemetry::sample_process);
        let queue =
            LlmFigures::from_metrics(client.metrics().await.ok().flatten().as_ref()).queue_depth;
        samples.push(Sample {
            rss_bytes: proc.map(|p| p.rss_bytes),
            cpu_seconds: proc.map(|p| p.cpu_seconds),
            queue_depth: queue,
        });
        let elapsed = t0.elapsed();
        tick(elapsed);
        if elapsed >= duration {
            break;
        }
        tokio::time::sleep(interval.min(duration - elapsed)).await;
    }
    let ended = Utc::now();
    let m1 = client.metrics().await.map_err(|e| e.to_string())?;
    let (health_end, health_took) = client.health().await.map_err(|e| e.to_string())?;
    Ok(compute(Window {
        started,
        ended,
        hub: client.target.url.clone(),
        pid,
        start: &start,
        end: &Counters::from_metrics(m1.as_ref()),
        llm_start: &llm_start,
        llm_end: &LlmFigures::from_metrics(m1.as_ref()),
        samples: &samples,
        health_ms: Some(health_took.as_secs_f64() * 1000.0),
        servers: health_end.servers_connected(),
    }))
}

/// Writes `m` as `baseline-<start>.json` and its report `md` beside it, in the state
/// directory's baselines; returns the report's path.
pub fn write_baseline(state: &StateDir, m: &Measurement, md: &str) -> Result<PathBuf, String> {
    let dir = state.baselines_dir();
    let started = DateTime::parse_from_rfc3339(&m.started)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now());
    let stem = format!("baseline-{}", started.format("%Y%m%d-%H%M%S"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(m).unwrap_or_default();
    let report = dir.join(format!("{stem}.md"));
    write_atomic(&report, md.as_bytes()).map_err(|e| format!("{}: {e}", report.display()))?;
    let data = dir.join(format!("{stem}.json"));
    write_atomic(&data, json.as_bytes()).map_err(|e| format!("{}: {e}", data.display()))?;
    Ok(report)
}

/// The newest `baseline-*.json`, by name (names sort by time).
pub fn latest_baseline(dir: &Path) -> Option<(String, Measurement)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("baseline-") && n.ends_with(".json"))
        .collect();
    names.sort();
    names.into_iter().rev().find_map(|n| {
        let text = std::fs::read_to_string(dir.join(&n)).ok()?;
        Some((
            n.trim_end_matches(".json").to_owned(),
            serde_json::from_str(&text).ok()?,
        ))
    })
}
