//! `mcphub measure`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mcphub::toolkit::alerts::Thresholds;
use mcphub::toolkit::anomalies::parse_duration;
use mcphub::toolkit::history::History;
use mcphub::toolkit::measure::{compare, latest_baseline, write_baseline};
use mcphub::toolkit::probe::Probe;
use mcphub::toolkit::render::Format;
use mcphub::toolkit::templates::{BASELINE, render};

use crate::toolkit::{HubArgs, block_on};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    hub: HubArgs,
    /// How long to measure, e.g. 60s, 5m.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// How often to sample CPU, RSS and queue depth.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    interval: Duration,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Baseline template overriding templates/baseline.md.
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    match block_on(measure(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcphub measure: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn measure(args: &Args) -> Result<(), String> {
    let state = args.hub.state();
    let target = args.hub.target();
    let pid = mcphub::toolkit::discovery::find_pid(&target).map(|p| p.0);
    let client = Probe::new(target, args.hub.token.clone());
    let bar = indicatif::ProgressBar::new(args.duration.as_secs().max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template("measuring {bar:30} {pos}/{len}s {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let m = mcphub::toolkit::measure::run(&client, pid, args.duration, args.interval, |t| {
        bar.set_position(t.as_secs())
    })
    .await?;
    bar.finish_and_clear();
    let comparison =
        latest_baseline(&state.baselines_dir()).map(|(name, prev)| compare(&name, &prev, &m));
    let md = render(
        BASELINE,
        args.template.as_deref(),
        serde_json::json!({"m": m, "t": Thresholds::default(), "comparison": comparison}),
    )?;
    let written = write_baseline(&state, &m, &md)?;
    if let Err(e) = History::new(&state).append("measurements", &m) {
        eprintln!("mcphub measure: cannot record the measurement in the monitoring history: {e}");
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&m).unwrap_or_default()),
        Format::Table => {
            println!("{md}");
            eprintln!("baseline written to {}", written.display());
        }
    }
    Ok(())
}
