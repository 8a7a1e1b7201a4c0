//! `mcphub validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use mcphub::toolkit::alerts::Thresholds;
use mcphub::toolkit::report::CheckFormat;
use mcphub::toolkit::validate::{config_files, report, run as validate};

use crate::toolkit::{HubArgs, block_on};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    hub: HubArgs,
    /// Config files to validate. Default: the running hub's, else the default file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    format: CheckFormat,
}

pub fn run(args: Args) -> ExitCode {
    let state = args.hub.state();
    let obs = block_on(mcphub::toolkit::observe::observe(
        args.hub.target(),
        args.hub.token.clone(),
    ));
    let files = config_files(&args.config, &obs, &state);
    let checks = validate(&obs, &files, &state, &Thresholds::default());
    report(&obs, checks).emit(args.format)
}
