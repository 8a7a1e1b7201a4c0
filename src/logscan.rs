//! Reading the hub's JSON-lines log the way a toolkit run needs it: only the tail
//! that covers a time window, newest first, in constant memory, across rotation;
//! every timestamp form mcphub or mcp-hub writes; torn and foreign lines counted.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use crate::telemetry::log::rotated_name;

/// Parses an RFC 3339 timestamp in any of its forms (`Z` or offset, any fraction,
/// `t`/space separator), or epoch seconds or milliseconds, as a number or a string.
pub fn parse_timestamp(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => epoch(n.as_f64()?),
        Value::String(s) => parse_timestamp_str(s),
        _ => None,
    }
}

pub fn parse_timestamp_str(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return epoch(s.parse().ok()?);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // RFC 3339 allows a space (or lowercase t) for `T`, and lowercase `z`.
    let fixed: String = s
        .char_indices()
        .map(|(i, c)| match c {
            ' ' | 't' if i == 10 => 'T',
            'z' => 'Z',
            c => c,
        })
        .collect();
    if let Ok(t) = DateTime::parse_from_rfc3339(&fixed) {
        return Some(t.with_timezone(&Utc));
    }
    // No offset at all: taken as UTC, which is what the hub writes.
    NaiveDateTime::parse_from_str(&fixed, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| Utc.from_utc_datetime(&n))
}

/// Epoch seconds, or milliseconds when too large to be seconds (after year 5138).
fn epoch(x: f64) -> Option<DateTime<Utc>> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    let ms = if x >= 1e11 { x } else { x * 1000.0 };
    DateTime::from_timestamp_millis(ms as i64)
}

/// One parsed line.
pub struct Entry {
    pub timestamp: DateTime<Utc>,
    pub value: Value,
}

impl Entry {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.value.get(key).and_then(Value::as_str)
    }

    /// `level` (mcphub) or `type` (mcp-hub), lowercased.
    pub fn level(&self) -> String {
        self.str("level")
            .or_else(|| self.str("type"))
            .unwrap_or_default()
            .to_ascii_lowercase()
    }
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ScanStats {
    /// Lines inside the window that parsed.
    pub lines: u64,
    /// Torn, non-JSON or timestamp-less lines met while reading the window.
    pub bad_lines: u64,
    pub bytes_read: u64,
    pub files: Vec<PathBuf>,
    /// The log goes back further than the window (reading stopped at an older line).
    pub older_lines: bool,
}

const BLOCK: usize = 64 * 1024;

/// Calls `f` for each entry with `timestamp >= since`, newest first, reading the
/// current log and then its rotated predecessors backwards from their ends. Stops at
/// the first entry older than the window: the log is written in time order.
pub fn scan_since(log: &Path, since: DateTime<Utc>, mut f: impl FnMut(&Entry)) -> ScanStats {
    let mut stats = ScanStats::default();
    let mut paths = vec![log.to_owned()];
    paths.extend((1..=crate::telemetry::log::KEEP_ROTATED).map(|i| rotated_name(log, i)));
    for path in paths {
        let Ok(file) = File::open(&path) else {
            break;
        };
        stats.files.push(path);
        if !scan_file_backwards(file, since, &mut stats, &mut f) {
            break;
        }
    }
    stats
}

/// Returns true when the whole file was inside the window (keep going to older files).
fn scan_file_backwards(
    mut file: File,
    since: DateTime<Utc>,
    stats: &mut ScanStats,
    f: &mut impl FnMut(&Entry),
) -> bool {
    let Ok(len) = file.seek(SeekFrom::End(0)) else {
        return false;
    };
    let mut pos = len;
    // Bytes of a line whose start lies in a block not read yet.
    let mut carry: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; BLOCK];
    loop {
        if pos == 0 {
            if !carry.is_empty() && !handle_line(&carry, since, stats, f) {
                return false;
            }
            return true;
        }
        let n = (pos as usize).min(BLOCK);
        pos -= n as u64;
        if file.seek(SeekFrom::Start(pos)).is_err() || file.read_exact(&mut buf[..n]).is_err() {
            return false;
        }
        stats.bytes_read += n as u64;
        let mut chunk = buf[..n].to_vec();
        chunk.extend_from_slice(&carry);
        // Every line but the first in `chunk` is complete; the first may continue
        // into the previous block.
        let mut end = chunk.len();
        let mut lines = Vec::new();
        while let Some(nl) = chunk[..end].iter().rposition(|b| *b == b'\n') {
            if nl + 1 < end {
                lines.push((nl + 1, end));
            }
            end = nl;
        }
        for (s, e) in lines {
            if !handle_line(&chunk[s..e], since, stats, f) {
                return false;
            }
        }
        carry = chunk[..end].to_vec();
        // A single line larger than a megabyte is not a log line: count it and move on
        // rather than let memory grow with it.
        if carry.len() > 1024 * 1024 {
            stats.bad_lines += 1;
            carry.clear();
        }
    }
}

/// Returns false when the line is older than the window (stop reading).
fn handle_line(
    line: &[u8],
    since: DateTime<Utc>,
    stats: &mut ScanStats,
    f: &mut impl FnMut(&Entry),
) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return true;
    }
    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        stats.bad_lines += 1;
        return true;
    };
    let ts = ["timestamp", "time", "ts", "@timestamp"]
        .iter()
        .find_map(|k| value.get(*k).and_then(parse_timestamp));
    let Some(timestamp) = ts else {
        stats.bad_lines += 1;
        return true;
    };
    if timestamp < since {
        stats.older_lines = true;
        return false;
    }
    stats.lines += 1;
    f(&Entry { timestamp, value });
    true
}

/// Total size of the log and its rotated files: growth survives a rotation.
pub fn total_log_bytes(log: &Path) -> u64 {
    let mut total = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    for i in 1..=crate::telemetry::log::KEEP_ROTATED {
        total += std::fs::metadata(rotated_name(log, i))
            .map(|m| m.len())
            .unwrap_or(0);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_timestamp_form_parses_to_the_same_instant() {
        let want = parse_timestamp_str("2025-11-16T21:25:00Z").unwrap();
        for v in [
            json!("2025-11-16T21:25:00Z"),
            json!("2025-11-16T21:25:00.000Z"),
            json!("2025-11-16T21:25:00.000000+00:00"),
            json!("2025-11-16T22:25:00+01:00"),
            json!("2025-11-16 21:25:00Z"),
            json!("2025-11-16t21:25:00z"),
            json!("2025-11-16T21:25:00"),
            json!(1763328300),
            json!(1763328300000u64),
            json!(1763328300.0),
            json!("1763328300"),
            json!("1763328300000"),
        ] {
            assert_eq!(parse_timestamp(&v), Some(want), "{v}");
        }
        for v in [json!("yesterday"), json!(null), json!(-5), json!("")] {
            assert_eq!(parse_timestamp(&v), None, "{v}");
        }
    }

    #[test]
    fn scans_only_the_window_across_rotation_and_counts_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("mcp-hub.log");
        let base = parse_timestamp_str("2026-01-01T00:00:00Z").unwrap();
        let line = |min: i64, n: u32| {
            format!(
                "{{\"timestamp\":\"{}\",\"level\":\"INFO\",\"n\":{n}}}\n",
                (base + chrono::Duration::minutes(min)).to_rfc3339()
            )
        };
        // Older file: minutes 0..10; current file: 10..20 with a torn line and garbage.
        let old: String = (0..10).map(|m| line(m, m as u32)).collect();
        let mut cur: String = (10..20).map(|m| line(m, m as u32)).collect();
        cur.insert_str(0, "{\"timestamp\": \"2026-01-01T00:10\n");
        cur.insert_str(0, "not json at all\n");
        std::fs::write(rotated_name(&log, 1), old).unwrap();
        std::fs::write(&log, cur).unwrap();
        let mut seen = vec![];
        let stats = scan_since(&log, base + chrono::Duration::minutes(5), |e| {
            seen.push(e.value["n"].as_u64().unwrap())
        });
        assert_eq!(seen, (5..20).rev().collect::<Vec<_>>());
        assert_eq!(stats.bad_lines, 2);
        assert_eq!(stats.files.len(), 2);
    }

    #[test]
    fn reads_only_the_tail_of_a_large_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("big.log");
        let base = parse_timestamp_str("2026-01-01T00:00:00Z").unwrap();
        let mut text = String::new();
        for s in 0..100_000i64 {
            text.push_str(&format!(
                "{{\"timestamp\":\"{}\",\"level\":\"INFO\"}}\n",
                (base + chrono::Duration::seconds(s)).to_rfc3339()
            ));
        }
        std::fs::write(&log, &text).unwrap();
        let since = base + chrono::Duration::seconds(100_000 - 60);
        let mut count = 0;
        let stats = scan_since(&log, since, |_| count += 1);
        assert_eq!(count, 60);
        assert!(
            stats.bytes_read <= 2 * BLOCK as u64,
            "read {} of {}",
            stats.bytes_read,
            text.len()
        );
    }
}
