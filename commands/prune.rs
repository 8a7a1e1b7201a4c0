//! `mcphub prune`.

use std::process::ExitCode;
use std::time::Duration;

use mcphub::toolkit::anomalies::parse_duration;
use mcphub::toolkit::render::{Format, table};

use crate::toolkit::HubArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    hub: HubArgs,
    /// Keep history and rotated logs newer than this, e.g. 30d, 12h.
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    keep: Duration,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub fn run(args: Args) -> ExitCode {
    let state = args.hub.state();
    match mcphub::toolkit::prune::prune(&state, args.keep, chrono::Utc::now()) {
        Ok(p) => {
            match args.format {
                Format::Json => {
                    println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default())
                }
                _ => {
                    let rows = vec![
                        vec![
                            "history lines removed".into(),
                            p.history_lines_removed.to_string(),
                        ],
                        vec![
                            "history lines kept".into(),
                            p.history_lines_kept.to_string(),
                        ],
                        vec![
                            "unreadable lines removed".into(),
                            p.unreadable_lines_removed.to_string(),
                        ],
                        vec!["files removed".into(), p.files_removed.len().to_string()],
                    ];
                    println!("{}", table(&["", "count"], rows));
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mcphub prune: {}: {e}", state.root().display());
            ExitCode::FAILURE
        }
    }
}
