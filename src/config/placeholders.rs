//! mcp-hub's placeholders: `${VAR}`, `${env:VAR}`, `${cmd: …}`, `${workspaceFolder}`,
//! `${workspaceFolderBasename}`, `${userHome}`, `${cwd}`, `${pathSeparator}` (or `${/}`),
//! and its legacy whole-argument `$VAR`. Written by hand: the syntax is mcp-hub's own,
//! small, and no crate implements it (shell-expansion crates would also expand `$VAR`
//! inside strings and `~`, which mcp-hub leaves alone).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How long a `${cmd: …}` may run before the server that needs it fails.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    /// `MCP_HUB_ENV`, injected into every server's env and visible to lookups.
    hub_env: BTreeMap<String, String>,
    workspace_folder: PathBuf,
    user_home: Option<PathBuf>,
}

impl Placeholders {
    /// Reads `MCP_HUB_ENV` (a JSON object), the working directory and `HOME`.
    pub fn from_process() -> Result<Placeholders, String> {
        let hub_env = match std::env::var("MCP_HUB_ENV") {
            Ok(s) if !s.trim().is_empty() => parse_hub_env(&s)?,
            _ => BTreeMap::new(),
        };
        Ok(Placeholders {
            hub_env,
            workspace_folder: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            user_home: std::env::var_os("HOME").map(PathBuf::from),
        })
    }

    pub fn hub_env(&self) -> &BTreeMap<String, String> {
        &self.hub_env
    }

    pub fn lookup_env(&self, key: &str) -> Option<String> {
        self.hub_env
            .get(key)
            .cloned()
            .or_else(|| std::env::var(key).ok())
    }

    /// Resolves every placeholder in `input`; `local` (the server's resolved env) is
    /// consulted before the process environment.
    pub fn resolve(&self, input: &str, local: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::with_capacity(input.len());
        let mut rest = input;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = find_closing(after).ok_or_else(|| {
                format!(
                    "unterminated placeholder `{}`",
                    &rest[start..].chars().take(40).collect::<String>()
                )
            })?;
            let inner = &after[..end];
            out.push_str(&self.expand(inner, local)?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// mcp-hub's legacy argument `$VAR` (the whole argument): the variable's value, as
    /// `${VAR}` would give it. mcp-hub calls it deprecated, and so does the log.
    pub fn legacy(&self, var: &str, local: &BTreeMap<String, String>) -> Result<String, String> {
        tracing::warn!(
            "legacy argument `${var}`: write `${{{var}}}` instead (mcp-hub deprecated `$VAR`)"
        );
        local
            .get(var)
            .cloned()
            .or_else(|| self.lookup_env(var))
            .ok_or_else(|| {
                format!("${var}: {var} is not set (export it, or add it to MCP_HUB_ENV)")
            })
    }

    fn expand(&self, inner: &str, local: &BTreeMap<String, String>) -> Result<String, String> {
        let inner_trim = inner.trim();
        if let Some(cmd) = inner_trim.strip_prefix("cmd:") {
            return run_command(cmd.trim());
        }
        match inner_trim {
            "workspaceFolder" | "cwd" => return Ok(self.workspace_folder.display().to_string()),
            "workspaceFolderBasename" => {
                return Ok(self
                    .workspace_folder
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default());
            }
            "pathSeparator" | "/" => return Ok(std::path::MAIN_SEPARATOR_STR.to_owned()),
            "userHome" => {
                return self
                    .user_home
                    .as_ref()
                    .map(|h| h.display().to_string())
                    .ok_or_else(|| "${userHome}: HOME is not set".to_owned());
            }
            _ => {}
        }
        let var = inner_trim.strip_prefix("env:").unwrap_or(inner_trim).trim();
        if var.is_empty() {
            return Err("empty placeholder `${}`".into());
        }
        local
            .get(var)
            .cloned()
            .or_else(|| self.lookup_env(var))
            .ok_or_else(|| {
                format!("${{{inner_trim}}}: {var} is not set (export it, or add it to MCP_HUB_ENV)")
            })
    }
}

/// `${cmd: echo {x}}` may contain braces; find the `}` that closes the placeholder.
fn find_closing(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn parse_hub_env(s: &str) -> Result<BTreeMap<String, String>, String> {
    let v: serde_json::Value =
        serde_json::from_str(s).map_err(|e| format!("MCP_HUB_ENV is not a JSON object: {e}"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| "MCP_HUB_ENV must be a JSON object of strings".to_owned())?;
    Ok(obj
        .iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect())
}

/// Runs a `${cmd: …}` through `sh -c` with a timeout, returning trimmed stdout.
/// Blocking on purpose: placeholders resolve on a server's own start task, off the
/// async runtime's worker (see `backends`), and a std child with a deadline is simpler
/// than threading async through resolution.
fn run_command(cmd: &str) -> Result<String, String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("${{cmd: {cmd}}}: cannot run sh: {e}"))?;
    let deadline = std::time::Instant::now() + CMD_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "${{cmd: {cmd}}}: still running after {}s, killed",
                    CMD_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("${{cmd: {cmd}}}: {e}")),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("${{cmd: {cmd}}}: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "${{cmd: {cmd}}}: exited with {}: {}",
            out.status,
            stderr.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ph() -> Placeholders {
        Placeholders {
            hub_env: BTreeMap::from([("HUBVAR".into(), "fromhub".into())]),
            workspace_folder: PathBuf::from("/ws"),
            user_home: Some(PathBuf::from("/home/u")),
        }
    }

    #[test]
    fn expands_all_forms() {
        let local = BTreeMap::from([("TOKEN".into(), "t0k".into())]);
        let p = ph();
        assert_eq!(p.resolve("a${TOKEN}b", &local).unwrap(), "at0kb");
        assert_eq!(p.resolve("${env:HUBVAR}", &local).unwrap(), "fromhub");
        assert_eq!(p.resolve("${workspaceFolder}/x", &local).unwrap(), "/ws/x");
        assert_eq!(p.resolve("${userHome}", &local).unwrap(), "/home/u");
        assert_eq!(p.resolve("${cmd: echo hi}", &local).unwrap(), "hi");
        assert_eq!(p.resolve("$HOME ~ plain", &local).unwrap(), "$HOME ~ plain");
    }

    #[test]
    fn mcp_hubs_predefined_names_and_legacy_arguments() {
        let (p, local) = (ph(), BTreeMap::from([("TOKEN".into(), "t0k".into())]));
        let sep = std::path::MAIN_SEPARATOR_STR;
        assert_eq!(
            p.resolve("${workspaceFolderBasename}", &local).unwrap(),
            "ws"
        );
        assert_eq!(p.resolve("${cwd}", &local).unwrap(), "/ws");
        assert_eq!(
            p.resolve("a${pathSeparator}b${/}c", &local).unwrap(),
            format!("a{sep}b{sep}c")
        );
        assert_eq!(p.legacy("TOKEN", &local).unwrap(), "t0k");
        assert_eq!(p.legacy("HUBVAR", &local).unwrap(), "fromhub");
        assert!(
            p.legacy("NOPE_NOT_SET_ANYWHERE", &local)
                .unwrap_err()
                .contains("not set")
        );
    }

    #[test]
    fn unresolvable_names_the_variable() {
        let err = ph()
            .resolve("${NOPE_NOT_SET_ANYWHERE}", &BTreeMap::new())
            .unwrap_err();
        assert!(err.contains("NOPE_NOT_SET_ANYWHERE is not set"), "{err}");
        assert!(ph().resolve("${oops", &BTreeMap::new()).is_err());
        assert!(ph().resolve("${cmd: exit 3}", &BTreeMap::new()).is_err());
    }
}
