//! `monitoring/`: the JSON-lines history the toolkit and the hub append to (health
//! snapshots, alert and anomaly results, measurements), pruned after a retention period.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use serde::Serialize;

use crate::state::StateDir;

pub struct History {
    dir: PathBuf,
}

impl History {
    pub fn new(state: &StateDir) -> History {
        History {
            dir: state.root().join("monitoring"),
        }
    }

    pub fn file(&self, kind: &str) -> PathBuf {
        self.dir.join(format!("{kind}.jsonl"))
    }

    /// The newest record of `kind` that parses; torn or foreign lines are skipped.
    pub fn last(&self, kind: &str) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.file(kind)).ok()?;
        text.lines()
            .rev()
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    }

    /// Appends one record as one line. One `write` on an `O_APPEND` file: concurrent
    /// writers never interleave within a line.
    pub fn append<T: Serialize>(&self, kind: &str, record: &T) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(self.file(kind))?;
        f.write_all(&line)
    }
}
