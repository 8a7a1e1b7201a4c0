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
            dir: state.monitoring_dir(),
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
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o600)
            .open(self.file(kind))?;
        // A write cut short (a full disk) leaves part of a line; this record must
        // not be glued onto it.
        let mut line = Vec::new();
        let len = f.metadata()?.len();
        if len > 0 {
            use std::os::unix::fs::FileExt;
            let mut last = [0u8];
            if f.read_exact_at(&mut last, len - 1).is_ok() && last[0] != b'\n' {
                line.push(b'\n');
            }
        }
        serde_json::to_writer(&mut line, record)?;
        line.push(b'\n');
        f.write_all(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_after_a_torn_line_stands_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(&StateDir::new(dir.path().to_owned()));
        h.append("alerts", &serde_json::json!({"n": 1})).unwrap();
        // What a full disk leaves: part of a line, no newline.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(h.file("alerts"))
            .unwrap();
        f.write_all(b"{\"n\": 2, \"cut").unwrap();
        h.append("alerts", &serde_json::json!({"n": 3})).unwrap();
        let text = std::fs::read_to_string(h.file("alerts")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, ["{\"n\":1}", "{\"n\": 2, \"cut", "{\"n\":3}"]);
        assert_eq!(h.last("alerts").unwrap()["n"], 3);
    }
}
