//! `mcphub check-alerts`.

use std::path::PathBuf;
use std::process::ExitCode;

use mcphub::toolkit::alerts::{Thresholds, evaluate, report};
use mcphub::toolkit::history::History;
use mcphub::toolkit::report::{CheckFormat, CheckStatus};

use crate::toolkit::{HubArgs, block_on};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    hub: HubArgs,
    #[arg(long, value_enum, default_value = "table")]
    format: CheckFormat,
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
        return match mcphub::toolkit::templates::render(
            mcphub::toolkit::templates::PROMETHEUS_RULES,
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
    let report = report(&obs, &alerts, &thresholds);
    if let Err(e) = History::new(&args.hub.state()).append("alerts", &report.json) {
        eprintln!("mcphub check-alerts: cannot record the result in the monitoring history: {e}");
    }
    if let Some(url) = &args.webhook
        && report.status >= CheckStatus::Warning
        && let Err(e) = block_on(mcphub::toolkit::alerts::notify_webhook(
            url,
            &obs.target_url,
            report.status,
            &alerts,
        ))
    {
        eprintln!("mcphub check-alerts: webhook {url}: {e}");
    }
    report.emit(args.format)
}
