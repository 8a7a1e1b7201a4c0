//! `mcphub check-alerts`.

use std::path::PathBuf;
use std::process::ExitCode;

use mcphub::toolkit::alerts::{CheckStatus, Thresholds, evaluate};
use mcphub::toolkit::history::History;
use mcphub::toolkit::render::{Format, perf, table};

use crate::toolkit::{HubArgs, block_on};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    hub: HubArgs,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// JSON file overriding alert thresholds (see README).
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
    /// Print the same rules in another system's format instead of checking.
    #[arg(long, value_enum, value_name = "FORMAT")]
    emit: Option<Emit>,
    /// Slack-compatible webhook (a JSON POST of {"text": …}) told about warning and
    /// critical results.
    #[arg(
        long,
        env = "MCPHUB_WEBHOOK_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    webhook: Option<String>,
    /// Prometheus job name the emitted rules select.
    #[arg(long, default_value = "mcphub")]
    job: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Emit {
    PrometheusRules,
}

pub fn run(args: Args) -> ExitCode {
    let thresholds = match &args.thresholds {
        Some(p) => match mcphub::config::load_json::<Thresholds>(p) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("mcphub check-alerts: {e}");
                return ExitCode::from(CheckStatus::Unknown.code());
            }
        },
        None => Thresholds::default(),
    };
    if let Some(Emit::PrometheusRules) = args.emit {
        return match mcphub::toolkit::reports::render(
            mcphub::toolkit::reports::PROMETHEUS_RULES,
            None,
            serde_json::json!({"t": thresholds, "job": args.job}),
        ) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mcphub check-alerts: {e}");
                ExitCode::from(CheckStatus::Unknown.code())
            }
        };
    }
    let obs = block_on(mcphub::toolkit::observe::observe(
        args.hub.target(),
        args.hub.token.clone(),
    ));
    let alerts = evaluate(&obs, &thresholds);
    let status = CheckStatus::from_alerts(&alerts);
    let record = serde_json::json!({
        "timestamp": obs.timestamp.to_rfc3339(), "kind": "alerts", "status": status.word(),
        "hub": obs.target_url, "pid": obs.pid, "alerts": alerts,
    });
    if let Err(e) = History::new(&args.hub.state()).append("alerts", &record) {
        eprintln!("mcphub check-alerts: cannot record the result in the monitoring history: {e}");
    }
    if let Some(url) = &args.webhook
        && status >= CheckStatus::Warning
        && let Err(e) = block_on(mcphub::toolkit::alerts::notify_webhook(
            url,
            &obs.target_url,
            status,
            &alerts,
        ))
    {
        eprintln!("mcphub check-alerts: webhook {url}: {e}");
    }
    let (connected, total) = obs.servers_connected();
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&record).unwrap_or_default()
        ),
        Format::Nagios => {
            let worst = alerts
                .iter()
                .filter(|a| a.severity >= mcphub::toolkit::alerts::Severity::Warning)
                .map(|a| a.message.clone())
                .collect::<Vec<_>>();
            let summary = if worst.is_empty() {
                format!("{connected}/{total} servers connected")
            } else {
                worst.join("; ")
            };
            let rss = obs.rss_bytes.map(|b| b as f64 / 1_048_576.0);
            let perfdata = [
                perf("servers_connected", Some(connected as f64), "", None, None),
                perf("servers_total", Some(total as f64), "", None, None),
                perf(
                    "rss_mb",
                    rss.map(|v| (v * 10.0).round() / 10.0),
                    "MB",
                    Some(thresholds.rss_mb),
                    None,
                ),
                perf(
                    "health_ms",
                    obs.health_latency_ms.map(|v| (v * 10.0).round() / 10.0),
                    "ms",
                    Some(thresholds.health_latency_ms),
                    None,
                ),
                perf(
                    "llm_success_rate",
                    obs.llm.success_rate.map(|v| v * 100.0),
                    "%",
                    Some(thresholds.success_rate_warning * 100.0),
                    Some(thresholds.success_rate_critical * 100.0),
                ),
                perf(
                    "llm_p95_ms",
                    obs.llm.p95_ms,
                    "ms",
                    Some(thresholds.p95_ms),
                    None,
                ),
            ]
            .join(" ");
            println!("MCPHUB {} - {summary} | {perfdata}", status.word());
        }
        Format::Table => {
            if alerts.is_empty() {
                println!(
                    "{}: no alerts ({connected}/{total} servers connected, hub at {})",
                    status.word(),
                    obs.target_url
                );
            } else {
                let rows = alerts
                    .iter()
                    .map(|a| {
                        vec![
                            a.severity.as_str().to_owned(),
                            a.rule.to_owned(),
                            a.message.clone(),
                        ]
                    })
                    .collect();
                println!("{}", table(&["severity", "rule", "message"], rows));
                println!("{}", status.word());
            }
        }
    }
    ExitCode::from(status.code())
}
