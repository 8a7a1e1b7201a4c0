//! `mcphub detect-anomalies`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mcphub::config::HubConfig;
use mcphub::toolkit::alerts::CheckStatus;
use mcphub::toolkit::anomalies::{
    AnomalyThresholds, Inputs, LogSize, detect, parse_duration, status_of,
};
use mcphub::toolkit::history::History;
use mcphub::toolkit::render::{Format, or_na, perf, table};

use crate::toolkit::{HubArgs, block_on};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    hub: HubArgs,
    /// How far back to look, e.g. 5m, 1h.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    window: Duration,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// JSON file overriding anomaly thresholds.
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
    /// The hub's log file. Default: logs/mcp-hub.log in the state directory.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    let thresholds = match args
        .thresholds
        .as_deref()
        .map(mcphub::config::load_json::<AnomalyThresholds>)
        .transpose()
    {
        Ok(t) => t.unwrap_or_default(),
        Err(e) => {
            eprintln!("mcphub detect-anomalies: {e}");
            return ExitCode::from(CheckStatus::Unknown.code());
        }
    };
    let state = args.hub.state();
    let history = History::new(&state);
    let log = args.log.clone().unwrap_or_else(|| state.log_file());
    let (obs, cpu) = block_on(async {
        let obs =
            mcphub::toolkit::observe::observe(args.hub.target(), args.hub.token.clone()).await;
        let cpu = match obs.pid {
            Some(pid) => mcphub::telemetry::cpu_percent(pid, Duration::from_millis(500)).await,
            None => None,
        };
        (obs, cpu)
    });
    let files = mcphub::toolkit::validate::config_files(&[], &obs, &state);
    let configured = HubConfig::load(&files)
        .map(|c| {
            c.servers
                .into_iter()
                .filter(|(_, e)| !e.disabled())
                .map(|(n, _)| n)
                .collect()
        })
        .unwrap_or_default();
    let previous_log = history
        .last("anomalies")
        .and_then(|v| serde_json::from_value::<LogSize>(v["log"].clone()).ok());
    let report = detect(
        Inputs {
            obs: &obs,
            log: &log,
            window: args.window,
            configured,
            cpu_percent: cpu,
            previous_log,
            now: chrono::Utc::now(),
        },
        &thresholds,
    );
    if let Err(e) = history.append("anomalies", &report) {
        eprintln!(
            "mcphub detect-anomalies: cannot record the result in the monitoring history: {e}"
        );
    }
    let status = status_of(&report);
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Format::Nagios => {
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
            let perfdata = [
                perf("errors", Some(report.errors as f64), "", None, None),
                perf(
                    "cpu_percent",
                    report.cpu_percent.map(|c| (c * 10.0).round() / 10.0),
                    "%",
                    Some(thresholds.cpu_percent),
                    None,
                ),
                perf(
                    "rss_mb",
                    report.rss_mb.map(|c| (c * 10.0).round() / 10.0),
                    "MB",
                    Some(thresholds.rss_mb),
                    None,
                ),
                perf(
                    "bad_log_lines",
                    Some(report.scan.bad_lines as f64),
                    "",
                    None,
                    None,
                ),
            ]
            .join(" ");
            println!("MCPHUB {} - {summary} | {perfdata}", status.word());
        }
        Format::Table => {
            let ok = |failed: bool| if failed { "!" } else { "ok" }.to_owned();
            let has = |c: &str| report.findings.iter().any(|f| f.check == c);
            let detail = |c: &str, fallback: String| {
                let msgs: Vec<_> = report
                    .findings
                    .iter()
                    .filter(|f| f.check == c)
                    .map(|f| f.message.clone())
                    .collect();
                if msgs.is_empty() {
                    fallback
                } else {
                    msgs.join("\n")
                }
            };
            let rows = vec![
                vec![
                    ok(has("error_spike")),
                    "error spikes".into(),
                    detail(
                        "error_spike",
                        format!("{} errors in the window", report.errors),
                    ),
                ],
                vec![
                    ok(has("flapping")),
                    "connection flapping".into(),
                    detail("flapping", "stable".into()),
                ],
                vec![
                    ok(has("resources")),
                    "resource usage".into(),
                    detail(
                        "resources",
                        format!(
                            "PID {} · CPU {} · RSS {}",
                            report.pid.map_or("?".into(), |p| p.to_string()),
                            or_na(report.cpu_percent, "%", 1),
                            or_na(report.rss_mb, " MB", 0)
                        ),
                    ),
                ],
                vec![
                    "ok".into(),
                    "active clients".into(),
                    report
                        .active_clients
                        .map_or("N/A".into(), |c| c.to_string()),
                ],
                vec![
                    ok(has("servers")),
                    "configured servers".into(),
                    detail("servers", "all connected".into()),
                ],
                vec![
                    ok(has("log_growth")),
                    "log growth".into(),
                    detail(
                        "log_growth",
                        format!(
                            "{:.2} MB total, {}",
                            report.log.bytes as f64 / 1_048_576.0,
                            or_na(report.log_growth_mb_per_hour, " MB/h", 2)
                        ),
                    ),
                ],
            ];
            println!("{}", table(&["", "check", "detail"], rows));
            if report.scan.bad_lines > 0 {
                println!("{} unparseable log lines skipped", report.scan.bad_lines);
            }
            println!("{}", status.word());
        }
    }
    ExitCode::from(status.code())
}
