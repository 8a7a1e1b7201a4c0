//! `validate`: the weekly pass/warn/fail check of a deployment.

use crate::api::{HubState, ServerStatus};
use serde::Serialize;

use crate::config::HubConfig;
use crate::state::{StateDir, Workspaces};
use crate::toolkit::alerts::Thresholds;
use crate::toolkit::observe::Observation;
use crate::toolkit::report::{CheckReport, CheckStatus, Perf, TableForm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub verdict: Verdict,
    pub detail: String,
}

fn check(name: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        check: name.into(),
        verdict,
        detail: detail.into(),
    }
}

/// Config files to validate: those given, else the running hub's, else the default.
pub fn config_files(
    given: &[std::path::PathBuf],
    o: &Observation,
    state: &StateDir,
) -> Vec<std::path::PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let from_workspace = Workspaces::new(state)
        .read()
        .into_iter()
        .find(|e| Some(e.pid) == o.pid)
        .map(|e| {
            e.config_files
                .into_iter()
                .map(Into::into)
                .collect::<Vec<_>>()
        });
    from_workspace.unwrap_or_else(|| {
        crate::config::default_config_path()
            .filter(|p| p.exists())
            .into_iter()
            .collect()
    })
}

pub fn run(
    o: &Observation,
    files: &[std::path::PathBuf],
    state: &StateDir,
    t: &Thresholds,
) -> Vec<Check> {
    let mut out = Vec::new();
    let config = HubConfig::load(files);
    match &config {
        Ok(c) if files.is_empty() => out.push(check(
            "config valid",
            Verdict::Warn,
            format!(
                "no config file (the hub runs empty); {} servers",
                c.servers.len()
            ),
        )),
        Ok(c) => out.push(check(
            "config valid",
            Verdict::Pass,
            format!(
                "{} servers in {}",
                c.servers.len(),
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Err(e) => out.push(check("config valid", Verdict::Fail, e.to_string())),
    }
    match (o.pid, o.pid_source) {
        (Some(pid), Some(src)) => out.push(check(
            "process found",
            Verdict::Pass,
            format!(
                "PID {pid} (from {})",
                match src {
                    crate::toolkit::discovery::PidSource::Workspace => "workspaces.json",
                    crate::toolkit::discovery::PidSource::Socket => "the listening socket",
                }
            ),
        )),
        _ => out.push(check(
            "process found",
            Verdict::Fail,
            format!(
                "no hub process for {}: start it with `mcphub serve`",
                o.target_url
            ),
        )),
    }
    out.push(match (o.port, o.port_listening) {
        (Some(p), true) => check("port listening", Verdict::Pass, format!("port {p}")),
        (p, false) => check(
            "port listening",
            Verdict::Fail,
            format!(
                "nothing listens on port {}",
                p.map_or("?".into(), |p| p.to_string())
            ),
        ),
        (None, true) => check("port listening", Verdict::Warn, "port unknown"),
    });
    match (&o.health, o.health_latency_ms) {
        (Some(h), Some(ms)) => {
            let verdict = if h.state() != Some(HubState::Ready) {
                Verdict::Fail
            } else if ms > t.health_latency_ms {
                Verdict::Warn
            } else {
                Verdict::Pass
            };
            out.push(check(
                "health ready",
                verdict,
                format!(
                    "state {} in {ms:.1} ms (target < {:.0} ms)",
                    h.state, t.health_latency_ms
                ),
            ));
        }
        _ => out.push(check(
            "health ready",
            Verdict::Fail,
            o.health_error.clone().unwrap_or_else(|| "no answer".into()),
        )),
    }
    if let Some(h) = &o.health {
        let configured: Vec<String> = config
            .as_ref()
            .map(|c| {
                c.servers
                    .iter()
                    .filter(|(_, e)| !e.disabled())
                    .map(|(n, _)| n.clone())
                    .collect()
            })
            .unwrap_or_default();
        for name in &configured {
            if !h.servers.iter().any(|s| &s.name == name) {
                out.push(check(format!("server {name}"), Verdict::Fail, "configured but unknown to the running hub: POST /api/restart to load the config"));
            }
        }
        for s in h
            .servers
            .iter()
            .filter(|s| s.status() != Some(ServerStatus::Disabled))
        {
            let caps = s.capability_count();
            let (verdict, detail) = if s.status() == Some(ServerStatus::Unauthorized) {
                // Not broken: waiting for its user to sign in.
                (
                    Verdict::Warn,
                    format!(
                        "needs authorization: run `mcphub auth {}` (or open its authorizationUrl)",
                        s.name
                    ),
                )
            } else if s.status() != Some(ServerStatus::Connected) {
                (
                    Verdict::Fail,
                    format!(
                        "{}{}",
                        s.status,
                        s.error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ),
                )
            } else if caps == 0 {
                (
                    Verdict::Warn,
                    "connected but offers no tools, resources or prompts".to_owned(),
                )
            } else {
                (
                    Verdict::Pass,
                    format!("connected, {} tools, {caps} capabilities", s.tool_count()),
                )
            };
            out.push(check(format!("server {}", s.name), verdict, detail));
        }
    }
    out.push(state_files(state));
    out
}

fn state_files(state: &StateDir) -> Check {
    let ws = state.workspaces_file();
    if !state.root().exists() {
        return check(
            "state files",
            Verdict::Warn,
            format!("{} does not exist yet", state.root().display()),
        );
    }
    match std::fs::read_to_string(&ws) {
        Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(_) => check(
                "state files",
                Verdict::Pass,
                format!("{} readable", state.root().display()),
            ),
            Err(e) => check(
                "state files",
                Verdict::Fail,
                format!("{}: not valid JSON: {e}", ws.display()),
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => check(
            "state files",
            Verdict::Warn,
            format!(
                "{} absent: no hub has run with this state dir",
                ws.display()
            ),
        ),
        Err(e) => check(
            "state files",
            Verdict::Fail,
            format!("{}: {e}", ws.display()),
        ),
    }
}

pub fn status(checks: &[Check]) -> CheckStatus {
    match checks.iter().map(|c| c.verdict).max() {
        Some(Verdict::Fail) => CheckStatus::Critical,
        Some(Verdict::Warn) => CheckStatus::Warning,
        _ => CheckStatus::Ok,
    }
}

/// `validate`'s result in the forms it prints.
pub fn report(o: &Observation, checks: Vec<Check>) -> CheckReport<serde_json::Value> {
    let st = status(&checks);
    let bad: Vec<String> = checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .map(|c| format!("{}: {}", c.check, c.detail))
        .collect();
    let passed = checks.len() - bad.len();
    let summary = if bad.is_empty() {
        format!("{passed} checks passed")
    } else {
        bad.join("; ")
    };
    let rows = checks
        .iter()
        .map(|c| {
            vec![
                c.verdict.as_str().to_owned(),
                c.check.clone(),
                c.detail.clone(),
            ]
        })
        .collect();
    CheckReport {
        status: st,
        perfdata: vec![
            Perf::new("checks_passed", Some(passed as f64), "").range(0.0, checks.len() as f64),
        ],
        json: serde_json::json!({"status": st, "hub": o.target_url, "pid": o.pid, "checks": checks}),
        table: TableForm {
            header: vec!["result", "check", "detail"],
            rows,
            footer: vec![st.word().to_owned()],
        },
        summary,
    }
}
