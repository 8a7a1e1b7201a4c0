//! Small pieces with no domain: used anywhere, importing nothing of the crate.

pub mod json_len;
pub mod memory;
pub mod rate;

/// `s` with every byte but ASCII letters, digits, `-`, `_` and `.` percent-encoded:
/// safe as a query value and as a file name.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What tells that a file changed: its modification time and length, `None` while it
/// does not exist. Read from metadata, not contents, so that polling it costs a stat.
pub type FileStamp = Option<(std::time::SystemTime, u64)>;

pub fn file_stamp(path: &std::path::Path) -> FileStamp {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.modified().ok()?, m.len())))
}
