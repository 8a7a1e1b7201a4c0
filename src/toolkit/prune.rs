//! Retention: monitoring history lines and rotated logs older than the retention
//! period are removed; crontab backups beyond the newest few are dropped.

use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::state::{StateDir, write_atomic};

pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86400);
pub const KEEP_BACKUPS: usize = 10;

#[derive(Debug, Default, Serialize)]
pub struct Pruned {
    pub history_lines_removed: u64,
    pub history_lines_kept: u64,
    pub unreadable_lines_removed: u64,
    pub files_removed: Vec<String>,
}

pub fn prune(state: &StateDir, retention: Duration, now: DateTime<Utc>) -> std::io::Result<Pruned> {
    let cutoff = now - chrono::Duration::from_std(retention).unwrap_or_default();
    let mut out = Pruned::default();
    let monitoring = state.monitoring_dir();
    if let Ok(entries) = std::fs::read_dir(&monitoring) {
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "jsonl") {
                prune_history(&path, cutoff, &mut out)?;
            }
        }
    }
    let old = SystemTime::now() - retention;
    if let Ok(entries) = std::fs::read_dir(state.logs_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Only rotated files (`mcp-hub.log.N`, `cron.log.N`): the live log stays.
            let rotated = name
                .rsplit_once('.')
                .is_some_and(|(_, n)| n.parse::<u32>().is_ok());
            let modified = e.metadata().and_then(|m| m.modified()).ok();
            if rotated && modified.is_some_and(|m| m < old) {
                std::fs::remove_file(e.path())?;
                out.files_removed.push(e.path().display().to_string());
            }
        }
    }
    let backups = state.backups_dir();
    if let Ok(entries) = std::fs::read_dir(&backups) {
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let excess = names.len().saturating_sub(KEEP_BACKUPS);
        for n in &names[..excess] {
            std::fs::remove_file(backups.join(n))?;
            out.files_removed
                .push(backups.join(n).display().to_string());
        }
    }
    Ok(out)
}

fn prune_history(path: &Path, cutoff: DateTime<Utc>, out: &mut Pruned) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut kept = String::with_capacity(text.len());
    let mut changed = false;
    for line in text.lines() {
        let ts = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| {
                v.get("timestamp")
                    .and_then(crate::toolkit::logscan::parse_timestamp)
            });
        match ts {
            Some(t) if t >= cutoff => {
                kept.push_str(line);
                kept.push('\n');
                out.history_lines_kept += 1;
            }
            Some(_) => {
                out.history_lines_removed += 1;
                changed = true;
            }
            None => {
                out.unreadable_lines_removed += 1;
                changed = true;
            }
        }
    }
    if changed {
        write_atomic(path, kept.as_bytes())?;
    }
    Ok(())
}
