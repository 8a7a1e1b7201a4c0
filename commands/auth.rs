//! `mcphub auth`.

use std::process::ExitCode;

use mcphub::toolkit::auth::{SignedIn, list, logout, open_browser, sign_in};
use mcphub::toolkit::probe::Probe;

use crate::toolkit::{HubArgs, block_on};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["server", "list", "logout"])))]
pub struct Args {
    #[command(flatten)]
    hub: HubArgs,
    /// The remote server to sign in (OAuth): prints the address to open, opens a
    /// browser where there is one, and waits for the hub to connect the server.
    server: Option<String>,
    /// List the hub's remote servers: status, whether tokens are kept, the address of
    /// a pending sign-in.
    #[arg(long)]
    list: bool,
    /// Forget a server's tokens (it asks for a new sign-in).
    #[arg(long, value_name = "SERVER")]
    logout: Option<String>,
    /// Do not open a browser; only print the address.
    #[arg(long)]
    no_browser: bool,
    /// How long to wait for the sign-in, e.g. 5m.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = mcphub::toolkit::anomalies::parse_duration)]
    wait: std::time::Duration,
}

pub fn run(args: Args) -> ExitCode {
    let state = args.hub.state();
    let probe = Probe::new(args.hub.target(), args.hub.token.clone());
    let result = block_on(async {
        if let Some(name) = &args.logout {
            let hub = probe.health().await.is_ok().then_some(&probe);
            let had = logout(hub, &state, name).await?;
            println!(
                "{}",
                if had {
                    format!("forgot the tokens of `{name}`")
                } else {
                    format!("no tokens were kept for `{name}`")
                }
            );
            return Ok(());
        }
        if args.list {
            let servers = list(&probe, &state).await?;
            if servers.is_empty() {
                println!("no remote servers in the hub at {}", probe.target.url);
            }
            for s in servers {
                println!(
                    "{}\t{}\t{}\t{}{}",
                    s.name,
                    s.transport,
                    s.status,
                    if s.signed_in {
                        "signed in"
                    } else {
                        "no tokens"
                    },
                    s.authorization_url
                        .map(|u| format!("\tsign in at {u}"))
                        .unwrap_or_default()
                );
            }
            return Ok(());
        }
        let name = args.server.as_deref().unwrap_or_default();
        let done = sign_in(&probe, name, args.wait, |url| {
            println!("Open this address to sign `{name}` in:\n{url}");
            if !args.no_browser && open_browser(url) {
                println!("(opened in your browser)");
            }
            println!("Waiting for the sign-in…");
        })
        .await?;
        match done {
            SignedIn::Already => println!("`{name}` is connected already: nothing to sign in"),
            SignedIn::Now { tools } => {
                println!("Signed in: `{name}` is connected ({tools} tools)")
            }
        }
        Ok::<(), mcphub::toolkit::auth::AuthError>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcphub auth: {e}");
            ExitCode::FAILURE
        }
    }
}
