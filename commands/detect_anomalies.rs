//! `mcphub detect-anomalies`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mcphub::toolkit::anomalies::{
    AnomalyThresholds, HISTORY_KIND, check_report, inspect, parse_duration,
};
use mcphub::toolkit::history::History;
use mcphub::toolkit::report::{CheckFormat, CheckStatus};

use crate::toolkit::{HubArgs, block_on};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    hub: HubArgs,
    /// How far back to look, e.g. 5m, 1h.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    window: Duration,
    #[arg(long, value_enum, default_value = "table")]
    format: CheckFormat,
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
    let report = inspect(&obs, cpu, &state, &log, args.window, &thresholds);
    if let Err(e) = History::new(&state).append(HISTORY_KIND, &report) {
        eprintln!(
            "mcphub detect-anomalies: cannot record the result in the monitoring history: {e}"
        );
    }
    check_report(report, &thresholds).emit(args.format)
}
