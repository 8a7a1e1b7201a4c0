//! `mcphub serve`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use mcphub::config::ConfigFiles;
use mcphub::front::http::Security;
use mcphub::front::serve::{ServeOptions, serve};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Servers file (mcpServers JSON/JSON5); repeat to merge, later files win per server.
    /// Default: $XDG_CONFIG_HOME/mcphub/servers.json when it exists.
    #[arg(short = 'c', long = "config", value_name = "FILE", num_args = 1..)]
    config: Vec<PathBuf>,
    /// Port to listen on; 0 picks a free one (printed at start).
    #[arg(short, long, default_value_t = 7000, env = "MCPHUB_PORT")]
    port: u16,
    /// Address to listen on. Anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1", env = "MCPHUB_HOST")]
    host: IpAddr,
    /// Bearer token required on /mcp, /api and /metrics.
    #[arg(long, env = "MCPHUB_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Listen on a non-loopback address without a token (a trusted network only).
    #[arg(long)]
    allow_insecure_bind: bool,
    /// Extra Host name the hub answers to (besides localhost, 127.0.0.1, ::1).
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// Extra browser Origin allowed (besides loopback origins), e.g. https://app.example.com.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = mcphub::front::http::DEFAULT_MAX_BODY)]
    max_body: usize,
    /// Requests a second each client address may make (on /mcp and the REST API);
    /// past it they get 429 with Retry-After. 0, the default, is no limit.
    #[arg(long, value_name = "PER_SECOND", default_value_t = 0.0)]
    rate_limit: f64,
    /// With --rate-limit: how many requests a client may make at once before the
    /// rate applies. Default: one second's worth.
    #[arg(long, value_name = "N")]
    rate_burst: Option<f64>,
    /// Most MCP sessions open at once; past it a new one is answered 503.
    #[arg(long, value_name = "N", default_value_t = mcphub::front::http::DEFAULT_MAX_SESSIONS)]
    max_sessions: usize,
    /// How long an MCP session may stay unused before the hub closes it, e.g. 5m.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = mcphub::toolkit::anomalies::parse_duration)]
    session_idle_timeout: std::time::Duration,
    /// Most HTTP connections open at once; past it a new one is answered 503.
    #[arg(long, value_name = "N", default_value_t = mcphub::front::http::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Most HTTP connections open at once from one client address.
    #[arg(long, value_name = "N", default_value_t = mcphub::front::http::DEFAULT_MAX_CONNECTIONS_PER_CLIENT)]
    max_connections_per_client: usize,
    /// How long a connection may take to send a request's headers (also how long a
    /// keep-alive connection may stay idle), e.g. 10s.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = mcphub::toolkit::anomalies::parse_duration)]
    header_timeout: std::time::Duration,
    /// State directory (workspaces.json, logs/). Default: $XDG_STATE_HOME/mcp-hub.
    #[arg(long, env = "MCPHUB_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Reload the config files when they change; only changed servers restart.
    #[arg(short = 'w', long)]
    watch: bool,
    /// Stop once the last client of /api/events has left (mcp-hub's, for editors that
    /// start the hub and leave it to stop), after --shutdown-delay.
    #[arg(long)]
    auto_shutdown: bool,
    /// With --auto-shutdown: how long the hub waits for a client to come back, in
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    shutdown_delay: u64,
    /// Serve one MCP session over stdin/stdout (for clients that spawn their servers).
    #[arg(long)]
    stdio: bool,
    /// How long an MCP request made while the servers are still starting waits for
    /// them before it is answered with those that connected, e.g. 15s, 1m.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = mcphub::toolkit::anomalies::parse_duration)]
    startup_timeout: std::time::Duration,
    /// The marketplace registry editors browse (GET /api/marketplace): mcp-hub's, or a
    /// mirror of it.
    #[arg(long, value_name = "URL", env = "MCPHUB_MARKETPLACE_URL", default_value = mcphub::hub::marketplace::DEFAULT_REGISTRY_URL)]
    marketplace_url: String,
}

pub fn run(args: Args) -> ExitCode {
    let state_dir = mcphub::state::resolve_state_dir(args.state_dir);
    let log_file = mcphub::state::StateDir::new(state_dir.clone());
    let log_path = log_file.ensure().ok().map(|_| log_file.log_file());
    if let Err(e) = mcphub::telemetry::log::init(log_path.as_deref()) {
        eprintln!(
            "mcphub: cannot open the log file in {}: {e}",
            state_dir.display()
        );
    }
    let mut security = Security::loopback(args.token);
    security.allowed_hosts.extend(args.allow_hosts);
    security.allowed_origins = args.allow_origins;
    security.max_body = args.max_body;
    security.max_sessions = args.max_sessions.max(1);
    security.session_idle = args.session_idle_timeout;
    if args.rate_limit > 0.0 {
        let burst = args.rate_burst.unwrap_or(args.rate_limit).max(1.0);
        security.rate = Some(std::sync::Arc::new(mcphub::util::rate::Buckets::new(
            args.rate_limit,
            burst,
        )));
        security.rate_per_second = args.rate_limit;
    }
    let opts = ServeOptions {
        config_files: ConfigFiles::from_args(args.config),
        listen: SocketAddr::new(args.host, args.port),
        state_dir,
        security,
        allow_insecure_bind: args.allow_insecure_bind,
        watch: args.watch,
        stdio: args.stdio,
        startup_timeout: args.startup_timeout,
        auto_shutdown: args
            .auto_shutdown
            .then(|| std::time::Duration::from_millis(args.shutdown_delay)),
        marketplace_url: args.marketplace_url,
        connection_limits: mcphub::front::http::ConnectionLimits {
            max_connections: args.max_connections.max(1),
            max_per_client: args.max_connections_per_client.max(1),
            header_timeout: args.header_timeout,
        },
    };
    // One thread: the hub relays between sockets and child pipes, and every hop
    // between worker threads cost more CPU (futex wake-ups, context switches) than
    // the relaying itself; the other cores are left to the MCP servers. Blocking work
    // (`${cmd:}` placeholders) goes to tokio's blocking pool.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcphub: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(opts, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcphub: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
