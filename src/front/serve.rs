//! `mcphub serve`: wires config, state, backends and the HTTP listener together and
//! runs until the injected shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::api::events;
use crate::config::{ConfigFiles, Placeholders};
use crate::front::http::Security;
use crate::hub::lifecycle::{Hub, HubOptions};
use crate::state::StateDir;

/// How long in-flight calls may take to finish once shutdown is requested.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub struct ServeOptions {
    pub config_files: ConfigFiles,
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    pub security: Security,
    pub allow_insecure_bind: bool,
    pub watch: bool,
    /// Serve one MCP session on stdin/stdout instead of HTTP.
    pub stdio: bool,
    pub startup_timeout: Duration,
    /// mcp-hub's `--auto-shutdown`: stop once the last `/api/events` client has been
    /// gone this long (its `--shutdown-delay`).
    pub auto_shutdown: Option<Duration>,
    pub marketplace_url: String,
    pub connection_limits: crate::front::http::ConnectionLimits,
}

/// Runs the hub until `shutdown` resolves, then stops clients, children and the
/// workspace entry. Errors are for start-up problems (bad config, port taken).
pub async fn serve(
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = opts.config_files.load()?;
    let placeholders = Placeholders::from_process().map_err(anyhow::Error::msg)?;
    crate::front::http::check_bind(
        &opts.listen,
        opts.security.token.as_deref(),
        opts.allow_insecure_bind,
    )
    .map_err(anyhow::Error::msg)?;
    let state = StateDir::new(opts.state_dir.clone());
    if let Err(e) = state.ensure() {
        tracing::warn!(error = %e, "state directory {} is not writable: {e}; serving without a workspace entry or log file (point --state-dir or MCPHUB_STATE_DIR at a writable directory)", state.root().display());
    }
    let hub = Hub::new(
        config,
        HubOptions {
            config_files: opts.config_files.clone(),
            state_dir: state,
            startup_timeout: opts.startup_timeout,
            marketplace_url: opts.marketplace_url.clone(),
        },
        placeholders,
    );
    tracing::info!(event = events::HUB_STARTED, pid = std::process::id(), version = env!("CARGO_PKG_VERSION"), config_files = ?opts.config_files.present(), "mcphub {} starting", env!("CARGO_PKG_VERSION"));
    let shutdown = {
        let hub = hub.clone();
        let auto = opts.auto_shutdown;
        async move {
            tokio::select! {
                _ = shutdown => {}
                _ = hub.until_shutdown_requested() => tracing::info!("shutting down for a hard restart (POST /api/hard-restart): whoever started the hub starts it again"),
                _ = async {
                    match auto {
                        Some(delay) => hub.until_abandoned(delay).await,
                        None => std::future::pending().await,
                    }
                } => tracing::info!("the last events client left {:?} ago: shutting down (--auto-shutdown)", auto.unwrap_or_default()),
            }
        }
    };

    if opts.stdio {
        hub.start();
        tokio::spawn(crate::hub::watch::dev_servers(hub.clone()));
        let r = tokio::select! {
            r = crate::front::mcp::serve_stdio(hub.clone()) => r,
            _ = shutdown => Ok(()),
        };
        hub.stop().await;
        return r;
    }

    let listener = crate::front::http::listen(opts.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another hub running there? Use --port to pick another",
                opts.listen
            )
        })?;
    let local = listener.local_addr()?;
    hub.set_port(local.port());
    let mut security = opts.security.clone();
    if !local.ip().is_loopback() && !local.ip().is_unspecified() {
        security.allowed_hosts.push(local.ip().to_string());
    }
    hub.write_workspace();
    hub.start();
    // The line tests and scripts wait for: the real address when --port 0 was given.
    tracing::info!(
        event = events::HUB_LISTENING,
        port = local.port(),
        "listening on http://{local}/mcp"
    );
    if opts.watch {
        tokio::spawn(crate::hub::watch::config_files(hub.clone()));
    }
    tokio::spawn(crate::hub::watch::workspaces(hub.clone()));
    tokio::spawn(crate::hub::watch::dev_servers(hub.clone()));

    // `sessions` closes every MCP session; `drained` says in-flight calls are done.
    let sessions = tokio_util::sync::CancellationToken::new();
    let drained = tokio_util::sync::CancellationToken::new();
    let app = crate::front::http::router(hub.clone(), security, sessions.clone());
    let stopping = hub.clone();
    let done = drained.clone();
    let limits = opts.connection_limits.clone();
    let server =
        crate::front::http::serve(listener, app, limits, hub.metrics.clone(), async move {
            shutdown.await;
            tracing::info!(
                event = events::HUB_STOPPING,
                "stopping: finishing in-flight calls"
            );
            // New calls are refused from here on; running ones get up to the grace period.
            stopping.begin_stopping();
            if tokio::time::timeout(SHUTDOWN_GRACE, stopping.calls_drained())
                .await
                .is_err()
            {
                tracing::warn!(
                    "in-flight calls did not finish within {SHUTDOWN_GRACE:?}; failing them"
                );
            }
            done.cancel();
        });
    // Answers of the last calls travel on their own request's stream, which ends once
    // written. Sessions' long-lived streams never end by themselves: close them after a
    // moment for those answers to flush, then give connections a last moment.
    let close = async {
        drained.cancelled().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        sessions.cancel();
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    tokio::select! {
        _ = server => {}
        _ = close => tracing::warn!("connections still open after sessions closed; cutting them"),
    }
    hub.stop().await;
    tracing::info!(event = events::HUB_STOPPED, "mcphub stopped");
    Ok(())
}
