//! What the hub watches on disk: its config files (`--watch`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::api::HubState;
use crate::api::events;
use crate::hub::lifecycle::Hub;

/// `--watch`: reloads when a config file's contents change. Polls the files' metadata
/// because editors save by renaming a new file over the old one, which an inotify
/// watch on the old inode never reports.
pub async fn config_files(hub: Arc<Hub>) {
    let files = hub.config_files();
    let stamp = |files: &[PathBuf]| -> Vec<Option<(std::time::SystemTime, u64)>> {
        files
            .iter()
            .map(|f| {
                std::fs::metadata(f)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())))
            })
            .collect()
    };
    let mut last = stamp(&files);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        if matches!(hub.state(), HubState::Stopping | HubState::Stopped) {
            return;
        }
        let now = stamp(&files);
        if now != last {
            last = now;
            match hub.reload() {
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
