//! Small pieces with no domain: used anywhere, importing nothing of the crate.

pub mod memory;

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
