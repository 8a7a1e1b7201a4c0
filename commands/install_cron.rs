//! `mcphub install-cron`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use mcphub::state::write_atomic;
use mcphub::toolkit::cron::{
    DEFAULT_JOBS, crontab_program, merge, next_run, read_crontab, render_block, write_crontab,
};

use crate::toolkit::HubArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    hub: HubArgs,
    /// Show what would change (a diff of the crontab) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Remove the mcphub block instead of installing it.
    #[arg(long)]
    uninstall: bool,
}

pub fn run(args: Args) -> ExitCode {
    match install(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcphub install-cron: {e}");
            ExitCode::FAILURE
        }
    }
}

fn install(args: &Args) -> Result<(), String> {
    let program = crontab_program();
    let state = args.hub.state();
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| format!("cannot find this program's own path: {e}"))?;
    let state_dir = args
        .hub
        .state_dir
        .clone()
        .or_else(|| std::env::var_os("MCPHUB_STATE_DIR").map(Into::into));
    let block = render_block(
        &binary,
        &state.logs_dir().join("cron.log"),
        state_dir.as_deref(),
        DEFAULT_JOBS,
    )?;
    let current = read_crontab(&program)?;
    let wanted = merge(&current, (!args.uninstall).then_some(block.as_str()))?;
    if !args.uninstall {
        let now = chrono::Local::now();
        println!("The mcphub schedule:");
        for job in DEFAULT_JOBS {
            let next = next_run(job.schedule, now)?;
            println!(
                "  {:<16} {:<40} next {}",
                job.schedule,
                job.args.join(" "),
                next.format("%a %Y-%m-%d %H:%M")
            );
        }
    }
    if wanted == current {
        println!(
            "{}",
            if args.uninstall {
                "No mcphub block installed: nothing to remove."
            } else {
                "Already installed: the crontab is unchanged."
            }
        );
        return Ok(());
    }
    let diff = similar::TextDiff::from_lines(&current, &wanted);
    println!(
        "\nChanges to the crontab:\n{}",
        diff.unified_diff()
            .context_radius(1)
            .header("crontab (now)", "crontab (new)")
    );
    if args.dry_run {
        println!("Dry run: nothing changed.");
        return Ok(());
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(
                "not a terminal, so no one can confirm: pass --yes to apply, or --dry-run to look"
                    .into(),
            );
        }
        print!("Apply? [y/N] ");
        std::io::stdout().flush().ok();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("Nothing changed.");
            return Ok(());
        }
    }
    let backups = state.backups_dir();
    std::fs::create_dir_all(&backups).map_err(|e| format!("{}: {e}", backups.display()))?;
    let backup = backups.join(format!(
        "crontab-{}.bak",
        chrono::Local::now().format("%Y%m%d-%H%M%S%.3f")
    ));
    write_atomic(&backup, current.as_bytes()).map_err(|e| format!("{}: {e}", backup.display()))?;
    println!("Old crontab backed up to {}", backup.display());
    write_crontab(&program, &wanted)?;
    println!(
        "{}",
        if args.uninstall {
            "mcphub block removed."
        } else {
            "mcphub block installed."
        }
    );
    Ok(())
}
