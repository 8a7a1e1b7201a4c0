//! Reading the hub's JSON-lines log the way a toolkit run needs it: only the tail
//! that covers a time window, newest first, in constant memory, across rotation;
//! every timestamp form mcphub or mcp-hub writes; torn and foreign lines counted.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
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

/// One parsed line: the fields the toolkit reads, borrowed from the line where it has
/// no escapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    pub timestamp: DateTime<Utc>,
    /// `level` (mcphub) or, when that is not a string, `type` (mcp-hub), as written.
    pub level: Option<Cow<'a, str>>,
    pub event: Option<Cow<'a, str>>,
    pub server: Option<Cow<'a, str>>,
    pub error: Option<Cow<'a, str>>,
    pub outcome: Option<Cow<'a, str>>,
    pub duration_ms: Option<f64>,
}

impl Entry<'_> {
    pub fn level_is(&self, level: &str) -> bool {
        self.level
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case(level))
    }

    pub fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }

    pub fn server(&self) -> Option<&str> {
        self.server.as_deref()
    }
}

/// Why a line is not an entry.
#[derive(Debug, PartialEq, Eq)]
pub enum BadLine {
    /// Not a JSON object (torn, foreign, or not JSON at all).
    NotJson,
    /// A JSON object without a timestamp in any known key or form.
    NoTimestamp,
}

/// Parses one log line (without its newline). Blank lines are `Ok(None)`.
///
/// Only the fields an `Entry` carries are decoded and the rest are skipped (their
/// syntax still checked), which is what lets a scan read a gigabyte in seconds. A line
/// `serde_json::Value` reads is read the same way: the last of duplicate keys wins, and
/// a field of another type than expected is absent rather than an error. Skipped fields
/// are not decoded, so a line is not refused for what is inside them (bytes that are not
/// UTF-8, a lone surrogate escape, a number beyond f64), where a full parse would refuse
/// it; the fuzz target `log_line` holds the two to that.
pub fn parse_line(line: &[u8]) -> Result<Option<Entry<'_>>, BadLine> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let raw: RawLine<'_> = serde_json::from_slice(line).map_err(|_| BadLine::NotJson)?;
    let timestamp = [raw.timestamp, raw.time, raw.ts, raw.at_timestamp]
        .into_iter()
        .find_map(Field::timestamp)
        .ok_or(BadLine::NoTimestamp)?;
    Ok(Some(Entry {
        timestamp,
        level: raw.level.into_str().or_else(|| raw.kind.into_str()),
        event: raw.event.into_str(),
        server: raw.server.into_str(),
        error: raw.error.into_str(),
        outcome: raw.outcome.into_str(),
        duration_ms: raw.duration_ms.number(),
    }))
}

/// A value of one of the keys an `Entry` reads.
#[derive(Default)]
enum Field<'a> {
    Str(Cow<'a, str>),
    Number(f64),
    /// Absent, or of another type (null, bool, array, object).
    #[default]
    Other,
}

impl<'a> Field<'a> {
    fn into_str(self) -> Option<Cow<'a, str>> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Field::Number(n) => Some(*n),
            _ => None,
        }
    }

    fn timestamp(self) -> Option<DateTime<Utc>> {
        match self {
            Field::Str(s) => parse_timestamp_str(&s),
            Field::Number(n) => epoch(n),
            _ => None,
        }
    }
}

/// The keys of a line an `Entry` is made from.
// By hand rather than derived: a derived struct rejects a line with a duplicate key or a
// field of an unexpected type, where the toolkit must read lines as `Value` does.
#[derive(Default)]
struct RawLine<'a> {
    timestamp: Field<'a>,
    time: Field<'a>,
    ts: Field<'a>,
    at_timestamp: Field<'a>,
    level: Field<'a>,
    kind: Field<'a>,
    event: Field<'a>,
    server: Field<'a>,
    error: Field<'a>,
    outcome: Field<'a>,
    duration_ms: Field<'a>,
}

impl<'de> Deserialize<'de> for RawLine<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LineVisitor;
        impl<'de> Visitor<'de> for LineVisitor {
            type Value = RawLine<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawLine<'de>, A::Error> {
                let mut raw = RawLine::default();
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    let slot = match &*key {
                        b"timestamp" => &mut raw.timestamp,
                        b"time" => &mut raw.time,
                        b"ts" => &mut raw.ts,
                        b"@timestamp" => &mut raw.at_timestamp,
                        b"level" => &mut raw.level,
                        b"type" => &mut raw.kind,
                        b"event" => &mut raw.event,
                        b"server" => &mut raw.server,
                        b"error" => &mut raw.error,
                        b"outcome" => &mut raw.outcome,
                        b"duration_ms" => &mut raw.duration_ms,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value()?;
                }
                Ok(raw)
            }
        }
        d.deserialize_map(LineVisitor)
    }
}

/// A key's bytes, borrowed from the input when it has no escapes. Bytes rather than a
/// `str`: a key that is none of an entry's is skipped without checking its UTF-8, which
/// is a tenth of a scan's time.
struct Key<'a>(Cow<'a, [u8]>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_bytes<E>(self, b: &'de [u8]) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(b)))
            }
            fn visit_bytes<E>(self, b: &[u8]) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(b.to_vec())))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s.as_bytes())))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.as_bytes().to_vec())))
            }
        }
        d.deserialize_bytes(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = Field<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Owned(s)))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Field<'de>, E> {
                Ok(Field::Number(n as f64))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Field<'de>, E> {
                Ok(Field::Number(n as f64))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Field<'de>, E> {
                Ok(Field::Number(n))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Field<'de>, E> {
                Ok(Field::Other)
            }
            fn visit_unit<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
        }
        d.deserialize_any(FieldVisitor)
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
pub fn scan_since(log: &Path, since: DateTime<Utc>, mut f: impl FnMut(&Entry<'_>)) -> ScanStats {
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
    f: &mut impl FnMut(&Entry<'_>),
) -> bool {
    let Ok(len) = file.seek(SeekFrom::End(0)) else {
        return false;
    };
    let mut pos = len;
    // The block just read followed by the bytes of lines that started in it: the
    // first line of a block may continue into the block before it.
    let mut chunk: Vec<u8> = Vec::with_capacity(2 * BLOCK);
    let mut carry: Vec<u8> = Vec::new();
    loop {
        if pos == 0 {
            return carry.is_empty() || handle_line(&carry, since, stats, f);
        }
        let n = (pos as usize).min(BLOCK);
        pos -= n as u64;
        chunk.clear();
        chunk.resize(n, 0);
        if file.seek(SeekFrom::Start(pos)).is_err() || file.read_exact(&mut chunk).is_err() {
            return false;
        }
        stats.bytes_read += n as u64;
        chunk.extend_from_slice(&carry);
        let mut end = chunk.len();
        for nl in memchr::memrchr_iter(b'\n', &chunk) {
            if nl + 1 < end && !handle_line(&chunk[nl + 1..end], since, stats, f) {
                return false;
            }
            end = nl;
        }
        carry.clear();
        // A single line larger than a megabyte is not a log line: count it and move on
        // rather than let memory grow with it.
        if end > 1024 * 1024 {
            stats.bad_lines += 1;
        } else {
            carry.extend_from_slice(&chunk[..end]);
        }
    }
}

/// Returns false when the line is older than the window (stop reading).
fn handle_line(
    line: &[u8],
    since: DateTime<Utc>,
    stats: &mut ScanStats,
    f: &mut impl FnMut(&Entry<'_>),
) -> bool {
    match parse_line(line) {
        Ok(None) => true,
        Err(_) => {
            stats.bad_lines += 1;
            true
        }
        Ok(Some(entry)) if entry.timestamp < since => {
            stats.older_lines = true;
            false
        }
        Ok(Some(entry)) => {
            stats.lines += 1;
            f(&entry);
            true
        }
    }
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
    fn a_line_reads_as_serde_json_value_would_read_it() {
        let e = parse_line(br#"{"timestamp":"2026-01-01T00:00:00Z","level":"WARN","event":"tool_call","server":"a\"b","duration_ms":12.5,"outcome":"success","nested":{"x":[1,{"y":null}]}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            e.timestamp,
            parse_timestamp_str("2026-01-01T00:00:00Z").unwrap()
        );
        assert!(e.level_is("warn"));
        assert_eq!((e.event(), e.server()), (Some("tool_call"), Some("a\"b")));
        assert_eq!(
            (e.duration_ms, e.outcome.as_deref()),
            (Some(12.5), Some("success"))
        );
        // The last of duplicate keys wins; a field of another type is absent, not fatal;
        // mcp-hub's `type` stands in for a level that is not a string.
        let e = parse_line(br#"{"server":"first","ts":1767225600,"server":"last","event":5,"level":null,"type":"error"}"#)
            .unwrap()
            .unwrap();
        assert_eq!((e.server(), e.event()), (Some("last"), None));
        assert!(e.level_is("error"));
        assert_eq!(
            e.timestamp,
            parse_timestamp_str("2026-01-01T00:00:00Z").unwrap()
        );
        // The first key that holds a timestamp, in the order timestamp, time, ts.
        let e = parse_line(br#"{"timestamp":"soon","time":"2026-01-01T00:00:00Z"}"#).unwrap();
        assert!(e.is_some());
        // Unread fields are skipped, not decoded: what is inside them does not cost the
        // line (serde_json::Value would refuse both).
        for odd in [
            &br#"{"timestamp":"2026-01-01T00:00:00Z","message":"\ud800"}"#[..],
            br#"{"timestamp":"2026-01-01T00:00:00Z","n":1e400}"#,
        ] {
            assert!(serde_json::from_slice::<Value>(odd).is_err());
            assert!(parse_line(odd).unwrap().is_some());
        }
        assert_eq!(parse_line(b"  \r"), Ok(None));
        assert_eq!(
            parse_line(br#"{"level":"INFO"}"#),
            Err(BadLine::NoTimestamp)
        );
        for torn in [
            &br#"{"timestamp":"2026-01-01T00:00:00Z","lev"#[..],
            b"[1,2]",
            b"plain text",
            br#"{"timestamp":"2026-01-01T00:00:00Z"} x"#,
        ] {
            assert_eq!(
                parse_line(torn),
                Err(BadLine::NotJson),
                "{}",
                String::from_utf8_lossy(torn)
            );
        }
    }

    #[test]
    fn scans_only_the_window_across_rotation_and_counts_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("mcp-hub.log");
        let base = parse_timestamp_str("2026-01-01T00:00:00Z").unwrap();
        let line = |min: i64, n: u32| {
            format!(
                "{{\"timestamp\":\"{}\",\"level\":\"INFO\",\"server\":\"{n}\"}}\n",
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
            seen.push(e.server.as_deref().unwrap().parse::<u32>().unwrap())
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
