//! `mcphub summary`.

use std::path::PathBuf;
use std::process::ExitCode;

use mcphub::state::write_atomic;
use mcphub::toolkit::history::History;
use mcphub::toolkit::measure::latest_baseline;
use mcphub::toolkit::probe::Probe;
use mcphub::toolkit::render::Format;
use mcphub::toolkit::summary::{Inputs, build, parse_date};
use mcphub::toolkit::templates::{SUMMARY, render};

use crate::toolkit::{HubArgs, block_on};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    hub: HubArgs,
    /// The day to report on: YYYY-MM-DD, today or yesterday (UTC).
    #[arg(long, default_value = "today")]
    date: String,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Report template overriding templates/summary.md.
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// The hub's log file. Default: logs/mcp-hub.log in the state directory.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    let now = chrono::Utc::now();
    let date = match parse_date(&args.date, now) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("mcphub summary: {e}");
            return ExitCode::from(2);
        }
    };
    let state = args.hub.state();
    let target = args.hub.target();
    let live = block_on(async {
        Probe::new(target.clone(), args.hub.token.clone())
            .health()
            .await
    })
    .map(|(h, _)| {
        h.servers
            .into_iter()
            .map(|s| (s.name, s.status, s.error))
            .collect()
    })
    .unwrap_or_default();
    let history = History::new(&state);
    let log = args.log.clone().unwrap_or_else(|| state.log_file());
    let summary = build(Inputs {
        date,
        now,
        log: &log,
        history: &history,
        baseline: latest_baseline(&state.baselines_dir()),
        hub: target.url.clone(),
        live_servers: live,
    });
    let md = match render(
        SUMMARY,
        args.template.as_deref(),
        serde_json::json!({"s": summary}),
    ) {
        Ok(md) => md,
        Err(e) => {
            eprintln!("mcphub summary: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = state.reports_dir();
    let file = dir.join(format!("summary-{date}.md"));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| write_atomic(&file, md.as_bytes())) {
        eprintln!("mcphub summary: cannot write {}: {e}", file.display());
        return ExitCode::FAILURE;
    }
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        ),
        Format::Table => {
            println!("{md}");
            eprintln!("report written to {}", file.display());
        }
    }
    ExitCode::SUCCESS
}
