//! The `mcphub` binary: parses the command line and hands each subcommand to its
//! thin module, which calls the library and renders the result.

use clap::{Parser, Subcommand};

mod serve;

/// One MCP endpoint for all your MCP servers, and the toolkit that watches it.
#[derive(Parser, Debug)]
#[command(name = "mcphub", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the hub: connect every configured MCP server and serve them at /mcp.
    Serve(serve::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
    }
}
