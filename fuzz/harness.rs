//! Fuzz targets: one plain function per target, taking the fuzzer's bytes, driving the
//! real code and asserting what must hold for any input. A panic is a finding.
//!
//! Each cargo-fuzz target (`fuzz/fuzz_targets/<name>.rs`) includes this file and calls
//! its function, and `tests/fuzz_corpus.rs` includes it to replay the committed corpora
//! and every saved crash on stable, so a crash once found stays fixed. It drives
//! mcphub through its public API only, and is not part of the library.
//!
//! Not for use inside an async runtime: [`jsonrpc`] and [`llm_answer`] drive their own
//! (built once per process).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use mcphub::config::filtering::BUILTIN_CATEGORIES;
use mcphub::config::filtering::{LlmSettings, Provider};
use mcphub::config::{HubConfig, Placeholders, ServerEntry, Transport, parse_file};
use mcphub::hub::filtering::llm::answer::LlmAnswer;
use mcphub::hub::filtering::llm::provider::LlmItem;
use mcphub::hub::filtering::llm::{LlmClient, LlmError};

/// How long one exchange with an in-process server may take before it counts as a hang.
const ANSWER_DEADLINE: Duration = Duration::from_secs(10);

/// A per-process scratch directory for log files and the hub's state directory. Made
/// when needed and removed when empty again, so that runs leave nothing behind.
/// The runtime a target's long-lived loopback server runs on.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build a runtime")
}

fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("mcphub-fuzzing-{}", std::process::id()))
}

// ----- config -----

/// The servers file: JSON5 parsing, merging (which validates `toolFiltering` and
/// `toolExposure`), the entries' accessors and placeholder resolution.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let file = Path::new("fuzz/servers.json");
    let Ok(top) = parse_file(file, &text) else {
        return;
    };
    // What parsed re-serialises as JSON, and that JSON reads back as the same thing.
    let json = serde_json::to_string(&top).expect("a parsed config serialises as JSON");
    let again = parse_file(file, &json)
        .unwrap_or_else(|e| panic!("a re-serialised config does not parse: {e}\n{json}"));
    assert_eq!(again, top, "a config changed on a JSON round trip");

    let mut cfg = HubConfig::default();
    if cfg.merge(file, top.clone()).is_err() {
        return;
    }
    for (name, entry) in &cfg.servers {
        assert_eq!(name, &entry.name);
        assert!(
            !name.trim().is_empty(),
            "a server with an empty name merged"
        );
        assert!(
            entry.raw.contains_key("command") || entry.raw.contains_key("url"),
            "server `{name}` merged without `command` or `url`"
        );
    }
    // Each key was validated on its own; together they must pass too (the hub reads
    // them together and takes a failure there for unreachable).
    let settings = mcphub::config::filtering::FilterSettings::from_top_level(&cfg.extras)
        .unwrap_or_else(|e| {
            panic!("merged extras were accepted one by one, refused together: {e}")
        });
    let known = settings.known_categories();
    assert!(known.len() >= BUILTIN_CATEGORIES.len());
    let _ = (settings.active(0), settings.active(usize::MAX));

    // Merging the same file again changes nothing.
    let (servers, extras) = (cfg.servers.clone(), cfg.extras.clone());
    cfg.merge(file, top)
        .expect("a file that merged once merges again");
    assert_eq!(
        cfg.servers, servers,
        "merging a file twice changed its servers"
    );
    assert_eq!(
        cfg.extras, extras,
        "merging a file twice changed its extras"
    );

    let placeholders = Placeholders::default();
    for entry in cfg.servers.values() {
        exercise_entry(entry, &placeholders);
    }
}

fn exercise_entry(entry: &ServerEntry, placeholders: &Placeholders) {
    let _ = (entry.disabled(), entry.display_name(), entry.description());
    let _ = (entry.prefix(), entry.timeout(), entry.transport_kind());
    let policy = entry.restart_policy();
    assert!(!policy.initial.is_zero() && !policy.max.is_zero());
    // `${cmd: …}` runs a shell command and `Placeholders` has no way to refuse that:
    // entries that could hold one are not resolved. `cmd:` is what every such
    // placeholder contains, whatever its spacing (`${ cmd: x }` runs too).
    let raw = serde_json::to_string(&entry.raw).expect("an entry serialises");
    if raw.contains("cmd:") {
        return;
    }
    let Ok(transport) = entry.resolve(placeholders) else {
        return;
    };
    assert_eq!(transport.kind(), entry.transport_kind());
    let _ = format!("{transport:?}");
    if let Transport::Stdio { command, .. } = &transport
        && let Some(written) = entry.raw.get("command").and_then(Value::as_str)
        && !written.contains("${")
    {
        assert_eq!(command, written, "a command without placeholders changed");
    }
}

// ----- log lines -----

/// The toolkit's log reading: timestamps in every form, and the backwards, block-wise
/// scan of a log file (torn, foreign and blank lines included).
pub fn log_line(data: &[u8]) {
    // Every line through the timestamp parser as text; a parsed instant prints as
    // RFC 3339 and reads back as itself.
    for line in String::from_utf8_lossy(data).split('\n') {
        if line.len() > 256 {
            continue;
        }
        if let Some(t) = mcphub::toolkit::logscan::parse_timestamp_str(line) {
            check_round_trip(t, line);
        }
    }

    // Each line through the scan's own parser, which skips what it does not read,
    // held to a full `serde_json::Value` parse: a line serde_json reads is read the
    // same way. (The skipping parser may also take a line whose unread fields serde_json
    // refuses: a lone surrogate escape, a number out of f64's range.) The forward
    // reading is then what the backwards scan must deliver, newest first.
    let mut expected: Vec<Seen> = Vec::new();
    let mut bad = 0u64;
    for line in data.split(|b| *b == b'\n') {
        let parsed = mcphub::toolkit::logscan::parse_line(line);
        let unterminated = line.strip_suffix(b"\r").unwrap_or(line);
        if let Ok(value) = serde_json::from_slice::<Value>(unterminated) {
            let full = ["timestamp", "time", "ts", "@timestamp"]
                .iter()
                .find_map(|k| {
                    value
                        .get(*k)
                        .and_then(mcphub::toolkit::logscan::parse_timestamp)
                })
                .map(|timestamp| {
                    let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
                    Seen {
                        timestamp,
                        level: text("level").or_else(|| text("type")),
                        event: text("event"),
                        server: text("server"),
                        error: text("error"),
                        outcome: text("outcome"),
                        duration_ms: value.get("duration_ms").and_then(Value::as_f64),
                    }
                });
            let skipping = parsed
                .as_ref()
                .ok()
                .and_then(|e| e.as_ref().map(Seen::from));
            assert_eq!(
                skipping, full,
                "the line parser and serde_json read a line apart"
            );
        }
        match parsed {
            Ok(Some(entry)) => {
                check_round_trip(entry.timestamp, "a log line's timestamp");
                expected.push(Seen::from(&entry));
            }
            Ok(None) => {}
            Err(_) => bad += 1,
        }
    }
    expected.reverse();

    let dir = scratch_dir();
    std::fs::create_dir_all(&dir).expect("cannot create the fuzzing scratch directory");
    let log = dir.join(format!("log-{:?}.log", std::thread::current().id()));
    std::fs::write(&log, data).expect("cannot write the fuzzing log file");
    let mut seen: Vec<Seen> = Vec::new();
    let stats = mcphub::toolkit::logscan::scan_since(&log, DateTime::<Utc>::MIN_UTC, |e| {
        seen.push(Seen::from(e));
    });
    let _ = std::fs::remove_file(&log);
    // Fails while another thread's log is there: that thread removes it.
    let _ = std::fs::remove_dir(&dir);
    assert!(
        !stats.older_lines,
        "nothing is older than the start of time"
    );
    assert_eq!(
        stats.bytes_read,
        data.len() as u64,
        "the scan read the whole file"
    );
    // Lines over a megabyte are dropped whole by design; below that the scan sees
    // exactly what a forward reading sees.
    if data.len() <= 1024 * 1024 {
        assert_eq!(stats.lines, expected.len() as u64, "entries counted");
        assert_eq!(stats.bad_lines, bad, "bad lines counted");
        assert!(
            seen == expected,
            "the backwards scan delivered other entries than a forward reading"
        );
    }
}

/// An entry as the log scan delivers it, owned.
#[derive(Debug, PartialEq)]
struct Seen {
    timestamp: DateTime<Utc>,
    level: Option<String>,
    event: Option<String>,
    server: Option<String>,
    error: Option<String>,
    outcome: Option<String>,
    duration_ms: Option<f64>,
}

impl From<&mcphub::toolkit::logscan::Entry<'_>> for Seen {
    fn from(e: &mcphub::toolkit::logscan::Entry<'_>) -> Seen {
        let text = |s: &Option<std::borrow::Cow<'_, str>>| s.as_deref().map(str::to_owned);
        Seen {
            timestamp: e.timestamp,
            level: text(&e.level),
            event: text(&e.event),
            server: text(&e.server),
            error: text(&e.error),
            outcome: text(&e.outcome),
            duration_ms: e.duration_ms,
        }
    }
}

fn check_round_trip(t: DateTime<Utc>, from: &str) {
    // RFC 3339 has four-digit years only.
    if !(0..=9999).contains(&t.year()) {
        return;
    }
    let printed = t.to_rfc3339();
    assert_eq!(
        mcphub::toolkit::logscan::parse_timestamp_str(&printed),
        Some(t),
        "{printed} (from {from:?}) does not read back as itself"
    );
}

// ----- LLM answers -----

/// The ids a batch was sent with: plain, one needing trimming, one odd.
const SENT_IDS: [&str; 5] = [
    "github__create_issue",
    "filesystem__read_file",
    "time__get_current_time",
    " padded id ",
    "ünï/cødé",
];

/// The categorizer's answer validation, on the model's text and, for inputs shaped like
/// a provider's response, on each provider's response through the real client (over a
/// loopback fake provider), which is how the response-shape extraction is reached.
pub fn llm_answer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let sent: Vec<String> = SENT_IDS.iter().map(|s| s.to_string()).collect();
    let categories: Vec<String> = BUILTIN_CATEGORIES.iter().map(|s| s.to_string()).collect();
    if let Ok(answer) = mcphub::hub::filtering::llm::answer::parse_answer(&text, &sent, &categories)
    {
        check_answer(&answer, &sent, &categories);
    }
    // With nothing sent, nothing can be answered.
    if let Ok(answer) = mcphub::hub::filtering::llm::answer::parse_answer(&text, &[], &categories) {
        assert!(answer.guesses.is_empty() && answer.unusable.is_empty());
    }
    // Only a JSON object naming a response's parts gets past the shape extraction.
    let Ok(Value::Object(response)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if !["choices", "content", "candidates", "error"]
        .iter()
        .any(|k| response.contains_key(*k))
    {
        return;
    }
    let provider = FakeProvider::get();
    for p in Provider::ALL {
        match provider.categorize(p, data, &sent, &categories) {
            Ok(answer) => check_answer(&answer, &sent, &categories),
            Err(LlmError::Unparseable(_)) => {}
            Err(e) => panic!("{p}: a 200 answer from the provider ended as: {e}"),
        }
    }
}

fn check_answer(answer: &LlmAnswer, sent: &[String], categories: &[String]) {
    for (id, guess) in &answer.guesses {
        assert!(
            sent.contains(id),
            "parse_answer returned an id not sent: {id:?}"
        );
        assert!(
            categories.contains(&guess.category),
            "parse_answer returned a category not allowed: {:?}",
            guess.category
        );
        assert!(
            (0.0..=1.0).contains(&guess.confidence),
            "confidence {} out of 0..=1",
            guess.confidence
        );
    }
    let mut seen = BTreeSet::new();
    for id in &answer.unusable {
        assert!(sent.contains(id), "an unusable id was not sent: {id:?}");
        assert!(seen.insert(id), "{id:?} listed twice as unusable");
        assert!(
            !answer.guesses.contains_key(id),
            "{id:?} both answered and unusable"
        );
    }
    assert_eq!(
        answer.guesses.len() + answer.unusable.len(),
        sent.iter().collect::<BTreeSet<_>>().len(),
        "every id sent is either answered or unusable"
    );
}

/// A loopback HTTP server that answers every request with the body it is given, and a
/// client per provider pointed at it.
struct FakeProvider {
    rt: tokio::runtime::Runtime,
    body: Arc<Mutex<Vec<u8>>>,
    /// One exchange at a time: the body is shared.
    busy: Mutex<()>,
    clients: BTreeMap<&'static str, LlmClient>,
}

impl FakeProvider {
    fn get() -> &'static FakeProvider {
        static ONE: OnceLock<FakeProvider> = OnceLock::new();
        ONE.get_or_init(FakeProvider::start)
    }

    fn start() -> FakeProvider {
        let rt = runtime();
        let body = Arc::new(Mutex::new(Vec::new()));
        let served = body.clone();
        let app = axum::Router::new().fallback(move || {
            let served = served.clone();
            async move {
                let bytes = served.lock().unwrap_or_else(|p| p.into_inner()).clone();
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    bytes,
                )
            }
        });
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("cannot listen on loopback");
        let port = listener.local_addr().expect("no local address").port();
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let metrics = Arc::new(mcphub::telemetry::metrics::Metrics::new(None));
        let clients = Provider::ALL
            .into_iter()
            .map(|p| {
                let mut settings = LlmSettings::new(p, "fuzz-model");
                settings.base_url = Some(format!("http://127.0.0.1:{port}"));
                settings.request_timeout = ANSWER_DEADLINE;
                settings.retry_count = 0;
                settings.circuit_threshold = u32::MAX;
                let client = rt
                    .block_on(async { LlmClient::new(settings, metrics.clone()) })
                    .expect("cannot build the LLM client");
                (p.as_str(), client)
            })
            .collect();
        FakeProvider {
            rt,
            body,
            busy: Mutex::new(()),
            clients,
        }
    }

    fn categorize(
        &self,
        provider: Provider,
        response: &[u8],
        ids: &[String],
        categories: &[String],
    ) -> Result<LlmAnswer, LlmError> {
        let _one = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        *self.body.lock().unwrap_or_else(|p| p.into_inner()) = response.to_vec();
        let items: Vec<LlmItem> = ids
            .iter()
            .map(|id| LlmItem {
                id: id.clone(),
                tool: mcphub::hub::filtering::category::ToolBrief {
                    server: "fuzz".into(),
                    name: id.clone(),
                    description: "a tool".into(),
                    input_schema: Value::Object(Map::new()),
                },
            })
            .collect();
        let client = &self.clients[provider.as_str()];
        self.rt.block_on(client.categorize(&items, categories))
    }
}

// ----- crontab -----

const CRON_BINARY: &str = "/opt/mcp hub/bin/mcphub";
const CRON_LOG: &str = "/var/log/mcphub 100%.log";

/// `install-cron`'s merge of its block into an existing crontab, its uninstall, and
/// the schedules of the crontab's lines.
pub fn crontab(data: &[u8]) {
    use mcphub::toolkit::cron::{BEGIN, DEFAULT_JOBS, END, merge, render_block};
    let existing = String::from_utf8_lossy(data);
    // Rendered once: it parses every schedule, which is slow enough to matter here.
    static BLOCK: OnceLock<String> = OnceLock::new();
    let block = BLOCK.get_or_init(|| {
        render_block(
            Path::new(CRON_BINARY),
            Path::new(CRON_LOG),
            Some(Path::new("/srv/state's dir")),
            DEFAULT_JOBS,
        )
        .expect("the default block renders")
    });
    let is_begin = |l: &str| l.trim_start().starts_with(BEGIN);
    let is_end = |l: &str| l.trim() == END;

    // Lines as cron reads them: split at `\n` only, a `\r` before it being part of the
    // line. "Kept as it was" is byte for byte.
    let lines: Vec<&str> = cron_lines(&existing);
    let begins: Vec<usize> = (0..lines.len()).filter(|i| is_begin(lines[*i])).collect();
    let ends: Vec<usize> = (0..lines.len()).filter(|i| is_end(lines[*i])).collect();
    let foreign: Vec<&str> = match (begins.as_slice(), ends.as_slice()) {
        ([], []) => lines.clone(),
        ([b], [e]) if b < e => lines[..*b].iter().chain(&lines[e + 1..]).copied().collect(),
        _ => {
            assert!(
                merge(&existing, Some(block)).is_err(),
                "a half block was merged into"
            );
            assert!(merge(&existing, None).is_err(), "a half block was removed");
            return;
        }
    };

    let installed = merge(&existing, Some(block)).expect("a whole block or none merges");
    let out: Vec<&str> = cron_lines(&installed);
    let b: Vec<usize> = (0..out.len()).filter(|i| is_begin(out[*i])).collect();
    let e: Vec<usize> = (0..out.len()).filter(|i| is_end(out[*i])).collect();
    assert!(
        b.len() == 1 && e.len() == 1 && b[0] < e[0],
        "the merged crontab has {} BEGIN and {} END lines",
        b.len(),
        e.len()
    );
    assert_eq!(
        out[b[0]..=e[0]].to_vec(),
        cron_lines(block),
        "the block is not what was rendered"
    );
    let kept: Vec<&str> = out[..b[0]]
        .iter()
        .chain(&out[e[0] + 1..])
        .copied()
        .collect();
    assert_eq!(kept, foreign, "foreign lines were not kept as they were");
    assert!(installed.ends_with('\n'));

    let removed = merge(&existing, None).expect("a whole block or none is removed");
    assert_eq!(
        cron_lines(&removed),
        foreign,
        "uninstalling changed foreign lines"
    );

    // Installing again changes nothing; uninstalling after installing is uninstalling.
    assert_eq!(
        merge(&installed, Some(block)).as_deref(),
        Ok(installed.as_str()),
        "installing twice is not installing once"
    );
    assert_eq!(
        merge(&installed, None).as_deref(),
        Ok(removed.as_str()),
        "install then uninstall is not uninstall"
    );

    // Every line's first five fields as a schedule, as install-cron reads its own.
    for line in lines.iter().take(8) {
        let fields: Vec<&str> = line.split_whitespace().take(5).collect();
        if fields.len() == 5 && !line.trim_start().starts_with('#') {
            let _ = mcphub::toolkit::cron::parse_schedule(&fields.join(" "));
        }
    }
}

fn cron_lines(text: &str) -> Vec<&str> {
    text.split_terminator('\n').collect()
}

// ----- the HTTP front's JSON-RPC -----

/// The hub's HTTP front in process, over a hub with no servers: the bytes as the body
/// of `POST /mcp` outside any session; then, when they are JSON, as a stateless
/// (2026-07-28) request and inside a fresh session. Every answer must be a well-formed
/// HTTP response with a status below 500, in time.
pub fn jsonrpc(data: &[u8]) {
    let front = Front::get();
    front.rt.block_on(async {
        let answer = front.exchange("POST", &[], data).await;
        front.close_session(&answer).await;
        if serde_json::from_slice::<serde::de::IgnoredAny>(data).is_err() {
            assert_eq!(answer.status, 400, "a body that is not JSON is a 400");
            return;
        }
        let stateless = [("mcp-protocol-version", "2026-07-28")];
        let answer = front.exchange("POST", &stateless, data).await;
        front.close_session(&answer).await;

        let session = front.open_session().await;
        let headers = [
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", SESSION_VERSION),
        ];
        let answer = front.exchange("POST", &headers, data).await;
        front.close_session(&answer).await;
        // Closing again (or a session the input already ended) is a 4xx at worst.
        front.exchange("DELETE", &headers[..1], b"").await;
    });
}

/// The protocol revision of the sessions [`jsonrpc`] opens.
const SESSION_VERSION: &str = "2025-06-18";

/// A hub with no servers, its state in the scratch directory's `state`.
fn empty_hub(state: &str) -> Arc<mcphub::hub::lifecycle::Hub> {
    mcphub::hub::lifecycle::Hub::new(
        HubConfig::default(),
        mcphub::hub::lifecycle::HubOptions {
            config_files: mcphub::config::ConfigFiles::Given(vec![]),
            state_dir: mcphub::state::StateDir::new(scratch_dir().join(state)),
            startup_timeout: mcphub::hub::lifecycle::DEFAULT_STARTUP_TIMEOUT,
            marketplace_url: mcphub::hub::marketplace::DEFAULT_REGISTRY_URL.into(),
        },
        Placeholders::from_process().expect("bad MCP_HUB_ENV"),
    )
}

/// An in-memory listener: each exchange hands the server one end of a duplex pipe.
struct MemListener(tokio::sync::mpsc::UnboundedReceiver<tokio::io::DuplexStream>);

impl axum::serve::Listener for MemListener {
    type Io = tokio::io::DuplexStream;
    type Addr = ();

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.0.recv().await {
            Some(io) => (io, ()),
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Front {
    rt: tokio::runtime::Runtime,
    connect: tokio::sync::mpsc::UnboundedSender<tokio::io::DuplexStream>,
}

/// A parsed HTTP response.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Front {
    fn get() -> &'static Front {
        static ONE: OnceLock<Front> = OnceLock::new();
        ONE.get_or_init(Front::start)
    }

    fn start() -> Front {
        let rt = runtime();
        let (connect, accept) = tokio::sync::mpsc::unbounded_channel();
        rt.block_on(async {
            let hub = empty_hub("state");
            hub.set_port(7000);
            hub.start();
            let app = mcphub::front::http::router(
                hub,
                mcphub::front::http::Security::loopback(None),
                tokio_util::sync::CancellationToken::new(),
            );
            tokio::spawn(async move {
                let _ = axum::serve(MemListener(accept), app).await;
            });
        });
        Front { rt, connect }
    }

    /// One request on its own connection; panics unless the answer is a well-formed
    /// HTTP response with a status below 500, in time.
    async fn exchange(&self, method: &str, extra: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut req = format!(
            "{method} /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
             accept: application/json, text/event-stream\r\ncontent-length: {}\r\n\
             connection: close\r\n",
            body.len()
        )
        .into_bytes();
        for (name, value) in extra {
            req.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(body);
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        self.connect
            .send(server)
            .unwrap_or_else(|_| panic!("the front is gone"));
        let talk = async {
            let (mut rd, mut wr) = tokio::io::split(&mut client);
            let write = async {
                // The server may answer (and close) before reading the whole body.
                let _ = wr.write_all(&req).await;
                let _ = wr.flush().await;
            };
            let mut raw = Vec::new();
            let read = rd.read_to_end(&mut raw);
            let (_, r) = tokio::join!(write, read);
            r.map(|_| raw)
        };
        let raw = match tokio::time::timeout(ANSWER_DEADLINE, talk).await {
            Ok(Ok(raw)) => raw,
            Ok(Err(e)) => panic!("{method} /mcp: reading the answer failed: {e}"),
            Err(_) => panic!("{method} /mcp: no whole answer within {ANSWER_DEADLINE:?}"),
        };
        let answer = parse_response(&raw).unwrap_or_else(|why| {
            panic!(
                "{method} /mcp: malformed HTTP response ({why}): {:?}",
                String::from_utf8_lossy(&raw[..raw.len().min(2000)])
            )
        });
        assert!(
            answer.status < 500,
            "{method} /mcp answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body[..answer.body.len().min(2000)])
        );
        check_body(method, &answer);
        answer
    }

    /// Initializes a session the way a client does; returns its id.
    async fn open_session(&self) -> String {
        let init = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}"#;
        let answer = self.exchange("POST", &[], init).await;
        assert_eq!(answer.status, 200, "initialize failed");
        let session = answer
            .header("mcp-session-id")
            .expect("initialize gave no session id")
            .to_owned();
        let headers = [
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", SESSION_VERSION),
        ];
        let done = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        let answer = self.exchange("POST", &headers, done).await;
        assert!(
            answer.status < 300,
            "notifications/initialized: {}",
            answer.status
        );
        session
    }

    /// Sessions an answer opened are closed, so that they do not pile up.
    async fn close_session(&self, answer: &Answer) {
        if let Some(id) = answer.header("mcp-session-id") {
            let id = id.to_owned();
            self.exchange("DELETE", &[("mcp-session-id", id.as_str())], b"")
                .await;
        }
    }
}

/// JSON answers are JSON; each event of an event stream carries JSON.
fn check_body(method: &str, answer: &Answer) {
    let content_type = answer.header("content-type").unwrap_or_default();
    if content_type.starts_with("application/json") && !answer.body.is_empty() {
        assert!(
            serde_json::from_slice::<serde::de::IgnoredAny>(&answer.body).is_ok(),
            "{method} /mcp: a JSON answer that is not JSON: {:?}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    if content_type.starts_with("text/event-stream") {
        for line in String::from_utf8_lossy(&answer.body).lines() {
            if let Some(data) = line.strip_prefix("data:")
                && !data.trim().is_empty()
            {
                assert!(
                    serde_json::from_str::<serde::de::IgnoredAny>(data).is_ok(),
                    "{method} /mcp: an event whose data is not JSON: {data:?}"
                );
            }
        }
    }
}

/// Status line, headers and body (by content-length, chunked, or to the close).
fn parse_response(raw: &[u8]) -> Result<Answer, String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    if !raw.starts_with(b"HTTP/1.1 ") {
        return Err("not an HTTP/1.1 answer".into());
    }
    let status = status_of(&raw[..head_end + 2])?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "headers are not UTF-8")?;
    let mut headers = Vec::new();
    for line in head.split("\r\n").skip(1) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut answer = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[head_end + 4..];
    let chunked = answer
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    if chunked {
        answer.body = dechunk(rest)?;
    } else if let Some(len) = answer.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad content-length {len:?}"))?;
        if rest.len() != len {
            return Err(format!(
                "content-length {len} but {} bytes came",
                rest.len()
            ));
        }
        answer.body = rest.to_vec();
    } else {
        answer.body = rest.to_vec();
    }
    Ok(answer)
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line without its end")?;
        let size_line = std::str::from_utf8(&rest[..eol]).map_err(|_| "a chunk size not UTF-8")?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_line:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            // Trailers (none expected), then the final empty line.
            return if rest.ends_with(b"\r\n") {
                Ok(body)
            } else {
                Err("the last chunk is not closed".into())
            };
        }
        if rest.len() < size + 2 || &rest[size..size + 2] != b"\r\n" {
            return Err("a chunk shorter than its size (cut off?)".into());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

// ----- the HTTP front, from the socket up -----

/// The hub's own accept loop (connection caps, header timeout) and router on a
/// loopback port, over a hub with no servers. The bytes go to a fresh connection as
/// they are, any method, path, header or framing, then its write side is closed. What
/// comes back must be nothing (the hub may just close) or an HTTP/1.1 answer whose head
/// arrives in time, with a status below 500 but for the two a client is told to expect
/// (503: a cap reached; 505: an HTTP version hyper does not speak). HTTP/2's preface
/// gets HTTP/2 frames, not checked here. After it, the hub still answers a health check.
pub fn http_front(data: &[u8]) {
    let socket = Socket::get();
    socket.rt.block_on(async {
        let head = socket.send(data).await;
        let h2 = data.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        if !h2 && !head.is_empty() {
            let status = status_of(&head).unwrap_or_else(|why| {
                panic!(
                    "{why}: {:?}",
                    String::from_utf8_lossy(&head[..head.len().min(2000)])
                )
            });
            assert!(
                status < 500 || status == 503 || status == 505,
                "answered {status}: {:?}",
                String::from_utf8_lossy(&head[..head.len().min(2000)])
            );
        }
        let health = socket
            .send(b"GET /api/health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            .await;
        assert_eq!(status_of(&health), Ok(200), "the hub stopped answering");
    });
}

/// The status of an answer's head.
fn status_of(head: &[u8]) -> Result<u16, String> {
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or("no status line")?;
    let line = std::str::from_utf8(&head[..line_end]).map_err(|_| "status line not UTF-8")?;
    let mut parts = line.splitn(3, ' ');
    if !parts
        .next()
        .is_some_and(|v| v == "HTTP/1.1" || v == "HTTP/1.0")
    {
        return Err(format!("bad status line {line:?}"));
    }
    parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| format!("bad status in {line:?}"))
}

struct Socket {
    rt: tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
}

impl Socket {
    fn get() -> &'static Socket {
        static ONE: OnceLock<Socket> = OnceLock::new();
        ONE.get_or_init(Socket::start)
    }

    fn start() -> Socket {
        // As in the hub's own binary (Rust's `main` does it; libFuzzer's does not): a
        // write to a connection the other side closed is an error, not a SIGPIPE that
        // ends the process.
        // SAFETY: setting a signal's disposition to "ignore" has no preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let rt = runtime();
        let addr = rt.block_on(async {
            let hub = empty_hub("state-http");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port");
            let addr = listener.local_addr().expect("its address");
            hub.set_port(addr.port());
            hub.start();
            let metrics = hub.metrics.clone();
            let app = mcphub::front::http::router(
                hub,
                mcphub::front::http::Security::loopback(None),
                tokio_util::sync::CancellationToken::new(),
            );
            let limits = mcphub::front::http::ConnectionLimits {
                max_connections: mcphub::front::http::DEFAULT_MAX_CONNECTIONS,
                max_per_client: mcphub::front::http::DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
                header_timeout: Duration::from_secs(1),
            };
            tokio::spawn(mcphub::front::http::serve(
                listener,
                app,
                limits,
                metrics,
                std::future::pending(),
            ));
            addr
        });
        Socket { rt, addr }
    }

    /// Writes `bytes` on a new connection and closes its write side; returns what came
    /// back up to the end of the first answer's head (all of it if the hub closed
    /// first). An answer may be a stream that never ends, so its body is not awaited.
    async fn send(&self, bytes: &[u8]) -> Vec<u8> {
        let mut tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("the front accepts");
        let talk = async {
            let (mut rd, mut wr) = tcp.split();
            let write = async {
                // The hub may answer (and close) before reading everything.
                let _ = wr.write_all(bytes).await;
                let _ = wr.shutdown().await;
            };
            let read = async {
                let mut got = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    match rd.read(&mut buf).await {
                        Ok(0) | Err(_) => return got,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        return got;
                    }
                }
            };
            tokio::join!(write, read).1
        };
        tokio::time::timeout(ANSWER_DEADLINE, talk)
            .await
            .unwrap_or_else(|_| panic!("no answer and no close within {ANSWER_DEADLINE:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse() {
        let a = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi").unwrap();
        assert_eq!((a.status, a.body.as_slice()), (200, &b"hi"[..]));
        let a = parse_response(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n1\r\n!\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(a.body, b"hi!");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nhi").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhi")
                .is_err()
        );
    }
}
