//! The alert rules of the day-3 report, evaluated against what the toolkit observed.
//! Rates alert only on a minimum sample: zero load is "no data", never an alert.

use crate::api::ServerStatus;
use serde::{Deserialize, Serialize};

use crate::toolkit::observe::Observation;
use crate::toolkit::report::{CheckReport, CheckStatus, Perf, TableForm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Thresholds, defaulting to the report's; overridable from a JSON file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Below this success rate (0–1) is critical.
    pub success_rate_critical: f64,
    /// Below this success rate (0–1) is a warning.
    pub success_rate_warning: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub cache_hit_rate: f64,
    pub queue_depth: f64,
    pub rss_mb: f64,
    /// Fewer requests than this in the window: rates are "no data".
    pub min_samples: u64,
    pub log_growth_mb_per_hour: f64,
    /// `/api/health` slower than this fails `validate`'s latency target.
    pub health_latency_ms: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            success_rate_critical: 0.90,
            success_rate_warning: 0.95,
            p95_ms: 2000.0,
            p99_ms: 5000.0,
            cache_hit_rate: 0.80,
            queue_depth: 10.0,
            rss_mb: 500.0,
            min_samples: 20,
            log_growth_mb_per_hour: 50.0,
            health_latency_ms: 50.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub severity: Severity,
    /// Stable rule name, shared with the emitted Prometheus rules.
    pub rule: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

fn alert(severity: Severity, rule: &'static str, message: String, value: Option<f64>) -> Alert {
    Alert {
        severity,
        rule,
        message,
        value,
        server: None,
    }
}

/// Every rule, in the report's order. Rules whose data is missing stay silent.
pub fn evaluate(o: &Observation, t: &Thresholds) -> Vec<Alert> {
    use Severity::*;
    let mut out = Vec::new();
    if o.pid.is_none() {
        out.push(alert(
            Critical,
            "HubDown",
            format!("hub process not running (looked at {})", o.target_url),
            None,
        ));
    }
    if !o.port_listening {
        out.push(alert(
            Critical,
            "HubPortNotListening",
            format!(
                "nothing listens on port {}",
                o.port.map_or("?".into(), |p| p.to_string())
            ),
            None,
        ));
    }
    let llm = &o.llm;
    if llm.circuit_state.as_deref() == Some("open") {
        out.push(alert(
            Critical,
            "LlmCircuitOpen",
            "LLM circuit breaker is open: categorization falls back to the heuristic".into(),
            None,
        ));
    }
    let sampled = llm.requests.is_some_and(|n| n >= t.min_samples);
    if let (true, Some(rate)) = (sampled, llm.success_rate) {
        if rate < t.success_rate_critical {
            out.push(alert(
                Critical,
                "LlmSuccessRateCritical",
                format!(
                    "LLM success rate {:.1}% < {:.0}%",
                    rate * 100.0,
                    t.success_rate_critical * 100.0
                ),
                Some(rate),
            ));
        } else if rate < t.success_rate_warning {
            out.push(alert(
                Warning,
                "LlmSuccessRateLow",
                format!(
                    "LLM success rate {:.1}% < {:.0}%",
                    rate * 100.0,
                    t.success_rate_warning * 100.0
                ),
                Some(rate),
            ));
        }
    }
    if let Some(h) = &o.health {
        // A server waiting for its user to sign in is a warning of its own (below).
        let enabled: Vec<_> = h
            .servers
            .iter()
            .filter(|s| {
                !matches!(
                    s.status(),
                    Some(ServerStatus::Disabled | ServerStatus::Unauthorized)
                )
            })
            .collect();
        if !enabled.is_empty()
            && enabled
                .iter()
                .all(|s| s.status() != Some(ServerStatus::Connected))
        {
            out.push(alert(
                Critical,
                "AllServersDisconnected",
                format!("all {} enabled servers are disconnected", enabled.len()),
                Some(enabled.len() as f64),
            ));
        }
    }
    if let (true, Some(p95)) = (sampled, llm.p95_ms)
        && p95 > t.p95_ms
    {
        out.push(alert(
            Warning,
            "LlmLatencyP95High",
            format!("LLM P95 latency {p95:.0} ms > {:.0} ms", t.p95_ms),
            Some(p95),
        ));
    }
    if let (true, Some(p99)) = (sampled, llm.p99_ms)
        && p99 > t.p99_ms
    {
        out.push(alert(
            Warning,
            "LlmLatencyP99High",
            format!("LLM P99 latency {p99:.0} ms > {:.0} ms", t.p99_ms),
            Some(p99),
        ));
    }
    if let (Some(hits), Some(misses)) = (llm.cache_hits, llm.cache_misses) {
        let lookups = hits + misses;
        if lookups >= t.min_samples {
            let rate = hits as f64 / lookups as f64;
            if rate < t.cache_hit_rate {
                out.push(alert(
                    Warning,
                    "LlmCacheHitRateLow",
                    format!(
                        "cache hit rate {:.1}% < {:.0}%",
                        rate * 100.0,
                        t.cache_hit_rate * 100.0
                    ),
                    Some(rate),
                ));
            }
        }
        if misses > 0 {
            out.push(alert(
                Info,
                "LlmCacheMisses",
                format!("{misses} cache misses"),
                Some(misses as f64),
            ));
        }
    }
    if let Some(q) = llm.queue_depth
        && q > t.queue_depth
    {
        out.push(alert(
            Warning,
            "LlmQueueDeep",
            format!("LLM queue depth {q:.0} > {:.0}", t.queue_depth),
            Some(q),
        ));
    }
    if let Some(rss) = o.rss_bytes {
        let mb = rss as f64 / 1_048_576.0;
        if mb > t.rss_mb {
            out.push(alert(
                Warning,
                "HubMemoryHigh",
                format!("hub RSS {mb:.0} MB > {:.0} MB", t.rss_mb),
                Some(mb),
            ));
        }
    }
    if let Some(h) = &o.health {
        for s in h
            .servers
            .iter()
            .filter(|s| s.status() == Some(ServerStatus::Unauthorized))
        {
            out.push(Alert {
                severity: Warning,
                rule: "ServerNeedsAuthorization",
                message: format!(
                    "server {} needs authorization: run `mcphub auth {}`",
                    s.name, s.name
                ),
                value: None,
                server: Some(s.name.clone()),
            });
        }
        for s in h.servers.iter().filter(|s| {
            s.status() != Some(ServerStatus::Connected)
                && s.status() != Some(ServerStatus::Disabled)
                && s.status() != Some(ServerStatus::Unauthorized)
        }) {
            out.push(Alert {
                severity: Info,
                rule: "ServerDisconnected",
                message: format!(
                    "server {} is {}{}",
                    s.name,
                    s.status,
                    s.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ),
                value: None,
                server: Some(s.name.clone()),
            });
        }
    }
    if let Some(n) = llm.parse_errors
        && n > 0
    {
        out.push(alert(
            Info,
            "LlmParseErrors",
            format!("{n} LLM answers could not be parsed (the heuristic answer stood)"),
            Some(n as f64),
        ));
    }
    if let Some(g) = o.log_growth_mb_per_hour
        && g > t.log_growth_mb_per_hour
    {
        out.push(alert(
            Info,
            "LogGrowthHigh",
            format!(
                "log grows {g:.1} MB/h > {:.0} MB/h",
                t.log_growth_mb_per_hour
            ),
            Some(g),
        ));
    }
    out
}

/// The status a set of alerts stands for: its worst severity.
pub fn status_of(alerts: &[Alert]) -> CheckStatus {
    match alerts.iter().map(|a| a.severity).max() {
        Some(Severity::Critical) => CheckStatus::Critical,
        Some(Severity::Warning) => CheckStatus::Warning,
        _ => CheckStatus::Ok,
    }
}

/// `check-alerts`' result from the alerts `evaluate` raised; its JSON form is also the
/// monitoring history's record.
pub fn report(o: &Observation, alerts: &[Alert], t: &Thresholds) -> CheckReport<serde_json::Value> {
    let status = status_of(alerts);
    let json = serde_json::json!({
        "timestamp": o.timestamp.to_rfc3339(), "kind": "alerts", "status": status,
        "hub": o.target_url, "pid": o.pid, "alerts": alerts,
    });
    let (connected, total) = o.servers_connected();
    let worst: Vec<String> = alerts
        .iter()
        .filter(|a| a.severity >= Severity::Warning)
        .map(|a| a.message.clone())
        .collect();
    let summary = if worst.is_empty() {
        format!("{connected}/{total} servers connected")
    } else {
        worst.join("; ")
    };
    let tenth = |v: f64| (v * 10.0).round() / 10.0;
    let perfdata = vec![
        Perf::new("servers_connected", Some(connected as f64), ""),
        Perf::new("servers_total", Some(total as f64), ""),
        Perf::new(
            "rss_mb",
            o.rss_bytes.map(|b| tenth(b as f64 / 1_048_576.0)),
            "MB",
        )
        .warn(t.rss_mb),
        Perf::new("health_ms", o.health_latency_ms.map(tenth), "ms").warn(t.health_latency_ms),
        Perf::new(
            "llm_success_rate",
            o.llm.success_rate.map(|v| v * 100.0),
            "%",
        )
        .warn(t.success_rate_warning * 100.0)
        .crit(t.success_rate_critical * 100.0),
        Perf::new("llm_p95_ms", o.llm.p95_ms, "ms").warn(t.p95_ms),
    ];
    let table = if alerts.is_empty() {
        TableForm {
            footer: vec![format!(
                "{}: no alerts ({connected}/{total} servers connected, hub at {})",
                status.word(),
                o.target_url
            )],
            ..TableForm::default()
        }
    } else {
        TableForm {
            header: vec!["severity", "rule", "message"],
            rows: alerts
                .iter()
                .map(|a| {
                    vec![
                        a.severity.as_str().to_owned(),
                        a.rule.to_owned(),
                        a.message.clone(),
                    ]
                })
                .collect(),
            footer: vec![status.word().to_owned()],
        }
    };
    CheckReport {
        status,
        json,
        table,
        summary,
        perfdata,
    }
}

/// Posts warning and critical results to a Slack-compatible incoming webhook:
/// `{"text": …}` (Mattermost, Rocket.Chat and Discord's `/slack` endpoint read the same).
pub async fn notify_webhook(
    url: &str,
    hub: &str,
    status: CheckStatus,
    alerts: &[Alert],
) -> Result<(), String> {
    let lines: Vec<String> = alerts
        .iter()
        .filter(|a| a.severity >= Severity::Warning)
        .map(|a| format!("• {} {}: {}", a.severity.as_str(), a.rule, a.message))
        .collect();
    let text = format!("mcphub {} at {hub}\n{}", status.word(), lines.join("\n"));
    let body = serde_json::json!({"text": text, "status": status.word(), "alerts": alerts});
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("answered HTTP {}", resp.status()));
    }
    Ok(())
}
