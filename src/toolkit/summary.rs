//! `summary`: the daily report, from the hub's log and the monitoring history.

use crate::api::{ServerStatus, events};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::api::metrics::LatencySnapshot;
use crate::toolkit::history::History;
use crate::toolkit::logscan::scan_since;
use crate::toolkit::measure::Measurement;

/// `YYYY-MM-DD`, `today` or `yesterday` (UTC, like the log's timestamps).
pub fn parse_date(s: &str, now: DateTime<Utc>) -> Result<NaiveDate, String> {
    match s {
        "today" => Ok(now.date_naive()),
        "yesterday" => Ok(now.date_naive() - chrono::Days::new(1)),
        other => NaiveDate::parse_from_str(other, "%Y-%m-%d")
            .map_err(|_| format!("`{other}` is not a date: use YYYY-MM-DD, today or yesterday")),
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct ServerDay {
    pub name: String,
    pub disconnections: u64,
    pub calls: u64,
    pub failed_calls: u64,
    pub last_error: Option<String>,
    /// From the hub's API when it answers.
    pub status_now: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub date: String,
    pub generated: String,
    pub hub: String,
    pub availability_percent: Option<f64>,
    pub restarts: u64,
    pub log_lines: u64,
    pub bad_log_lines: u64,
    pub errors: u64,
    pub servers: Vec<ServerDay>,
    pub calls: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub baseline: Option<String>,
    pub baseline_p95_ms: Option<f64>,
    pub alerts: BTreeMap<String, u64>,
    pub anomalies: BTreeMap<String, u64>,
    pub action_items: Vec<String>,
}

pub struct Inputs<'a> {
    pub date: NaiveDate,
    pub now: DateTime<Utc>,
    pub log: &'a Path,
    pub history: &'a History,
    pub baseline: Option<(String, Measurement)>,
    pub hub: String,
    /// Current server statuses from the hub's API (name, status, error).
    pub live_servers: Vec<(String, String, Option<String>)>,
}

fn server_day<'a>(servers: &'a mut HashMap<String, ServerDay>, name: &str) -> &'a mut ServerDay {
    // Looked up before inserting: this runs for every line of a scan, and a key is
    // allocated only for a server not seen yet.
    if !servers.contains_key(name) {
        let day = ServerDay {
            name: name.to_owned(),
            ..Default::default()
        };
        servers.insert(name.to_owned(), day);
    }
    servers.get_mut(name).expect("inserted above")
}

fn day_bounds(date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    (start, start + chrono::Duration::days(1))
}

fn in_day(v: &Value, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    v.get("timestamp")
        .and_then(crate::toolkit::logscan::parse_timestamp)
        .is_some_and(|t| t >= start && t < end)
}

pub fn build(i: Inputs<'_>) -> Summary {
    let (start, end) = day_bounds(i.date);
    // Hashed while scanning (a lookup per line), sorted by name once at the end.
    let mut servers: HashMap<String, ServerDay> = HashMap::new();
    let mut latency = LatencySnapshot::empty();
    let mut starts: Vec<DateTime<Utc>> = Vec::new();
    let mut stops: Vec<DateTime<Utc>> = Vec::new();
    let mut first_line: Option<DateTime<Utc>> = None;
    let mut errors = 0u64;
    let mut lines = 0u64;
    let stats = scan_since(i.log, start, |e| {
        if e.timestamp >= end {
            return;
        }
        lines += 1;
        first_line = Some(e.timestamp);
        let event = e.event();
        let server = e.server();
        if e.level_is("error") {
            errors += 1;
        }
        match event {
            Some(events::HUB_STARTED) => starts.push(e.timestamp),
            Some(events::HUB_STOPPED) => stops.push(e.timestamp),
            Some(events::SERVER_DISCONNECTED) => {
                if let Some(s) = server {
                    let d = server_day(&mut servers, s);
                    d.disconnections += 1;
                    // Newest first: the first error seen is the last one logged.
                    if d.last_error.is_none() {
                        d.last_error = e.error.as_deref().map(str::to_owned);
                    }
                }
            }
            Some(events::TOOL_CALL) => {
                if let Some(s) = server {
                    let d = server_day(&mut servers, s);
                    d.calls += 1;
                    if e.outcome.as_deref() != Some("success") {
                        d.failed_calls += 1;
                        errors += 1;
                    }
                }
                if let Some(ms) = e.duration_ms {
                    latency.record(ms / 1000.0);
                }
            }
            _ => {}
        }
    });
    for (name, status, error) in &i.live_servers {
        let d = server_day(&mut servers, name);
        d.status_now = Some(status.clone());
        if d.last_error.is_none() && ServerStatus::parse(status) != Some(ServerStatus::Connected) {
            d.last_error = error.clone();
        }
    }
    // The day is observed from its start when the log is older than the day, else from
    // the first line of the day (a hub installed today was not "down" before it).
    let observed_from = if stats.older_lines {
        Some(start)
    } else {
        first_line
    };
    let availability =
        observed_from.and_then(|from| availability(from, end.min(i.now), &starts, &stops));
    let count_records = |kind: &str, key: &dyn Fn(&Value) -> Vec<String>| {
        let mut out: BTreeMap<String, u64> = BTreeMap::new();
        let text = std::fs::read_to_string(i.history.file(kind)).unwrap_or_default();
        for v in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            if in_day(&v, start, end) {
                for k in key(&v) {
                    *out.entry(k).or_default() += 1;
                }
            }
        }
        out
    };
    let alerts = count_records("alerts", &|v| {
        v["alerts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        format!(
                            "{} {}",
                            x["severity"].as_str().unwrap_or("?"),
                            x["rule"].as_str().unwrap_or("?")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    let anomalies = count_records("anomalies", &|v| {
        v["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x["message"].as_str().unwrap_or("?").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    });
    let p = |q| latency.quantile(q).map(|s| s * 1000.0);
    let mut servers: Vec<ServerDay> = servers.into_values().collect();
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    let mut s = Summary {
        date: i.date.to_string(),
        generated: i.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        hub: i.hub,
        availability_percent: availability,
        restarts: if stats.older_lines {
            starts.len() as u64
        } else {
            starts.len().saturating_sub(1) as u64
        },
        log_lines: lines,
        bad_log_lines: stats.bad_lines,
        errors,
        calls: latency.count,
        p50_ms: p(0.5),
        p95_ms: p(0.95),
        baseline_p95_ms: i.baseline.as_ref().and_then(|(_, m)| m.p95_ms),
        baseline: i.baseline.map(|(n, _)| n),
        servers,
        alerts,
        anomalies,
        action_items: vec![],
    };
    s.action_items = action_items(&s);
    s
}

/// Share of the observed part of the day the hub was running: from each `hub_started`
/// to its `hub_stopped` (a start with no stop before the next start counts as running
/// until that start). A hub already running when observation began counts from then.
fn availability(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    starts: &[DateTime<Utc>],
    stops: &[DateTime<Utc>],
) -> Option<f64> {
    let total = (end - start).num_milliseconds() as f64;
    if total <= 0.0 {
        return None;
    }
    let mut starts: Vec<_> = starts.to_vec();
    starts.sort();
    let mut stops: Vec<_> = stops.to_vec();
    stops.sort();
    let mut marks: Vec<(DateTime<Utc>, bool)> = starts.iter().map(|t| (*t, true)).collect();
    marks.extend(stops.iter().map(|t| (*t, false)));
    marks.sort();
    // Running at the start of the day if the first event is not a start.
    let mut up_since = match marks.first() {
        Some((_, true)) => None,
        _ => Some(start),
    };
    let mut up = 0.0;
    for (t, is_start) in marks {
        match (is_start, up_since) {
            (true, None) => up_since = Some(t),
            (false, Some(s)) => {
                up += (t - s).num_milliseconds() as f64;
                up_since = None;
            }
            // A start while up: the previous run died without a stop line.
            (true, Some(s)) => {
                up += (t - s).num_milliseconds() as f64;
                up_since = Some(t);
            }
            (false, None) => {}
        }
    }
    if let Some(s) = up_since {
        up += (end - s).num_milliseconds() as f64;
    }
    Some((up / total * 100.0).clamp(0.0, 100.0))
}

fn action_items(s: &Summary) -> Vec<String> {
    let mut items = Vec::new();
    for d in &s.servers {
        let down_now = d.status_now.as_deref().is_some_and(|st| {
            !matches!(
                ServerStatus::parse(st),
                Some(ServerStatus::Connected | ServerStatus::Disabled)
            )
        });
        if d.disconnections >= 3 || down_now {
            items.push(format!(
                "Investigate server `{}`: {} disconnections today{}{}. Check its command and logs (`server_stderr` lines), or disable it.",
                d.name,
                d.disconnections,
                if down_now { ", not connected now" } else { "" },
                d.last_error.as_deref().map(|e| format!("; last error: {e}")).unwrap_or_default()
            ));
        }
        if d.calls >= 10 && d.failed_calls * 10 > d.calls {
            items.push(format!(
                "Server `{}` failed {} of {} tool calls: look at its errors in the log.",
                d.name, d.failed_calls, d.calls
            ));
        }
    }
    if let Some(a) = s.availability_percent
        && a < 99.0
    {
        items.push(format!("Hub availability was {a:.1}% with {} restarts: check why it stopped (the log around hub_started).", s.restarts));
    }
    if let (Some(p), Some(b)) = (s.p95_ms, s.baseline_p95_ms)
        && b > 0.0
        && p > b * 1.5
    {
        items.push(format!(
            "Tool-call P95 {p:.1} ms is {:.0}% above the baseline's {b:.1} ms.",
            (p / b - 1.0) * 100.0
        ));
    }
    if s.alerts.keys().any(|k| k.starts_with("critical")) {
        items.push("Critical alerts fired today: see the alerts table.".into());
    }
    if s.bad_log_lines > 0 {
        items.push(format!(
            "{} log lines could not be read (torn or foreign); they were skipped.",
            s.bad_log_lines
        ));
    }
    items
}
