//! The `mcphub` binary: parses the command line and hands each subcommand to its
//! thin module, which calls the library and renders the result.

use clap::{Parser, Subcommand};

mod auth;
mod check_alerts;
mod completions;
mod detect_anomalies;
mod install_cron;
mod measure;
mod monitor;
mod prune;
mod serve;
mod summary;
mod toolkit;
mod validate;

/// One MCP endpoint for all your MCP servers, and the toolkit that watches it.
#[derive(Parser, Debug)]
#[command(
    name = "mcphub",
    version = mcphub::api::VERSION_LINE,
    about,
    propagate_version = true,
    after_help = "In place of mcp-hub: `mcphub --port P --config F [--watch] [--auto-shutdown --shutdown-delay MS]` \
                  (mcp-hub's flags, no subcommand), or the binary under the name mcp-hub, runs the hub as `serve` does."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the hub: connect every configured MCP server and serve them at /mcp.
    Serve(serve::Args),
    /// Live dashboard: hub, process, servers, tool calls, LLM, alerts (q to quit).
    Monitor(monitor::Args),
    /// Measure the hub over a window and write a baseline (markdown + JSON).
    Measure(measure::Args),
    /// Evaluate the alert rules now (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
    CheckAlerts(check_alerts::Args),
    /// Look for anomalies in the last window: error spikes, flapping, resources, servers, log growth.
    DetectAnomalies(detect_anomalies::Args),
    /// Write the daily report (availability, restarts, servers, alerts, anomalies, action items).
    Summary(summary::Args),
    /// Check a deployment end to end: config, process, port, health, servers, state files.
    Validate(validate::Args),
    /// Sign a remote server in (OAuth), list remote servers, or forget their tokens.
    Auth(auth::Args),
    /// Install the monitoring schedule as one marked block in your crontab.
    InstallCron(install_cron::Args),
    /// Remove monitoring history and rotated logs past the retention period.
    Prune(prune::Args),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionArgs),
    /// Print the man page (or write all pages with --dir).
    Man(completions::ManArgs),
}

/// mcp-hub's command line, for its users and its clients (mcphub.nvim spawns
/// `mcp-hub --port P --config F … --watch --auto-shutdown --shutdown-delay MS`): the
/// hub's flags with no subcommand, or any flags under a link named `mcp-hub`.
#[derive(Parser, Debug)]
#[command(
    name = "mcp-hub",
    about = "mcphub, invoked as mcp-hub: runs the hub as `mcphub serve` does"
)]
struct McpHubCli {
    #[command(flatten)]
    serve: serve::Args,
}

/// Subcommands that follow the Nagios plugin exit codes, where a usage error is 3.
const CHECK_COMMANDS: &[&str] = &["check-alerts", "detect-anomalies", "validate"];

fn main() -> std::process::ExitCode {
    // As OS strings: a path that is not UTF-8 is clap's to report, not a panic here.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.iter().skip(1).any(|a| a == "--version" || a == "-V") {
        println!("{}", mcphub::api::VERSION_TEXT);
        return std::process::ExitCode::SUCCESS;
    }
    let as_mcp_hub = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == "mcp-hub");
    let hub_flags = args
        .get(1)
        .is_some_and(|a| a.to_string_lossy().starts_with('-') && a != "-h" && a != "--help");
    if as_mcp_hub || hub_flags {
        return match McpHubCli::try_parse() {
            Ok(cli) => serve::run(cli.serve),
            Err(e) => {
                let _ = e.print();
                let help = matches!(e.kind(), clap::error::ErrorKind::DisplayHelp);
                std::process::ExitCode::from(if help { 0 } else { 2 })
            }
        };
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let _ = e.print();
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                return std::process::ExitCode::SUCCESS;
            }
            let check = args
                .iter()
                .skip(1)
                .any(|a| CHECK_COMMANDS.iter().any(|c| a == c));
            return std::process::ExitCode::from(if check { 3 } else { 2 });
        }
    };
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::CheckAlerts(args) => check_alerts::run(args),
        Command::Measure(args) => measure::run(args),
        Command::Monitor(args) => monitor::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Auth(args) => auth::run(args),
        Command::Summary(args) => summary::run(args),
        Command::DetectAnomalies(args) => detect_anomalies::run(args),
        Command::InstallCron(args) => install_cron::run(args),
        Command::Prune(args) => prune::run(args),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
    }
}
