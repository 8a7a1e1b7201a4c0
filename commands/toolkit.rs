//! Arguments every toolkit command shares, and how they become a discovered hub.

use std::path::PathBuf;

use mcphub::state::{StateDir, resolve_state_dir};
use mcphub::toolkit::discovery::{Target, find_hub};

#[derive(clap::Args, Debug, Clone)]
pub struct HubArgs {
    /// Hub to check. Default: MCPHUB_URL, else the live hubs in workspaces.json, else
    /// http://127.0.0.1:7000.
    #[arg(long, value_name = "URL")]
    pub hub: Option<String>,
    /// Bearer token of the hub.
    #[arg(long, env = "MCPHUB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// State directory. Default: $XDG_STATE_HOME/mcp-hub.
    #[arg(long, env = "MCPHUB_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

impl HubArgs {
    pub fn state(&self) -> StateDir {
        StateDir::new(resolve_state_dir(self.state_dir.clone()))
    }

    pub fn target(&self) -> Target {
        let env = std::env::var("MCPHUB_URL").ok();
        find_hub(self.hub.as_deref(), env.as_deref(), &self.state())
    }
}

/// A current-thread runtime: the toolkit makes a handful of requests and exits.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a tokio runtime")
        .block_on(f)
}
