//! `mcphub validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use mcphub::toolkit::alerts::Thresholds;
use mcphub::toolkit::render::{Format, table};
use mcphub::toolkit::validate::{config_files, run as validate, status};

use crate::toolkit::{HubArgs, block_on};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    hub: HubArgs,
    /// Config files to validate. Default: the running hub's, else the default file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub fn run(args: Args) -> ExitCode {
    let state = args.hub.state();
    let obs = block_on(mcphub::toolkit::observe::observe(
        args.hub.target(),
        args.hub.token.clone(),
    ));
    let files = config_files(&args.config, &obs, &state);
    let checks = validate(&obs, &files, &state, &Thresholds::default());
    let st = status(&checks);
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"status": st.word(), "hub": obs.target_url, "pid": obs.pid, "checks": checks})).unwrap_or_default()
        ),
        Format::Nagios => {
            let bad: Vec<String> = checks.iter().filter(|c| c.verdict != mcphub::toolkit::validate::Verdict::Pass).map(|c| format!("{}: {}", c.check, c.detail)).collect();
            let passed = checks.len() - bad.len();
            let summary = if bad.is_empty() { format!("{passed} checks passed") } else { bad.join("; ") };
            println!("MCPHUB {} - {summary} | 'checks_passed'={passed};;;0;{}", st.word(), checks.len());
        }
        Format::Table => {
            let rows = checks.iter().map(|c| vec![c.verdict.as_str().to_owned(), c.check.clone(), c.detail.clone()]).collect();
            println!("{}", table(&["result", "check", "detail"], rows));
            println!("{}", st.word());
        }
    }
    ExitCode::from(st.code())
}
