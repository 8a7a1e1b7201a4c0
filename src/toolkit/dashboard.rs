//! The `monitor` frame: everything an operator watches, rendered as text from one
//! observation (and the previous one, for CPU%).

use crate::toolkit::alerts::{Thresholds, evaluate};
use crate::toolkit::observe::Observation;
use crate::toolkit::render::{or_na, table};

/// CPU use between two observations of the same process, in percent of one core.
pub fn cpu_between(prev: Option<&Observation>, cur: &Observation) -> Option<f64> {
    let prev = prev?;
    if prev.pid != cur.pid {
        return None;
    }
    let secs = (cur.timestamp - prev.timestamp).num_milliseconds() as f64 / 1000.0;
    let d = cur.cpu_seconds? - prev.cpu_seconds?;
    (secs > 0.0).then(|| (d / secs * 100.0).max(0.0))
}

pub fn frame(o: &Observation, cpu_percent: Option<f64>, t: &Thresholds) -> String {
    let mut out = String::new();
    let state = o.hub_state.as_deref().unwrap_or("unreachable");
    out.push_str(&format!(
        "mcphub monitor · {} · {}\n",
        o.target_url,
        o.timestamp.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    let uptime = o
        .health
        .as_ref()
        .and_then(|h| h.uptime_s)
        .map(|s| format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60))
        .unwrap_or_else(|| "N/A".into());
    let (connected, total) = o.servers_connected();
    out.push_str(&table(
        &[
            "hub", "PID", "port", "uptime", "CPU", "RSS", "health", "clients", "servers",
        ],
        vec![vec![
            state.to_owned(),
            o.pid.map_or("not running".into(), |p| p.to_string()),
            if o.port_listening {
                o.port.map_or("?".into(), |p| p.to_string())
            } else {
                "not listening".into()
            },
            uptime,
            or_na(cpu_percent, "%", 1),
            or_na(o.rss_bytes.map(|b| b as f64 / 1_048_576.0), " MB", 1),
            or_na(o.health_latency_ms, " ms", 1),
            o.health
                .as_ref()
                .and_then(|h| h.active_clients)
                .map_or("N/A".into(), |c| c.to_string()),
            format!("{connected}/{total}"),
        ]],
    ));
    out.push('\n');
    if let Some(err) = &o.health_error {
        out.push_str(&format!("hub not answering: {err}\n"));
    }
    if let Some(h) = &o.health {
        let rows = h
            .servers
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.status.clone(),
                    s.tool_count().to_string(),
                    s.reconnects.map_or("N/A".into(), |r| r.to_string()),
                    s.error
                        .clone()
                        .unwrap_or_default()
                        .chars()
                        .take(60)
                        .collect(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["server", "status", "tools", "reconnects", "last error"],
            rows,
        ));
        out.push('\n');
    }
    let m = o.metrics.as_ref();
    let calls = m.map(|m| m.tool_calls.total);
    let ok = m.map(|m| m.tool_calls.success);
    let rate = calls
        .filter(|c| *c > 0)
        .zip(ok)
        .map(|(c, ok)| ok as f64 * 100.0 / c as f64);
    let l = &o.llm;
    let cache = l
        .cache_hits
        .zip(l.cache_misses)
        .filter(|(h, m)| h + m > 0)
        .map(|(h, m)| h as f64 * 100.0 / (h + m) as f64);
    out.push_str(&table(
        &[
            "tool calls",
            "success",
            "LLM requests",
            "LLM success",
            "LLM p95",
            "cache hit",
            "queue",
            "circuit",
        ],
        vec![vec![
            calls.map_or("N/A".into(), |c| c.to_string()),
            or_na(rate, "%", 1),
            l.requests.map_or("N/A".into(), |r| r.to_string()),
            or_na(l.success_rate.map(|r| r * 100.0), "%", 1),
            or_na(l.p95_ms, " ms", 0),
            or_na(cache, "%", 1),
            or_na(l.queue_depth, "", 0),
            l.circuit_state.clone().unwrap_or_else(|| "N/A".into()),
        ]],
    ));
    out.push('\n');
    let alerts = evaluate(o, t);
    if alerts.is_empty() {
        out.push_str("alerts: none\n");
    } else {
        let rows = alerts
            .iter()
            .map(|a| vec![a.severity.as_str().to_owned(), a.message.clone()])
            .collect();
        out.push_str(&table(&["alert", "message"], rows));
        out.push('\n');
    }
    out
}
