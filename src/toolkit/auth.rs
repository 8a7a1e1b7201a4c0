//! `mcphub auth`: signing a running hub's remote servers in (OAuth) from a terminal,
//! listing them, and forgetting their tokens. The hub runs the flow; this asks it for
//! the address, shows it (and opens a browser where there is one), and waits for the
//! hub to say the server connected.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::api::ServerStatus;
use crate::state::StateDir;
use crate::toolkit::probe::{Probe, ServerHealth};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Hub(String),
    #[error("no server `{name}` in the hub (it has: {known})")]
    UnknownServer { name: String, known: String },
    #[error("server `{name}` is {status} and has no sign-in to offer{why}")]
    NothingToSignIn {
        name: String,
        status: String,
        why: String,
    },
    #[error(
        "`{name}` was not signed in within {}s; the address stays good: open it, or POST the address the browser landed on to /api/oauth/manual_callback",
        .waited.as_secs()
    )]
    TimedOut { name: String, waited: Duration },
    #[error("cannot remove {path}: {reason}")]
    Logout { path: String, reason: String },
}

async fn servers(probe: &Probe) -> Result<Vec<ServerHealth>, AuthError> {
    probe
        .health()
        .await
        .map(|(h, _)| h.servers)
        .map_err(|e| AuthError::Hub(e.to_string()))
}

async fn server(probe: &Probe, name: &str) -> Result<ServerHealth, AuthError> {
    let all = servers(probe).await?;
    let known = all
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    all.into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| AuthError::UnknownServer {
            name: name.into(),
            known,
        })
}

/// How a sign-in went, for the command to print.
pub enum SignedIn {
    /// Connected already: nothing was asked of the user.
    Already,
    /// Connected after the user signed in, with this many tools.
    Now { tools: usize },
}

/// Signs `name` in: `show` is given the address to open (and each new one the server
/// asks for on the way, as when it wants more scope); returns when the hub has
/// connected the server, or fails after `wait`.
pub async fn sign_in(
    probe: &Probe,
    name: &str,
    wait: Duration,
    mut show: impl FnMut(&str),
) -> Result<SignedIn, AuthError> {
    let s = server(probe, name).await?;
    if s.status() == Some(ServerStatus::Connected) && s.authorization_url.is_none() {
        return Ok(SignedIn::Already);
    }
    let url = match s.authorization_url.clone() {
        Some(u) => u,
        None => {
            let (status, answer) = probe
                .post("/api/servers/authorize", &json!({"server_name": name}))
                .await
                .map_err(|e| AuthError::Hub(e.to_string()))?;
            match answer["authorizationUrl"].as_str() {
                Some(u) if status == 200 => u.to_owned(),
                _ => {
                    return Err(AuthError::NothingToSignIn {
                        name: name.into(),
                        status: s.status.clone(),
                        why: s.error.map(|e| format!(": {e}")).unwrap_or_default(),
                    });
                }
            }
        }
    };
    show(&url);
    let mut shown = url;
    let started = Instant::now();
    loop {
        let s = server(probe, name).await?;
        if s.status() == Some(ServerStatus::Connected) && s.authorization_url.is_none() {
            return Ok(SignedIn::Now {
                tools: s.tool_count(),
            });
        }
        // Signed in, and the server wants more (a step-up to the scope it names, or a
        // sign-in that failed and was prepared again): the new address is the one to
        // open.
        if let Some(next) = s.authorization_url
            && next != shown
        {
            show(&next);
            shown = next;
        }
        if started.elapsed() >= wait {
            return Err(AuthError::TimedOut {
                name: name.into(),
                waited: wait,
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// One remote server as `--list` shows it.
pub struct Listed {
    pub name: String,
    pub transport: String,
    pub status: String,
    /// Tokens are kept for it.
    pub signed_in: bool,
    pub authorization_url: Option<String>,
}

/// The hub's remote servers, with whether tokens are kept for each.
pub async fn list(probe: &Probe, state: &StateDir) -> Result<Vec<Listed>, AuthError> {
    Ok(servers(probe)
        .await?
        .into_iter()
        .filter(|s| s.transport_type.as_deref().is_some_and(|t| t != "stdio"))
        .map(|s| Listed {
            signed_in: state.oauth_token_file(&s.name).exists(),
            transport: s.transport_type.unwrap_or_default(),
            name: s.name,
            status: s.status,
            authorization_url: s.authorization_url,
        })
        .collect())
}

/// Forgets `name`'s tokens. With a hub running (`probe`) and the server connected,
/// it is stopped and started again so that its connection drops them too (it then
/// asks for a new sign-in). Returns whether tokens were kept.
pub async fn logout(
    probe: Option<&Probe>,
    state: &StateDir,
    name: &str,
) -> Result<bool, AuthError> {
    let path = state.oauth_token_file(name);
    let had = path.exists();
    if let Err(e) = std::fs::remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(AuthError::Logout {
            path: path.display().to_string(),
            reason: e.to_string(),
        });
    }
    if let Some(probe) = probe
        && server(probe, name)
            .await
            .is_ok_and(|s| s.status() == Some(ServerStatus::Connected))
    {
        for route in ["/api/servers/stop", "/api/servers/start"] {
            probe
                .post(route, &json!({"server_name": name}))
                .await
                .map_err(|e| AuthError::Hub(e.to_string()))?;
        }
    }
    Ok(had)
}

/// Opens `url` in the user's browser where there is one (`$BROWSER`, else the desktop's
/// opener when a display is set); false when none could be started.
pub fn open_browser(url: &str) -> bool {
    let opener = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.is_empty())
        .or_else(|| {
            let desktop = std::env::var_os("DISPLAY").is_some()
                || std::env::var_os("WAYLAND_DISPLAY").is_some();
            if cfg!(target_os = "macos") {
                Some("open".into())
            } else if desktop {
                Some("xdg-open".into())
            } else {
                None
            }
        });
    let Some(opener) = opener else { return false };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolkit::discovery::{Target, UrlSource};
    use std::sync::{Arc, Mutex};

    /// The hub's word on one server, after the user has opened `opened` addresses:
    /// a first sign-in, then a second for more scope, then connected.
    fn said_after(opened: usize) -> serde_json::Value {
        let server = match opened {
            0 => json!({"name": "s", "status": "unauthorized", "authorizationUrl": "http://as/1"}),
            1 => json!({"name": "s", "status": "unauthorized", "authorizationUrl": "http://as/2"}),
            _ => {
                json!({"name": "s", "status": "connected", "capabilities": {"tools": [{"name": "t"}]}})
            }
        };
        json!({"status": "ok", "servers": [server]})
    }

    #[tokio::test]
    async fn an_address_the_server_asks_for_on_the_way_is_shown_too() {
        let opened = Arc::new(Mutex::new(0));
        let seen = opened.clone();
        let app = axum::Router::new().route(
            "/api/health",
            axum::routing::get(move || {
                let said = said_after(*seen.lock().unwrap());
                async move { axum::Json(said) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let probe = Probe::new(
            Target {
                url,
                source: UrlSource::Flag,
                port: None,
                workspace: None,
            },
            None,
        );
        let mut shown = vec![];
        let done = sign_in(&probe, "s", Duration::from_secs(30), |url| {
            shown.push(url.to_owned());
            // The user opens it, and the hub moves on.
            *opened.lock().unwrap() += 1;
        })
        .await
        .unwrap();
        assert_eq!(shown, ["http://as/1", "http://as/2"]);
        assert!(matches!(done, SignedIn::Now { tools: 1 }));
    }
}
