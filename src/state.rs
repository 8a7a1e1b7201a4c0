//! The state directory (`$XDG_STATE_HOME/mcp-hub`, mcp-hub's own location, so the
//! toolkit reads either hub) and its files. Every write is atomic: temp file + rename.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `--state-dir`, else `MCPHUB_STATE_DIR`, else `$XDG_STATE_HOME/mcp-hub`, else
/// `~/.local/state/mcp-hub`.
pub fn resolve_state_dir(flag: Option<PathBuf>) -> PathBuf {
    if let Some(p) = flag {
        return p;
    }
    if let Some(p) = std::env::var_os("MCPHUB_STATE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("mcp-hub")
}

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: PathBuf) -> StateDir {
        StateDir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn log_file(&self) -> PathBuf {
        self.logs_dir().join("mcp-hub.log")
    }

    pub fn workspaces_file(&self) -> PathBuf {
        self.root.join("workspaces.json")
    }

    /// The LLM's category answers, kept across restarts.
    pub fn llm_cache_file(&self) -> PathBuf {
        self.root.join("tool-categories-llm.json")
    }

    /// Remote servers' OAuth tokens, one 0600 file per server.
    pub fn oauth_dir(&self) -> PathBuf {
        self.root.join("oauth")
    }

    /// `server`'s OAuth tokens (its name percent-encoded, so any name is one file).
    pub fn oauth_token_file(&self, server: &str) -> PathBuf {
        let name = crate::util::percent_encode(server);
        self.oauth_dir().join(format!("{name}.json"))
    }

    /// The marketplace registry and READMEs, in mcp-hub's cache format.
    pub fn marketplace_cache_file(&self) -> PathBuf {
        self.root.join("cache").join("marketplace.json")
    }

    /// The toolkit's JSON-lines history (`<kind>.jsonl`).
    pub fn monitoring_dir(&self) -> PathBuf {
        self.root.join("monitoring")
    }

    /// `measure`'s baselines (`baseline-<time>.md` and `.json`).
    pub fn baselines_dir(&self) -> PathBuf {
        self.root.join("baselines")
    }

    /// `summary`'s daily reports.
    pub fn reports_dir(&self) -> PathBuf {
        self.root.join("reports")
    }

    /// Crontabs as they were before `install-cron` changed them.
    pub fn backups_dir(&self) -> PathBuf {
        self.root.join("backups")
    }

    /// Creates the directories the hub writes to, owner-only.
    pub fn ensure(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        for dir in [self.root.clone(), self.logs_dir()] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)?;
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically with mode 0600: readers see the old file or
/// the new one, never a torn one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    // Unique per write, not only per process: two writes of one file from two tasks
    // (token refreshes) must not share a temporary file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// One running hub in `workspaces.json`, in mcp-hub's shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceEntry {
    pub pid: u32,
    pub port: u16,
    pub cwd: String,
    #[serde(rename = "config_files", alias = "configFiles", default)]
    pub config_files: Vec<String>,
    pub start_time: String,
    pub state: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `workspaces.json`: running hubs keyed by port. Read-modify-write happens under an
/// advisory lock so that two hubs starting together cannot drop each other's entry.
pub struct Workspaces {
    path: PathBuf,
}

impl Workspaces {
    pub fn new(state: &StateDir) -> Workspaces {
        Workspaces {
            path: state.workspaces_file(),
        }
    }

    /// Live entries only; a torn or foreign file reads as empty rather than failing.
    pub fn read(&self) -> Vec<WorkspaceEntry> {
        let map = read_map(&self.path);
        let mut out: Vec<WorkspaceEntry> = map
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_value(v).ok())
            .filter(|e: &WorkspaceEntry| pid_alive(e.pid))
            .collect();
        out.sort_by_key(|e| e.port);
        out
    }

    /// Inserts or replaces the entry for `entry.port`, pruning dead PIDs.
    pub fn upsert(&self, entry: &WorkspaceEntry) -> std::io::Result<()> {
        self.update(|map| {
            map.insert(
                entry.port.to_string(),
                serde_json::to_value(entry).unwrap_or(Value::Null),
            );
        })
    }

    /// Removes this process's entry for `port`, pruning dead PIDs.
    pub fn remove(&self, port: u16, pid: u32) -> std::io::Result<()> {
        self.update(|map| {
            let key = port.to_string();
            let ours = map
                .get(&key)
                .and_then(|v| v.get("pid"))
                .and_then(Value::as_u64)
                == Some(pid as u64);
            if ours {
                map.remove(&key);
            }
        })
    }

    fn update(&self, f: impl FnOnce(&mut Map<String, Value>)) -> std::io::Result<()> {
        let lock_path = self.path.with_extension("json.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)?;
        let _guard = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| std::io::Error::from(e))?;
        let mut map = read_map(&self.path);
        map.retain(|_, v| {
            v.get("pid")
                .and_then(Value::as_u64)
                .is_some_and(|p| pid_alive(p as u32))
        });
        f(&mut map);
        let text = serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default();
        write_atomic(&self.path, text.as_bytes())
    }
}

fn read_map(path: &Path) -> Map<String, Value> {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

/// A process exists (signal 0 succeeds or is refused for permission).
pub fn pid_alive(pid: u32) -> bool {
    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    match kill(Pid::from_raw(pid as i32), None) {
        Ok(()) => !is_zombie(pid),
        Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_prunes_dead_pids_and_remove_only_removes_ours() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path().to_owned());
        sd.ensure().unwrap();
        let ws = Workspaces::new(&sd);
        // A dead entry left by a crashed hub.
        fs::write(
            sd.workspaces_file(),
            r#"{"7001":{"pid":999999999,"port":7001,"cwd":"/","startTime":"x","state":"ready"}}"#,
        )
        .unwrap();
        let me = WorkspaceEntry {
            pid: std::process::id(),
            port: 7002,
            cwd: "/".into(),
            config_files: vec![],
            start_time: "now".into(),
            state: "ready".into(),
            extra: Map::new(),
        };
        ws.upsert(&me).unwrap();
        let raw = fs::read_to_string(sd.workspaces_file()).unwrap();
        assert!(!raw.contains("7001"), "{raw}");
        assert_eq!(ws.read(), vec![me.clone()]);
        ws.remove(7002, 1).unwrap();
        assert_eq!(
            ws.read().len(),
            1,
            "another pid's removal must not touch our entry"
        );
        ws.remove(7002, std::process::id()).unwrap();
        assert!(ws.read().is_empty());
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(sd.workspaces_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn torn_file_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path().to_owned());
        fs::write(sd.workspaces_file(), "{\"7000\": {\"pid\": 1").unwrap();
        assert!(Workspaces::new(&sd).read().is_empty());
    }
}
