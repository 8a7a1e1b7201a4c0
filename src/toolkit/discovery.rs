//! Finding the hub without hardcoding anything: its URL from `--hub`, `MCPHUB_URL`,
//! the live entries of `workspaces.json`, then `http://127.0.0.1:7000`; its PID from
//! the workspace entry (checked alive), else the owner of the listening socket.

use crate::state::{StateDir, WorkspaceEntry, Workspaces, pid_alive};

pub const DEFAULT_URL: &str = "http://127.0.0.1:7000";

/// Where the hub's URL came from, reported so an operator can tell why a check
/// looked where it looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlSource {
    Flag,
    Env,
    Workspace,
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PidSource {
    Workspace,
    Socket,
}

#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:7000`.
    pub url: String,
    pub source: UrlSource,
    pub port: Option<u16>,
    pub workspace: Option<WorkspaceEntry>,
}

impl Target {
    pub fn api(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

/// Resolves the hub to talk to. `env_url` is `MCPHUB_URL` (passed in so that tests
/// and callers decide what the environment is).
pub fn find_hub(flag: Option<&str>, env_url: Option<&str>, state: &StateDir) -> Target {
    let live = Workspaces::new(state).read();
    let (url, source) = if let Some(u) = flag.filter(|u| !u.is_empty()) {
        (normalize(u), UrlSource::Flag)
    } else if let Some(u) = env_url.filter(|u| !u.is_empty()) {
        (normalize(u), UrlSource::Env)
    } else if let Some(e) = newest(&live) {
        (format!("http://127.0.0.1:{}", e.port), UrlSource::Workspace)
    } else {
        (DEFAULT_URL.to_owned(), UrlSource::Default)
    };
    let port = port_of(&url);
    let workspace = port.and_then(|p| live.into_iter().find(|e| e.port == p));
    Target {
        url,
        source,
        port,
        workspace,
    }
}

/// With several hubs running, the most recently started one is the default.
fn newest(live: &[WorkspaceEntry]) -> Option<&WorkspaceEntry> {
    live.iter().max_by(|a, b| a.start_time.cmp(&b.start_time))
}

fn normalize(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix("/mcp").unwrap_or(url);
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

/// The port of an `http://host:port` URL (80/443 when implied).
pub fn port_of(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let host_port = authority.rsplit('@').next()?;
    let port = if let Some(end) = host_port.strip_prefix('[') {
        end.split_once("]:").map(|(_, p)| p)
    } else {
        host_port.rsplit_once(':').map(|(_, p)| p)
    };
    match port {
        Some(p) => p.parse().ok(),
        None if scheme == "https" => Some(443),
        None => Some(80),
    }
}

/// The hub's PID: the workspace entry's if that process is alive, else the process
/// listening on the port, else `None` ("not running").
pub fn find_pid(target: &Target) -> Option<(u32, PidSource)> {
    if let Some(ws) = &target.workspace
        && pid_alive(ws.pid)
    {
        return Some((ws.pid, PidSource::Workspace));
    }
    let port = target.port?;
    socket_owner(port).map(|pid| (pid, PidSource::Socket))
}

/// The process listening on a local TCP `port`, if this user can see it.
pub fn socket_owner(port: u16) -> Option<u32> {
    listeners::get_process_by_port(port, listeners::Protocol::TCP)
        .ok()
        .map(|p| p.pid)
}

/// Is anything accepting connections on `port` on this machine?
pub fn port_listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        std::time::Duration::from_millis(500),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized_and_ports_found() {
        assert_eq!(normalize("127.0.0.1:7001/"), "http://127.0.0.1:7001");
        assert_eq!(normalize("http://h:9/mcp"), "http://h:9");
        assert_eq!(port_of("http://127.0.0.1:7001"), Some(7001));
        assert_eq!(port_of("http://[::1]:7002/x"), Some(7002));
        assert_eq!(port_of("https://example.com"), Some(443));
    }

    #[test]
    fn precedence_is_flag_env_workspace_default() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path().to_owned());
        assert_eq!(find_hub(None, None, &sd).source, UrlSource::Default);
        let me = WorkspaceEntry {
            pid: std::process::id(),
            port: 7333,
            cwd: "/".into(),
            config_files: vec![],
            start_time: "2026-01-01T00:00:00Z".into(),
            state: "ready".into(),
            extra: Default::default(),
        };
        Workspaces::new(&sd).upsert(&me).unwrap();
        let t = find_hub(None, None, &sd);
        assert_eq!(
            (t.source, t.url.as_str()),
            (UrlSource::Workspace, "http://127.0.0.1:7333")
        );
        assert_eq!(
            find_pid(&t),
            Some((std::process::id(), PidSource::Workspace))
        );
        assert_eq!(
            find_hub(None, Some("http://x:1"), &sd).source,
            UrlSource::Env
        );
        assert_eq!(
            find_hub(Some("http://y:2"), Some("http://x:1"), &sd).url,
            "http://y:2"
        );
    }
}
