//! `mcphub measure`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mcphub::state::write_atomic;
use mcphub::toolkit::alerts::Thresholds;
use mcphub::toolkit::anomalies::parse_duration;
use mcphub::toolkit::history::History;
use mcphub::toolkit::measure::{
    Counters, Sample, Window, baselines_dir, compare, compute, latest_baseline,
};
use mcphub::toolkit::observe::LlmFigures;
use mcphub::toolkit::probe::HubClient;
use mcphub::toolkit::render::Format;
use mcphub::toolkit::reports::{BASELINE, render};

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
    if args.format == Format::Nagios {
        eprintln!("mcphub measure: --format nagios is for check commands; use table or json");
        return ExitCode::from(2);
    }
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
    let client = HubClient::new(target.clone(), args.hub.token.clone());
    // Fail early, with the reason, when no hub answers.
    client.health().await.map_err(|e| e.to_string())?;
    let m0 = client.metrics().await.map_err(|e| e.to_string())?;
    let start = Counters::from_metrics(m0.as_ref());
    let llm_start = LlmFigures::from_metrics(m0.as_ref());
    let started = chrono::Utc::now();
    let t0 = Instant::now();
    let bar = indicatif::ProgressBar::new(args.duration.as_secs().max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template("measuring {bar:30} {pos}/{len}s {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut samples = Vec::new();
    loop {
        let proc = pid.and_then(mcphub::telemetry::sample_process);
        let queue =
            LlmFigures::from_metrics(client.metrics().await.ok().flatten().as_ref()).queue_depth;
        samples.push(Sample {
            rss_bytes: proc.map(|p| p.rss_bytes),
            cpu_seconds: proc.map(|p| p.cpu_seconds),
            queue_depth: queue,
        });
        let elapsed = t0.elapsed();
        bar.set_position(elapsed.as_secs());
        if elapsed >= args.duration {
            break;
        }
        tokio::time::sleep(args.interval.min(args.duration - elapsed)).await;
    }
    bar.finish_and_clear();
    let ended = chrono::Utc::now();
    let m1 = client.metrics().await.map_err(|e| e.to_string())?;
    let (health_end, health_took) = client.health().await.map_err(|e| e.to_string())?;
    let servers = health_end.servers_connected();
    let m = compute(Window {
        started,
        ended,
        hub: target.url.clone(),
        pid,
        start: &start,
        end: &Counters::from_metrics(m1.as_ref()),
        llm_start: &llm_start,
        llm_end: &LlmFigures::from_metrics(m1.as_ref()),
        samples: &samples,
        health_ms: Some(health_took.as_secs_f64() * 1000.0),
        servers,
    });
    let dir = baselines_dir(state.root());
    let comparison = latest_baseline(&dir).map(|(name, prev)| compare(&name, &prev, &m));
    let thresholds = Thresholds::default();
    let md = render(
        BASELINE,
        args.template.as_deref(),
        serde_json::json!({"m": m, "t": thresholds, "comparison": comparison}),
    )?;
    let stem = format!("baseline-{}", started.format("%Y%m%d-%H%M%S"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(&m).unwrap_or_default();
    write_atomic(&dir.join(format!("{stem}.md")), md.as_bytes()).map_err(|e| e.to_string())?;
    write_atomic(&dir.join(format!("{stem}.json")), json.as_bytes()).map_err(|e| e.to_string())?;
    if let Err(e) = History::new(&state).append("measurements", &m) {
        eprintln!("mcphub measure: cannot record the measurement in the monitoring history: {e}");
    }
    match args.format {
        Format::Json => println!("{json}"),
        _ => {
            println!("{md}");
            eprintln!(
                "baseline written to {}",
                dir.join(format!("{stem}.md")).display()
            );
        }
    }
    Ok(())
}
