//! The hub's log: JSON lines in `logs/mcp-hub.log` (`timestamp`, `level`, `event`,
//! `message`, plus fields), appended to and never truncated at start, rotated by size;
//! and human-readable lines on stderr.
//!
//! Every line that matters to the toolkit carries `event = "<stable name>"`; the names
//! are the constants in [`events`].

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Rotate when the file passes this size; keep this many old files.
pub const ROTATE_BYTES: u64 = 10 * 1024 * 1024;
pub const KEEP_ROTATED: usize = 5;

/// Total size of the log and its rotated files: growth survives a rotation.
pub fn total_log_bytes(log: &Path) -> u64 {
    let mut total = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    for i in 1..=KEEP_ROTATED {
        total += std::fs::metadata(rotated_name(log, i))
            .map(|m| m.len())
            .unwrap_or(0);
    }
    total
}

/// Size-rotated append-only file. Hand-written because tracing-appender rotates by
/// time only, and the toolkit's log-growth check needs a bounded, size-rotated file
/// with the `.1 … .N` names logrotate users expect.
pub struct RotatingFile {
    path: PathBuf,
    inner: Mutex<Inner>,
    max_bytes: u64,
    keep: usize,
}

struct Inner {
    file: File,
    len: u64,
    /// Writes are failing (a full or read-only disk); said once on stderr.
    failing: bool,
    /// Lines dropped while failing, reported in the log once writing works again.
    lost: u64,
    /// A failed write left part of a line: the next line starts on a new one.
    torn: bool,
}

impl RotatingFile {
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        let file = open_append(path)?;
        let len = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_owned(),
            inner: Mutex::new(Inner {
                file,
                len,
                failing: false,
                lost: 0,
                torn: false,
            }),
            max_bytes,
            keep,
        })
    }

    fn rotate(&self, inner: &mut Inner) -> io::Result<()> {
        for i in (1..self.keep).rev() {
            let from = rotated_name(&self.path, i);
            if from.exists() {
                std::fs::rename(&from, rotated_name(&self.path, i + 1))?;
            }
        }
        std::fs::rename(&self.path, rotated_name(&self.path, 1))?;
        inner.file = open_append(&self.path)?;
        inner.len = 0;
        inner.torn = false;
        Ok(())
    }

    /// Appends one line. A disk that is full or read-only loses lines, never the hub:
    /// the first failure is said on stderr, a cut-off line is ended before the next
    /// one, and once writing works again a `log_lines_lost` line says how many went.
    fn write_line(&self, buf: &[u8]) -> io::Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.len > 0 && inner.len + buf.len() as u64 > self.max_bytes {
            // A failed rotation must not lose the line: keep appending to the old file.
            let _ = self.rotate(&mut inner);
        }
        // Only after a failure does anything go before the line (the usual case
        // writes `buf` as it is, without a copy).
        let mut prefix = Vec::new();
        if inner.torn {
            prefix.push(b'\n');
        }
        if inner.lost > 0 {
            prefix.extend_from_slice(
                serde_json::json!({
                    "timestamp": chrono::Utc::now().to_rfc3339(),
                    "level": "WARN",
                    "event": crate::api::events::LOG_LINES_LOST,
                    "message": format!("{} log lines were lost while {} could not be written", inner.lost, self.path.display()),
                    "lost": inner.lost,
                })
                .to_string()
                .as_bytes(),
            );
            prefix.push(b'\n');
        }
        let notice_end = prefix.len();
        let joined;
        let out: &[u8] = if prefix.is_empty() {
            buf
        } else {
            joined = [prefix.as_slice(), buf].concat();
            &joined
        };
        let (written, result) = write_counted(&mut inner.file, out);
        inner.len += written as u64;
        match result {
            Ok(()) => {
                if inner.failing {
                    eprintln!("mcphub: writing {} again", self.path.display());
                }
                inner.failing = false;
                inner.torn = false;
                inner.lost = 0;
                Ok(())
            }
            Err(e) => {
                if !inner.failing {
                    eprintln!(
                        "mcphub: cannot write the log {}: {e}; log lines are dropped until it can be written again (free space, or point --state-dir elsewhere)",
                        self.path.display()
                    );
                }
                inner.failing = true;
                if written > 0 {
                    inner.torn = !out[..written].ends_with(b"\n");
                }
                if written >= notice_end {
                    inner.lost = 0; // The notice made it; only this line is new loss.
                }
                inner.lost += 1;
                Err(e)
            }
        }
    }
}

/// `write_all` that says how much it wrote before failing.
fn write_counted(file: &mut File, buf: &[u8]) -> (usize, io::Result<()>) {
    let mut done = 0;
    while done < buf.len() {
        match file.write(&buf[done..]) {
            Ok(0) => return (done, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Err(e)),
        }
    }
    (done, Ok(()))
}

pub fn rotated_name(path: &Path, i: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// A `MakeWriter` that hands out a buffer and writes it as one `write` on drop, so a
/// line is never interleaved with another thread's.
#[derive(Clone)]
pub struct LogWriter(Arc<RotatingFile>);

pub struct LineBuffer {
    file: Arc<RotatingFile>,
    buf: Vec<u8>,
}

impl Write for LineBuffer {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            // The log is best effort: a full or read-only disk must not stop the hub.
            let _ = self.file.write_line(&self.buf);
        }
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineBuffer;
    fn make_writer(&'a self) -> LineBuffer {
        LineBuffer {
            file: self.0.clone(),
            buf: Vec::with_capacity(256),
        }
    }
}

/// Log lines as mcp-hub's SSE `log` events (`type`, `message`, `data`, `timestamp`):
/// what `/api/events` subscribers see. A broadcast, so nobody listening costs nothing.
pub fn log_events() -> &'static tokio::sync::broadcast::Sender<serde_json::Value> {
    static EVENTS: std::sync::OnceLock<tokio::sync::broadcast::Sender<serde_json::Value>> =
        std::sync::OnceLock::new();
    EVENTS.get_or_init(|| tokio::sync::broadcast::channel(256).0)
}

/// Feeds [`log_events`] from tracing events at info level and above.
struct SseLayer;

#[derive(Default)]
struct Fields {
    message: String,
    data: serde_json::Map<String, serde_json::Value>,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let v = format!("{value:?}");
        if field.name() == "message" {
            self.message = v;
        } else {
            self.data.insert(
                field.name().into(),
                serde_json::Value::String(v.trim_matches('"').to_owned()),
            );
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.data.insert(field.name().into(), value.into());
        }
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.data.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.data.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.data.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.data.insert(field.name().into(), value.into());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SseLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let tx = log_events();
        if tx.receiver_count() == 0 || *event.metadata().level() > tracing::Level::INFO {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        let _ = tx.send(serde_json::json!({
            "type": if level == "warn" { "warn".to_owned() } else { level },
            "message": f.message,
            "data": f.data,
            "timestamp": chrono::Utc::now().to_rfc3339(),
        }));
    }
}

/// Installs the global subscriber: JSON lines to `log_file` (when given) and compact
/// text on stderr. `RUST_LOG` overrides the level (default `info`).
pub fn init(log_file: Option<&Path>) -> io::Result<()> {
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn,hyper=warn,reqwest=warn"))
    };
    // A hub started as `mcphub serve >/dev/null 2>&1 &` would format every line twice
    // only to throw one copy away: a tenth of the hub's own work per tool call.
    let stderr = (!stderr_is_dev_null()).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(
                std::io::IsTerminal::is_terminal(&io::stderr())
                    && std::env::var_os("NO_COLOR").is_none(),
            )
            .with_target(false)
            .compact()
            .with_filter(filter())
    });
    let file_layer = match log_file {
        Some(path) => {
            let file = RotatingFile::open(path, ROTATE_BYTES, KEEP_ROTATED)?;
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_target(false)
                    .with_writer(LogWriter(Arc::new(file)))
                    .with_filter(filter()),
            )
        }
        None => None,
    };
    // A second init (tests in one process) is harmless.
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .with(SseLayer.with_filter(filter()))
        .try_init();
    Ok(())
}

use tracing_subscriber::Layer as _;

/// Whether stderr is `/dev/null`, so nothing written there is ever read.
fn stderr_is_dev_null() -> bool {
    use std::os::fd::AsFd;
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .is_ok_and(|fd| is_dev_null(&std::fs::File::from(fd)))
}

/// The same character device as `/dev/null`.
fn is_dev_null(file: &std::fs::File) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(null) = std::fs::metadata("/dev/null") else {
        return false;
    };
    file.metadata()
        .is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == null.rdev())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dev_null_counts_as_nowhere() {
        assert!(is_dev_null(&std::fs::File::open("/dev/null").unwrap()));
        assert!(!is_dev_null(&std::fs::File::open("/dev/zero").unwrap()));
        assert!(!is_dev_null(&tempfile::tempfile().unwrap()));
    }

    #[test]
    fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.log");
        std::fs::write(&path, "old line from a previous run\n").unwrap();
        let f = RotatingFile::open(&path, 100, 2).unwrap();
        for i in 0..20 {
            f.write_line(format!("{{\"n\":{i},\"pad\":\"xxxxxxxxxxxxxxxxxxxx\"}}\n").as_bytes())
                .unwrap();
        }
        assert!(rotated_name(&path, 1).exists());
        assert!(rotated_name(&path, 2).exists());
        assert!(!rotated_name(&path, 3).exists());
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.len() <= 100 + 40, "{current}");
        assert!(current.contains("\"n\":19,"));
        for line in current.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }
}
