//! What the hub watches on disk: its config files (`--watch`), the workspaces file
//! other hubs write to, and the sources of servers with a `dev` block.
//!
//! Everything here polls files' metadata instead of using inotify: editors save by
//! renaming a new file over the old one, which a watch on the old inode never reports,
//! and the handful of files involved cost nothing to stat twice a second.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::api::HubState;
use crate::api::events;
use crate::hub::backends::Backend;
use crate::hub::lifecycle::Hub;
use crate::util::{FileStamp as Stamp, file_stamp as stamp};

const TICK: Duration = Duration::from_millis(500);

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    files.iter().map(|f| stamp(f)).collect()
}

/// A tick every [`TICK`] until the hub stops.
async fn ticks(hub: &Hub, tick: &mut tokio::time::Interval) -> bool {
    tick.tick().await;
    !matches!(hub.state(), HubState::Stopping | HubState::Stopped)
}

/// `--watch`: reloads when a config file's contents change (the default one even
/// before it exists).
pub async fn config_files(hub: Arc<Hub>) {
    let files = hub.config_files();
    let mut last = stamps(&files);
    let mut tick = tokio::time::interval(TICK);
    while ticks(&hub, &mut tick).await {
        let now = stamps(&files);
        if now != last {
            let changed: Vec<usize> = (0..files.len()).filter(|&i| now[i] != last[i]).collect();
            last = now;
            // The hub's own record of a start or stop is already in effect.
            if changed
                .iter()
                .all(|&i| hub.is_own_write(&files[i], last[i]))
            {
                continue;
            }
            match hub.reload_watched() {
                Ok(s) => {
                    tracing::info!(event = events::CONFIG_RELOADED, added = ?s.added, removed = ?s.removed, restarted = ?s.restarted, "config changed on disk, reloaded")
                }
                Err(e) => {
                    tracing::error!(event = events::CONFIG_ERROR, error = %e, "config changed on disk but was refused, servers unchanged: {e}")
                }
            }
        }
    }
}

/// mcp-hub's `workspaces_updated`: another hub started or stopped (or this one's
/// entry changed), told with every live hub keyed by port.
pub async fn workspaces(hub: Arc<Hub>) {
    let file = hub.options.state_dir.workspaces_file();
    let mut last = stamp(&file);
    let mut tick = tokio::time::interval(TICK);
    while ticks(&hub, &mut tick).await {
        let now = stamp(&file);
        if now != last {
            last = now;
            hub.emit(
                "subscription_event",
                json!({"type": "workspaces_updated", "workspaces": hub.workspaces_by_port()}),
            );
        }
    }
}

/// One server's `dev` watch: the files its globs matched when it started, as mcp-hub
/// watches them (a file added later is seen after the next restart).
struct DevWatch {
    backend: Arc<Backend>,
    cwd: PathBuf,
    files: Vec<PathBuf>,
    last: Vec<Stamp>,
    /// Changed since the last restart. A restart waits for a tick without changes,
    /// so that a save of many files (a build, a checkout) restarts the server once.
    changed: BTreeSet<PathBuf>,
}

impl DevWatch {
    fn new(backend: Arc<Backend>, settings: crate::config::DevSettings) -> DevWatch {
        let mut files = BTreeSet::new();
        for pattern in &settings.watch {
            let full = settings.cwd.join(pattern);
            match glob::glob(&full.to_string_lossy()) {
                Ok(paths) => files.extend(paths.flatten().filter(|p| p.is_file())),
                Err(e) => {
                    tracing::warn!(server = %backend.name, pattern, error = %e, "`{}`'s dev.watch glob `{pattern}` is not a glob ({e}); it watches nothing", backend.name)
                }
            }
        }
        let files: Vec<PathBuf> = files.into_iter().collect();
        tracing::info!(server = %backend.name, files = files.len(), cwd = %settings.cwd.display(), "watching {} files of `{}` (its dev block)", files.len(), backend.name);
        DevWatch {
            last: stamps(&files),
            backend,
            cwd: settings.cwd,
            files,
            changed: BTreeSet::new(),
        }
    }

    /// The changed files, relative to `cwd`, once they have settled.
    fn poll(&mut self) -> Option<Vec<String>> {
        let now = stamps(&self.files);
        let mut moved = false;
        for ((file, was), is) in self.files.iter().zip(&self.last).zip(&now) {
            if was != is {
                self.changed.insert(file.clone());
                moved = true;
            }
        }
        self.last = now;
        if moved || self.changed.is_empty() {
            return None;
        }
        let files = std::mem::take(&mut self.changed)
            .into_iter()
            .map(|f| {
                f.strip_prefix(&self.cwd)
                    .unwrap_or(&f)
                    .display()
                    .to_string()
            })
            .collect();
        Some(files)
    }
}

/// mcp-hub's `dev` hot-reload: a stdio server with a `dev` block is restarted when
/// one of the files its `watch` globs matched in its `cwd` changes, is replaced or is
/// deleted.
pub async fn dev_servers(hub: Arc<Hub>) {
    let mut watches: BTreeMap<String, DevWatch> = BTreeMap::new();
    let mut tick = tokio::time::interval(TICK);
    while ticks(&hub, &mut tick).await {
        let backends = hub.backends();
        watches.retain(|name, w| {
            backends
                .iter()
                .any(|b| &b.name == name && Arc::ptr_eq(b, &w.backend))
        });
        for b in backends {
            let Some(settings) = b.entry.dev() else {
                continue;
            };
            let w = watches
                .entry(b.name.clone())
                .or_insert_with(|| DevWatch::new(b.clone(), settings));
            if let Some(files) = w.poll() {
                // The restarted server is a new backend: its watch starts afresh.
                watches.remove(&b.name);
                let hub = hub.clone();
                tokio::spawn(async move { hub.restart_for_dev(&b.name, &files).await });
            }
        }
    }
}
