//! `detect-anomalies`: what looks wrong in the last window — error spikes, flapping
//! servers, resource use of the discovered hub process, configured servers that are
//! not connected, and log growth — from the hub's log, API and process.

use crate::api::{ServerStatus, events};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::HubConfig;
use crate::state::StateDir;
use crate::toolkit::alerts::Severity;
use crate::toolkit::history::History;
use crate::toolkit::logscan::{ScanStats, scan_since};
use crate::toolkit::observe::Observation;
use crate::toolkit::render::or_na;
use crate::toolkit::report::{CheckReport, CheckStatus, Perf, TableForm};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyThresholds {
    /// More errors than this per 5 minutes is a spike.
    pub errors_per_5m: f64,
    /// More connect/disconnect cycles than this per server in the window is flapping.
    pub flap_cycles: u64,
    /// The report's CPU target.
    pub cpu_percent: f64,
    pub rss_mb: f64,
    pub log_growth_mb_per_hour: f64,
}

impl Default for AnomalyThresholds {
    fn default() -> Self {
        AnomalyThresholds {
            errors_per_5m: 10.0,
            flap_cycles: 3,
            cpu_percent: 10.0,
            rss_mb: 500.0,
            log_growth_mb_per_hour: 50.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// The log size seen by the previous run, for the growth rate.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LogSize {
    pub timestamp: DateTime<Utc>,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub timestamp: DateTime<Utc>,
    pub window_s: u64,
    pub hub: String,
    pub pid: Option<u32>,
    pub status: CheckStatus,
    pub errors: u64,
    pub disconnects: BTreeMap<String, u64>,
    pub active_clients: Option<u64>,
    pub cpu_percent: Option<f64>,
    pub rss_mb: Option<f64>,
    pub log: LogSize,
    pub log_growth_mb_per_hour: Option<f64>,
    pub scan: ScanStats,
    pub findings: Vec<Finding>,
}

pub struct Inputs<'a> {
    pub obs: &'a Observation,
    pub log: &'a Path,
    pub window: Duration,
    /// Enabled servers from the hub's config files.
    pub configured: Vec<String>,
    pub cpu_percent: Option<f64>,
    pub previous_log: Option<LogSize>,
    pub now: DateTime<Utc>,
}

/// An error line: logged at error level, or a warning about a failed call or a lost
/// server (the events that make users notice).
fn is_error(e: &crate::toolkit::logscan::Entry<'_>) -> bool {
    let level = e.level.as_deref().unwrap_or_default();
    level.eq_ignore_ascii_case("error")
        || (level
            .get(..4)
            .is_some_and(|l| l.eq_ignore_ascii_case("warn"))
            && matches!(
                e.event(),
                Some(
                    events::TOOL_CALL
                        | events::SERVER_DISCONNECTED
                        | events::LLM_PARSE_ERROR
                        | events::CIRCUIT_OPENED
                )
            ))
}

pub fn detect(i: Inputs<'_>, t: &AnomalyThresholds) -> Report {
    use Severity::*;
    let since = i.now - chrono::Duration::from_std(i.window).unwrap_or_default();
    let mut errors = 0u64;
    let mut disconnects: BTreeMap<String, u64> = BTreeMap::new();
    let scan = scan_since(i.log, since, |e| {
        let event = e.event();
        if is_error(e) {
            errors += 1;
        }
        if event == Some(events::SERVER_DISCONNECTED)
            && let Some(s) = e.server()
        {
            match disconnects.get_mut(s) {
                Some(n) => *n += 1,
                None => {
                    disconnects.insert(s.to_owned(), 1);
                }
            }
        }
    });
    let mut findings = Vec::new();
    let minutes = i.window.as_secs_f64().max(1.0) / 60.0;
    let per_5m = errors as f64 * 5.0 / minutes;
    if per_5m > t.errors_per_5m {
        findings.push(Finding {
            check: "error_spike",
            severity: Warning,
            message: format!(
                "{errors} errors in {} (≈{per_5m:.0} per 5 min > {:.0})",
                human(i.window),
                t.errors_per_5m
            ),
            server: None,
        });
    }
    for (server, n) in &disconnects {
        if *n > t.flap_cycles {
            findings.push(Finding {
                check: "flapping",
                severity: Warning,
                message: format!(
                    "server {server} disconnected {n} times in {} (> {})",
                    human(i.window),
                    t.flap_cycles
                ),
                server: Some(server.clone()),
            });
        }
    }
    match i.obs.pid {
        None => findings.push(Finding {
            check: "resources",
            severity: Critical,
            message: format!("hub process not found for {}", i.obs.target_url),
            server: None,
        }),
        Some(pid) => {
            if let Some(cpu) = i.cpu_percent
                && cpu > t.cpu_percent
            {
                findings.push(Finding {
                    check: "resources",
                    severity: Warning,
                    message: format!("PID {pid} uses {cpu:.1}% CPU (> {:.0}%)", t.cpu_percent),
                    server: None,
                });
            }
            if let Some(rss) = i.obs.rss_bytes.map(|b| b as f64 / 1_048_576.0)
                && rss > t.rss_mb
            {
                findings.push(Finding {
                    check: "resources",
                    severity: Warning,
                    message: format!("PID {pid} uses {rss:.0} MB RSS (> {:.0} MB)", t.rss_mb),
                    server: None,
                });
            }
        }
    }
    if let Some(h) = &i.obs.health {
        for name in &i.configured {
            match h.servers.iter().find(|s| &s.name == name) {
                Some(s) if s.status() == Some(ServerStatus::Connected) => {}
                Some(s) => findings.push(Finding {
                    check: "servers",
                    severity: Warning,
                    message: format!(
                        "configured server {name} is {}{}",
                        s.status,
                        s.error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ),
                    server: Some(name.clone()),
                }),
                None => findings.push(Finding {
                    check: "servers",
                    severity: Warning,
                    message: format!("configured server {name} is unknown to the running hub"),
                    server: Some(name.clone()),
                }),
            }
        }
    }
    let log = LogSize {
        timestamp: i.now,
        bytes: crate::telemetry::log::total_log_bytes(i.log),
    };
    let growth = i.previous_log.and_then(|prev| {
        let hours = (log.timestamp - prev.timestamp).num_milliseconds() as f64 / 3_600_000.0;
        // A shrinking total means old rotated files were dropped: no rate this time.
        (hours > 0.0 && log.bytes >= prev.bytes)
            .then(|| (log.bytes - prev.bytes) as f64 / 1_048_576.0 / hours)
    });
    if let Some(g) = growth
        && g > t.log_growth_mb_per_hour
    {
        findings.push(Finding {
            check: "log_growth",
            severity: Warning,
            message: format!(
                "log grows {g:.1} MB/h (> {:.0} MB/h)",
                t.log_growth_mb_per_hour
            ),
            server: None,
        });
    }
    let status = match findings.iter().map(|f| f.severity).max() {
        Some(Critical) => CheckStatus::Critical,
        Some(Warning) => CheckStatus::Warning,
        _ => CheckStatus::Ok,
    };
    Report {
        timestamp: i.now,
        window_s: i.window.as_secs(),
        hub: i.obs.target_url.clone(),
        pid: i.obs.pid,
        status,
        errors,
        disconnects,
        active_clients: i.obs.health.as_ref().and_then(|h| h.active_clients),
        cpu_percent: i.cpu_percent,
        rss_mb: i.obs.rss_bytes.map(|b| b as f64 / 1_048_576.0),
        log,
        log_growth_mb_per_hour: growth,
        scan,
        findings,
    }
}

/// One run: the observation, the hub's log over `window`, the enabled servers of the
/// hub's config files and the log size the previous run saw (from the history).
pub fn inspect(
    obs: &Observation,
    cpu_percent: Option<f64>,
    state: &StateDir,
    log: &Path,
    window: Duration,
    t: &AnomalyThresholds,
) -> Report {
    let files = crate::toolkit::validate::config_files(&[], obs, state);
    let configured = HubConfig::load(&files)
        .map(|c| {
            c.servers
                .into_iter()
                .filter(|(_, e)| !e.disabled())
                .map(|(n, _)| n)
                .collect()
        })
        .unwrap_or_default();
    let previous_log = History::new(state)
        .last(HISTORY_KIND)
        .and_then(|v| serde_json::from_value::<LogSize>(v["log"].clone()).ok());
    detect(
        Inputs {
            obs,
            log,
            window,
            configured,
            cpu_percent,
            previous_log,
            now: Utc::now(),
        },
        t,
    )
}

/// The monitoring history's name for these reports.
pub const HISTORY_KIND: &str = "anomalies";

/// A report in the forms `detect-anomalies` prints: a row per check in the table.
pub fn check_report(report: Report, t: &AnomalyThresholds) -> CheckReport<Report> {
    let summary = if report.findings.is_empty() {
        format!("no anomalies in the last {}s", report.window_s)
    } else {
        report
            .findings
            .iter()
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let tenth = |v: f64| (v * 10.0).round() / 10.0;
    let perfdata = vec![
        Perf::new("errors", Some(report.errors as f64), ""),
        Perf::new("cpu_percent", report.cpu_percent.map(tenth), "%").warn(t.cpu_percent),
        Perf::new("rss_mb", report.rss_mb.map(tenth), "MB").warn(t.rss_mb),
        Perf::new("bad_log_lines", Some(report.scan.bad_lines as f64), ""),
    ];
    let row = |check: &str, label: &str, fine: String| {
        let msgs: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.check == check)
            .map(|f| f.message.clone())
            .collect();
        let mark = if msgs.is_empty() { "ok" } else { "!" };
        let detail = if msgs.is_empty() {
            fine
        } else {
            msgs.join("\n")
        };
        vec![mark.to_owned(), label.to_owned(), detail]
    };
    let rows = vec![
        row(
            "error_spike",
            "error spikes",
            format!("{} errors in the window", report.errors),
        ),
        row("flapping", "connection flapping", "stable".into()),
        row(
            "resources",
            "resource usage",
            format!(
                "PID {} · CPU {} · RSS {}",
                report.pid.map_or("?".into(), |p| p.to_string()),
                or_na(report.cpu_percent, "%", 1),
                or_na(report.rss_mb, " MB", 0)
            ),
        ),
        vec![
            "ok".into(),
            "active clients".into(),
            report
                .active_clients
                .map_or("N/A".into(), |c| c.to_string()),
        ],
        row("servers", "configured servers", "all connected".into()),
        row(
            "log_growth",
            "log growth",
            format!(
                "{:.2} MB total, {}",
                report.log.bytes as f64 / 1_048_576.0,
                or_na(report.log_growth_mb_per_hour, " MB/h", 2)
            ),
        ),
    ];
    let mut footer = Vec::new();
    if report.scan.bad_lines > 0 {
        footer.push(format!(
            "{} unparseable log lines skipped",
            report.scan.bad_lines
        ));
    }
    footer.push(report.status.word().to_owned());
    CheckReport {
        status: report.status,
        table: TableForm {
            header: vec!["", "check", "detail"],
            rows,
            footer,
        },
        summary,
        perfdata,
        json: report,
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) && s >= 3600 {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) && s >= 60 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Parses `5m`, `90s`, `1h`, `2h30m`, `500ms`: the durations the CLI takes.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("`{s}` is not a duration: use e.g. 30s, 5m, 1h, 2h30m");
    let mut total = Duration::ZERO;
    let mut num = String::new();
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let c = rest.chars().next().ok_or_else(err)?;
        if c.is_ascii_digit() {
            num.push(c);
            rest = &rest[1..];
            continue;
        }
        let n: u64 = num.parse().map_err(|_| err())?;
        num.clear();
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(n), 2)
        } else {
            let per = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => return Err(err()),
            };
            (Duration::from_secs(n.checked_mul(per).ok_or_else(err)?), 1)
        };
        // Overflowing sums are refused, not wrapped or panicked on.
        total = total.checked_add(unit).ok_or_else(err)?;
        rest = &rest[len..];
    }
    if !num.is_empty() {
        let secs = Duration::from_secs(num.parse().map_err(|_| err())?);
        total = total.checked_add(secs).ok_or_else(err)?;
    }
    if total.is_zero() {
        return Err(err());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn huge_durations_are_refused_not_panicked_on() {
        assert!(super::parse_duration("18446744073709551615s1s").is_err());
        assert!(super::parse_duration("999999999999999999h").is_err());
        assert_eq!(
            super::parse_duration("1h30m").unwrap(),
            std::time::Duration::from_secs(5400)
        );
    }

    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h30m"), Ok(Duration::from_secs(9000)));
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("").is_err());
    }
}
