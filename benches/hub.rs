//! mcphub against its peer, the npm `mcp-hub` (pinned in tests/integration/deps.rs),
//! in one run, printed as one markdown table with both figures, their ratio and the
//! benchmark issue's target where there is one. Whatever compares the two hubs is
//! interleaved: the same load alternates between them in rounds (who goes first
//! alternates too) so that drift on a shared machine hits both. Hub CPU and RSS come
//! from /proc (the client's cost does not count). Nothing here asserts on time.
//!
//! - hub CPU per proxied REST call and per `/api/health`;
//! - latency at concurrency 1: a direct MCP call to the fixture over stdio (rmcp's
//!   client, the transport both hubs use to reach it) against the same call through
//!   each hub's REST API; mcphub's own MCP endpoint too (mcp-hub 4.2.1's `/mcp` is
//!   the legacy SSE transport, which rmcp's client does not speak);
//! - throughput (REST calls/s) at concurrency 1, 16 and 64, fast fixture backend and
//!   the real `@modelcontextprotocol/server-everything`;
//! - RSS idle, after 100k calls, and with 26 stdio backends exposing 360 tools;
//! - time from start to `ready` with those 26 backends, next to the slowest one's own
//!   start-up alone;
//! - the toolkit (mcphub only): `check-alerts` and `validate` wall time against a live
//!   hub, `detect-anomalies` and `summary` over a generated 1 GB log (MB/s, peak RSS).
//!
//! `cargo bench --bench hub` (release, about 3 minutes on 2 quiet cores);
//! `cargo bench --bench hub --profile dev -- --quick` (a short run, for CI).
//!
//! Then the same fixture behind the floor (a relay that only moves the bytes), mcphub,
//! supergateway, FastMCP and mcp-hub, at the MCP level (hub/peers.rs); `-- --peers`
//! runs that part alone.
//!
//! `cargo bench --bench hub -- --scale`: mcphub alone with 100 backends and 20,000
//! tools (tools/list, /api/health, time to ready, RSS, 1,000 sessions, concurrency
//! 256, the toolkit), against the performance issue's scale targets.
//!
//! `cargo bench --bench hub -- --hostile 10`: ten minutes (the number is minutes) of
//! every hostile peer at once (half-open connections, sessions never closed, a log
//! flood, oversized answers) while a well-behaved client calls; its p99 against its
//! quiet p99, RSS and descriptors after against before; exits 1 if they stay up.
//!
//! `cargo bench --bench hub -- --link-order link/hot-functions.txt`: the functions a
//! start and a working session run, for the linker to lay out together (hub/link_order.rs).
//!
//! `cargo bench --bench hub -- --soak 60`: an hour (the number is minutes) of steady
//! load on mcphub alone (REST calls from 8 clients, MCP sessions opened, used and
//! closed all along), RSS and open file descriptors sampled; it says whether either
//! grows, and exits 1 if one does.

// The same pinned peer the integration tests install, from the same code.
#[path = "../tests/integration/deps.rs"]
#[allow(dead_code)]
mod deps;
#[path = "hub/link_order.rs"]
mod link_order;
#[path = "hub/peers.rs"]
mod peers;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

const HUB: &str = env!("CARGO_BIN_EXE_mcphub");
const FIXTURE: &str = env!("CARGO_BIN_EXE_mcphub-fixture-server");

/// Copies of the two binaries taken when a run starts: a `cargo build` elsewhere in
/// the checkout cannot swap them halfway through.
static BINS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();

fn hub_bin() -> PathBuf {
    BINS.get().map_or_else(|| HUB.into(), |b| b.0.clone())
}

fn fixture_bin() -> PathBuf {
    BINS.get().map_or_else(|| FIXTURE.into(), |b| b.1.clone())
}

/// utime + stime of a process, in seconds (the hub's own sampler, as `measure` uses it).
fn cpu_seconds(pid: u32) -> f64 {
    mcphub::telemetry::sample_process(pid).map_or(0.0, |s| s.cpu_seconds)
}

/// Resident size of a process, in MiB.
fn rss_mb(pid: u32) -> f64 {
    mcphub::telemetry::sample_process(pid).map_or(0.0, |s| s.rss_bytes as f64 / 1_048_576.0)
}

/// The hub's `/metrics` text, empty if it did not answer.
async fn metrics_text(http: &reqwest::Client, base: &str) -> String {
    match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The sum of a metric's samples (all its label sets) in a `/metrics` text.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        // Not `sum()`: an empty float sum is -0, printed as "-0" when nothing was
        // dropped.
        .fold(0.0, |total, v| total + v)
}

/// The heap's live data and the free heap the allocator keeps, in MiB.
fn heap_mb(metrics: &str) -> (f64, f64) {
    (
        sample(metrics, "mcphub_heap_in_use_bytes") / 1_048_576.0,
        sample(metrics, "mcphub_heap_free_bytes") / 1_048_576.0,
    )
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// Anonymous (heap, stacks) and file-backed (the binary's own code pages, mostly)
/// resident MiB of a process, from /proc/PID/status.
fn anon_and_file_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("RssAnon:") / 1024.0, kib("RssFile:") / 1024.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ours,
    Peer,
}

struct Hub {
    name: &'static str,
    child: Child,
    base: String,
    /// mcphub's state directory (the toolkit reads it); unused for the peer.
    state: PathBuf,
}

impl Hub {
    fn pid(&self) -> u32 {
        self.child.id().expect("hub running")
    }

    fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the hub's port")
    }

    /// SIGTERM, then SIGKILL if it is still there after 5 s: a hub that stops
    /// cleanly takes its stdio backends with it.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

fn write_config(dir: &Path, name: &str, servers: Value) -> PathBuf {
    std::fs::create_dir_all(dir).expect("config dir");
    let config = dir.join(name);
    std::fs::write(&config, json!({ "mcpServers": servers }).to_string())
        .expect("writing the config");
    config
}

fn fixture_entry(name: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--name", name];
    args.extend_from_slice(extra);
    json!({"command": fixture_bin(), "args": args})
}

/// Starts one hub on `config`. `quiet` sets RUST_LOG=warn (the soak: no log line per
/// call); otherwise mcphub runs with its default log level, as users run it.
fn start_hub(kind: Kind, dir: &Path, config: &Path, quiet: bool) -> Hub {
    start_hub_with(kind, dir, config, quiet, &[])
}

/// `start_hub` with more of mcphub's flags (`extra` is ignored for the peer).
fn start_hub_with(kind: Kind, dir: &Path, config: &Path, quiet: bool, extra: &[&str]) -> Hub {
    std::fs::create_dir_all(dir).expect("hub dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let state = dir.join("mcphub-state");
    let child = match kind {
        Kind::Ours => {
            let mut cmd = Command::new(hub_bin());
            cmd.args(["serve", "--port", &port.to_string(), "-c"])
                .arg(config)
                .arg("--state-dir")
                .arg(&state)
                .args(extra);
            if quiet {
                cmd.env("RUST_LOG", "warn");
            } else {
                cmd.env_remove("RUST_LOG");
            }
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("starting mcphub")
        }
        Kind::Peer => {
            let home = dir.join("peer-home");
            std::fs::create_dir_all(&home).expect("peer home");
            Command::new(deps::deps().npm_bin("mcp-hub"))
                .args(["--port", &port.to_string(), "--config"])
                .arg(config)
                .env("HOME", &home)
                .env_remove("XDG_STATE_HOME")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("starting mcp-hub")
        }
    };
    Hub {
        name: if kind == Kind::Ours {
            "mcphub"
        } else {
            "mcp-hub"
        },
        child,
        base,
        state,
    }
}

/// `state: "ready"` (both hubs say it) with `servers` servers connected.
fn is_ready(h: &Value, servers: usize) -> bool {
    let connected = h["servers"].as_array().map_or(0, |s| {
        s.iter().filter(|s| s["status"] == "connected").count()
    });
    h["state"] == "ready" && connected == servers
}

/// Tools in a health answer, counting those of servers whose lists mcphub summarized.
fn tools_of(h: &Value) -> usize {
    h["servers"].as_array().map_or(0, |s| {
        s.iter()
            .map(|s| {
                let c = &s["capabilities"];
                c["summarized"]["tools"]
                    .as_u64()
                    .map_or_else(|| c["tools"].as_array().map_or(0, Vec::len), |n| n as usize)
            })
            .sum()
    })
}

async fn health(http: &reqwest::Client, hub: &Hub) -> Option<Value> {
    let r = http
        .get(format!("{}/api/health", hub.base))
        .send()
        .await
        .ok()?;
    r.json::<Value>().await.ok()
}

/// Polls `/api/health` every `every` until ready; returns the health seen then.
async fn wait_ready(http: &reqwest::Client, hub: &Hub, servers: usize, every: Duration) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(h) = health(http, hub).await
            && is_ready(&h, servers)
        {
            return h;
        }
        assert!(Instant::now() < deadline, "{} never became ready", hub.name);
        tokio::time::sleep(every).await;
    }
}

/// Waits until `hub` says `ready` on `/api/events` (mcp-hub's `hub_state` event, as
/// its editor plugin hears it), connecting as soon as it listens. Unlike polling
/// `/api/health` (2 MB at scale), this costs neither the hub nor this process CPU that
/// the start-up competes for.
async fn heard_ready(http: &reqwest::Client, hub: &Hub) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut events = loop {
        match http.get(format!("{}/api/events", hub.base)).send().await {
            Ok(r) if r.status().is_success() => break r,
            _ => {
                assert!(Instant::now() < deadline, "{} never listened", hub.name);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    let mut text = String::new();
    while let Some(chunk) = events.chunk().await.expect("the event stream") {
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if event.contains("event: hub_state") && event.contains(r#""state":"ready""#) {
                return;
            }
        }
    }
    panic!("{}'s event stream ended before it was ready", hub.name);
}

#[derive(Default)]
struct Figures {
    call_latencies_us: Vec<f64>,
    call_cpu_s: f64,
    health_cpu_s: f64,
    healths: usize,
}

impl Figures {
    fn calls(&self) -> usize {
        self.call_latencies_us.len()
    }
}

async fn calls(http: &reqwest::Client, hub: &Hub, n: usize, f: &mut Figures) {
    let body = json!({"server_name": "bench", "tool": "echo", "arguments": {"text": "hello"}});
    let cpu0 = cpu_seconds(hub.pid());
    for _ in 0..n {
        let t = Instant::now();
        let r = http
            .post(format!("{}/api/servers/tools", hub.base))
            .json(&body)
            .send()
            .await
            .expect("a tool call");
        assert!(
            r.status().is_success(),
            "{} answered {}",
            hub.name,
            r.status()
        );
        r.bytes().await.expect("the answer");
        f.call_latencies_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    f.call_cpu_s += cpu_seconds(hub.pid()) - cpu0;
}

async fn healths(http: &reqwest::Client, hub: &Hub, n: usize, f: &mut Figures) {
    let cpu0 = cpu_seconds(hub.pid());
    for _ in 0..n {
        let r = http
            .get(format!("{}/api/health", hub.base))
            .send()
            .await
            .expect("health");
        r.bytes().await.expect("health body");
    }
    f.health_cpu_s += cpu_seconds(hub.pid()) - cpu0;
    f.healths += n;
}

type McpClient = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// `n` sequential `tools/call` of `tool` (an echo taking `text`), latencies in µs.
async fn mcp_calls(client: &McpClient, tool: &'static str, n: usize, out: &mut Vec<f64>) {
    let args = json!({"text": "hello"}).as_object().cloned();
    for _ in 0..n {
        let mut p = rmcp::model::CallToolRequestParams::new(tool);
        p.arguments = args.clone();
        let t = Instant::now();
        let r = client.peer().call_tool(p).await.expect("an MCP tool call");
        out.push(t.elapsed().as_secs_f64() * 1e6);
        assert_ne!(r.is_error, Some(true), "{tool} failed");
    }
}

/// A fixture over stdio with rmcp's client; returns once its initialize answer came.
async fn fixture_stdio(extra: &[&str]) -> (Child, McpClient) {
    let mut child = Command::new(fixture_bin())
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the fixture");
    let out = child.stdout.take().expect("fixture stdout");
    let inp = child.stdin.take().expect("fixture stdin");
    let client = ().serve((out, inp)).await.expect("fixture initialize");
    (child, client)
}

/// A fixture over streamable HTTP named `name` (`--http 0`, it prints its address),
/// and its `/mcp` address.
async fn spawn_fixture_http(name: &str) -> (Child, String) {
    let mut child = Command::new(fixture_bin())
        .args(["--name", name, "--http", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the HTTP fixture");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = lines
        .next_line()
        .await
        .ok()
        .flatten()
        .expect("the fixture's address");
    let addr = line
        .strip_prefix("listening on ")
        .expect("`listening on ADDR`")
        .trim()
        .to_owned();
    (child, format!("http://{addr}/mcp"))
}

/// A fixture over streamable HTTP with rmcp's client; returns once its initialize
/// answer came.
async fn fixture_http() -> (Child, McpClient) {
    let (child, url) = spawn_fixture_http("bench").await;
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url);
    let client = ().serve(transport).await.expect("HTTP fixture initialize");
    (child, client)
}

async fn hub_mcp(hub: &Hub) -> McpClient {
    let transport =
        rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{}/mcp", hub.base));
    ().serve(transport).await.expect("mcphub /mcp initialize")
}

/// `total` REST calls from `conc` concurrent clients; (seconds, failed calls).
async fn load(
    http: &reqwest::Client,
    hub: &Hub,
    body: &Value,
    total: usize,
    conc: usize,
) -> (f64, u64) {
    let url = Arc::new(format!("{}/api/servers/tools", hub.base));
    let body = Arc::new(body.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..conc {
        let (http, url, body, next, failed) = (
            http.clone(),
            url.clone(),
            body.clone(),
            next.clone(),
            failed.clone(),
        );
        set.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let ok = match http.post(url.as_str()).json(&*body).send().await {
                    Ok(r) => {
                        let status = r.status().is_success();
                        r.bytes().await.is_ok() && status
                    }
                    Err(_) => false,
                };
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    (t.elapsed().as_secs_f64(), failed.load(Ordering::Relaxed))
}

const LEVELS: [usize; 3] = [1, 16, 64];

#[derive(Default, Clone, Copy)]
struct Throughput {
    secs: [f64; 3],
    failed: [u64; 3],
}

/// `per_level` calls at each concurrency level per hub, in interleaved rounds.
async fn throughput(
    http: &reqwest::Client,
    hubs: [&Hub; 2],
    body: &Value,
    per_level: usize,
    rounds: usize,
) -> [Throughput; 2] {
    // Warm-up (JIT, connection pools, the backend) before anything counts.
    for hub in hubs {
        load(http, hub, body, per_level / 10 + 50, 16).await;
    }
    let mut t = [Throughput::default(); 2];
    for round in 0..rounds {
        for (li, &conc) in LEVELS.iter().enumerate() {
            let order = if (round + li) % 2 == 0 {
                [0, 1]
            } else {
                [1, 0]
            };
            for w in order {
                let (s, f) = load(http, hubs[w], body, per_level / rounds, conc).await;
                t[w].secs[li] += s;
                t[w].failed[li] += f;
            }
        }
    }
    t
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

fn median(v: &[f64]) -> f64 {
    percentile(&mut v.to_vec(), 0.5)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// One well-behaved REST call of `calm`'s echo; its latency in µs, `None` if it failed.
async fn calm_call(http: &reqwest::Client, base: &str) -> Option<f64> {
    let body = json!({"server_name": "calm", "tool": "echo", "arguments": {"text": "calm"}});
    let t = Instant::now();
    let r = http
        .post(format!("{base}/api/servers/tools"))
        .json(&body)
        .send()
        .await
        .ok()?;
    let ok = r.status().is_success();
    r.bytes().await.ok()?;
    ok.then(|| t.elapsed().as_secs_f64() * 1e6)
}

/// How long the well-behaved client calls.
enum Calm {
    Calls(usize),
    Until(Instant),
}

struct CalmRun {
    latencies_us: Vec<f64>,
    failed: u64,
    peak_rss: f64,
    peak_fds: usize,
}

/// The well-behaved client, on a thread and a runtime of its own, as a client in a
/// process of its own would be: the attackers share the bench's runtime, and their
/// work there (rmcp's client reading 20,000 log messages a flood) would otherwise
/// delay the client's tasks and count as the hub's latency. Samples the hub's RSS and
/// open descriptors between calls, every half second.
async fn calm_client(base: String, pid: u32, calm: Calm) -> CalmRun {
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the client's runtime");
        runtime.block_on(async {
            let http = reqwest::Client::new();
            let mut run = CalmRun {
                latencies_us: Vec::new(),
                failed: 0,
                peak_rss: 0.0,
                peak_fds: 0,
            };
            let mut sampled = Instant::now() - Duration::from_secs(1);
            loop {
                let more = match calm {
                    Calm::Calls(n) => run.latencies_us.len() + (run.failed as usize) < n,
                    Calm::Until(end) => Instant::now() < end,
                };
                if !more {
                    return run;
                }
                if sampled.elapsed() >= Duration::from_millis(500) {
                    run.peak_rss = run.peak_rss.max(rss_mb(pid));
                    run.peak_fds = run.peak_fds.max(open_fds(pid));
                    sampled = Instant::now();
                }
                match calm_call(&http, &base).await {
                    Some(us) => run.latencies_us.push(us),
                    None => run.failed += 1,
                }
            }
        })
    })
    .await
    .expect("the well-behaved client")
}

/// `--hostile MINUTES`: mcphub under every hostile peer of the bounds issue at once
/// while a well-behaved client calls a quiet backend: connections that never finish
/// their headers, sessions opened and never closed, a server flooding log messages at
/// a session, answers over the server's message limit. The well-behaved client's p99
/// is compared with its p99 before the attack, and RSS and open descriptors after it
/// (once idle sessions expired) with before. Exits 1 if RSS or descriptors stay up.
async fn hostile(minutes: f64) -> bool {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut noisy = fixture_entry("noisy", &[]);
    noisy["maxMessageBytes"] = json!(65536);
    let config = write_config(
        dir.path(),
        "servers.json",
        json!({"calm": fixture_entry("calm", &[]), "noisy": noisy}),
    );
    let hub = start_hub_with(
        Kind::Ours,
        dir.path(),
        &config,
        true,
        &[
            "--session-idle-timeout",
            "5s",
            "--max-sessions",
            "200",
            "--header-timeout",
            "2s",
        ],
    );
    let http = reqwest::Client::new();
    wait_ready(&http, &hub, 2, Duration::from_millis(50)).await;
    let pid = hub.pid();
    let quiet = calm_client(hub.base.clone(), pid, Calm::Calls(3000))
        .await
        .latencies_us;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_before, fds_before) = (rss_mb(pid), open_fds(pid));
    let split_before = anon_and_file_mb(pid);
    let heap_before = heap_mb(&metrics_text(&http, &hub.base).await);
    let threads_before = threads(pid);
    println!(
        "mcphub under hostile peers for {minutes} min, {} UTC, {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        machine()
    );
    let end = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let counts: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let mut attacks = tokio::task::JoinSet::new();
    let port = hub.port();
    {
        // Half a request header, held open, from another loopback address.
        let counts = counts.clone();
        attacks.spawn(async move {
            let mut held = std::collections::VecDeque::new();
            while Instant::now() < end {
                let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
                let _ = socket.bind("127.0.0.2:0".parse().expect("an address"));
                if let Ok(mut tcp) = socket
                    .connect(format!("127.0.0.1:{port}").parse().expect("an address"))
                    .await
                {
                    use tokio::io::AsyncWriteExt;
                    let _ = tcp.write_all(b"GET /api/health HTTP/1.1\r\nx-slow: ").await;
                    held.push_back(tcp);
                    counts[0].fetch_add(1, Ordering::Relaxed);
                }
                if held.len() > 300 {
                    held.pop_front();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    {
        // Sessions opened and never closed, from a third address.
        let (counts, base) = (counts.clone(), hub.base.clone());
        attacks.spawn(async move {
            let opener = reqwest::Client::builder()
                .local_address("127.0.0.3".parse::<std::net::IpAddr>().ok())
                .build()
                .expect("a client");
            while Instant::now() < end {
                let r = initialize(&opener, &base).send().await;
                if let Ok(r) = r {
                    let _ = r.bytes().await;
                    counts[1].fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
    }
    {
        // A server flooding log messages at a session (20,000 of 1 kB per call).
        let (counts, url) = (counts.clone(), format!("{}/mcp", hub.base));
        attacks.spawn(async move {
            let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url);
            let client = ().serve(transport).await.expect("a session");
            while Instant::now() < end {
                let mut p = rmcp::model::CallToolRequestParams::new("noisy__flood");
                p.arguments = json!({"count": 20000, "bytes": 1000}).as_object().cloned();
                // Bounded: a lost answer must show as a short count, not hang the run.
                let _ = tokio::time::timeout(Duration::from_secs(120), client.peer().call_tool(p))
                    .await;
                counts[2].fetch_add(1, Ordering::Relaxed);
            }
            // Bounded too: rmcp's client has been seen never to finish closing a session
            // whose stream it stopped reading mid-flood (the hub had answered).
            let _ = tokio::time::timeout(Duration::from_secs(10), client.cancel()).await;
        });
    }
    {
        // Answers of 200 kB from a server whose limit is 64 KiB.
        let (counts, http, base) = (counts.clone(), http.clone(), hub.base.clone());
        attacks.spawn(async move {
            let body = json!({"server_name": "noisy", "tool": "echo",
                "arguments": {"text": "0123456789", "times": 20000}});
            while Instant::now() < end {
                if let Ok(r) = http
                    .post(format!("{base}/api/servers/tools"))
                    .json(&body)
                    .send()
                    .await
                {
                    let _ = r.bytes().await;
                    counts[3].fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    let CalmRun {
        latencies_us: under,
        failed,
        peak_rss,
        peak_fds,
    } = calm_client(hub.base.clone(), pid, Calm::Until(end)).await;
    while attacks.join_next().await.is_some() {}
    // Idle sessions expire (5 s here), half-open connections were dropped.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (rss_after, fds_after) = (rss_mb(pid), open_fds(pid));
    let split_after = anon_and_file_mb(pid);
    let metrics = metrics_text(&http, &hub.base).await;
    let heap_after = heap_mb(&metrics);
    let threads_after = threads(pid);
    let sessions_after = health(&http, &hub)
        .await
        .map_or(-1, |h| h["activeClients"].as_i64().unwrap_or(-1));
    hub.stop().await;
    let (p99_quiet, p99_under) = (
        percentile(&mut quiet.clone(), 0.99),
        percentile(&mut under.clone(), 0.99),
    );
    let rss_flat = rss_after <= rss_before * 1.10 + 2.0;
    let fds_flat = fds_after <= fds_before + 2;
    println!();
    println!("| metric | value | target |");
    println!("|---|---|---|");
    println!(
        "| well-behaved REST call p99, quiet / under attack (µs) | {p99_quiet:.0} / {p99_under:.0} | {} |",
        at_most(p99_under, 2.0 * p99_quiet, "within 2× of quiet")
    );
    println!(
        "| well-behaved calls under attack: done / failed | {} / {failed} | none fail |",
        under.len()
    );
    println!(
        "| half-open connections / sessions opened / floods of 20,000 logs / oversized answers | {} / {} / {} / {} | — |",
        counts[0].load(Ordering::Relaxed),
        counts[1].load(Ordering::Relaxed),
        counts[2].load(Ordering::Relaxed),
        counts[3].load(Ordering::Relaxed)
    );
    println!(
        "| log messages dropped and counted / connections refused past the caps | {:.0} / {:.0} | — |",
        sample(&metrics, "mcphub_notifications_dropped_total"),
        sample(&metrics, "mcphub_http_connections_refused_total")
    );
    println!(
        "| RSS before / peak / after (MB) | {rss_before:.1} / {peak_rss:.1} / {rss_after:.1} | {} |",
        if rss_flat {
            "flat — met"
        } else {
            "grew — not met"
        }
    );
    println!(
        "| of which heap and stacks / the binary's pages and other files, before → after (MB) | {:.1} → {:.1} / {:.1} → {:.1} | — |",
        split_before.0, split_after.0, split_before.1, split_after.1
    );
    println!(
        "| the heap's live data / free bytes it keeps, before → after (MB) | {:.1} → {:.1} / {:.1} → {:.1} | — |",
        heap_before.0, heap_after.0, heap_before.1, heap_after.1
    );
    println!(
        "| sessions still open after (`activeClients`); threads before → after | {sessions_after}; {threads_before} → {threads_after} | — |"
    );
    println!(
        "| open fds before / peak / after | {fds_before} / {peak_fds} / {fds_after} | {} |",
        if fds_flat {
            "flat — met"
        } else {
            "grew — not met"
        }
    );
    rss_flat && fds_flat
}

/// Steady load for `minutes`, sampling the hub's RSS and open descriptors.
async fn soak(minutes: f64) -> bool {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        "servers.json",
        json!({"bench": fixture_entry("bench", &[])}),
    );
    let ours = start_hub(Kind::Ours, dir.path(), &config, true);
    let http = reqwest::Client::new();
    wait_ready(&http, &ours, 1, Duration::from_millis(50)).await;
    let pid = ours.pid();
    let end = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let calls = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (http, base, calls, failures) = (
            http.clone(),
            ours.base.clone(),
            calls.clone(),
            failures.clone(),
        );
        load.spawn(async move {
            let body =
                json!({"server_name": "bench", "tool": "echo", "arguments": {"text": "soak"}});
            // About 100 calls a second per client: steady, not flat out.
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            while Instant::now() < end {
                tick.tick().await;
                let ok = match http
                    .post(format!("{base}/api/servers/tools"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                let counter = if ok { &calls } else { &failures };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    {
        // MCP sessions come and go: per-session state must not pile up.
        let url = format!("{}/mcp", ours.base);
        load.spawn(async move {
            while Instant::now() < end {
                let transport =
                    rmcp::transport::StreamableHttpClientTransport::from_uri(url.clone());
                if let Ok(client) = ().serve(transport).await {
                    let _ = client.peer().list_all_tools().await;
                    let mut p = rmcp::model::CallToolRequestParams::new("bench__echo");
                    p.arguments = json!({"text": "session"}).as_object().cloned();
                    let _ = client.peer().call_tool(p).await;
                    let _ = client.cancel().await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
    let every = Duration::from_secs_f64((minutes * 60.0 / 30.0).clamp(1.0, 60.0));
    let mut samples: Vec<(f64, u64, f64, usize)> = Vec::new();
    let started = Instant::now();
    println!("| minute | calls | RSS (MB) | open fds |");
    println!("|---|---|---|---|");
    while Instant::now() < end {
        tokio::time::sleep(every).await;
        let row = (
            started.elapsed().as_secs_f64() / 60.0,
            calls.load(Ordering::Relaxed),
            rss_mb(pid),
            open_fds(pid),
        );
        println!("| {:.1} | {} | {:.1} | {} |", row.0, row.1, row.2, row.3);
        samples.push(row);
    }
    while load.join_next().await.is_some() {}
    // Warm-up (first quarter) aside: the last quarter against the second.
    let q = (samples.len() / 4).max(1);
    let mean = |s: &[(f64, u64, f64, usize)], f: fn(&(f64, u64, f64, usize)) -> f64| {
        s.iter().map(f).sum::<f64>() / s.len().max(1) as f64
    };
    let early = &samples[q.min(samples.len())..(2 * q).min(samples.len())];
    let late = &samples[samples.len().saturating_sub(q)..];
    let (rss0, rss1) = (mean(early, |r| r.2), mean(late, |r| r.2));
    let (fd0, fd1) = (mean(early, |r| r.3 as f64), mean(late, |r| r.3 as f64));
    let rss_grows = rss1 > rss0 * 1.10 + 1.0;
    let fds_grow = fd1 > fd0 + 2.0;
    println!(
        "soak {minutes} min: {} calls ({} failed); RSS {rss0:.1} → {rss1:.1} MB ({}); open fds {fd0:.1} → {fd1:.1} ({})",
        calls.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        if rss_grows { "GROWS" } else { "steady" },
        if fds_grow { "GROW" } else { "steady" },
    );
    !rss_grows && !fds_grow
}

/// How much of everything a run does; `--quick` scales it down.
struct Plan {
    quick: bool,
    /// Sequential phase: rounds × calls (and health requests) per round.
    rounds: usize,
    per_round: usize,
    /// Throughput: calls per concurrency level per hub, split over rounds.
    tp_calls: usize,
    tp_everything_calls: usize,
    tp_rounds: usize,
    /// REST calls per hub before "RSS after the calls".
    loaded_calls: usize,
    /// Hub starts per hub with the 26 backends; fixture starts per backend alone.
    ready_reps: usize,
    startup_reps: usize,
    toolkit_runs: usize,
    log_bytes: u64,
    log_runs: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                rounds: 4,
                per_round: 50,
                tp_calls: 400,
                tp_everything_calls: 200,
                tp_rounds: 2,
                loaded_calls: 5_000,
                ready_reps: 2,
                startup_reps: 1,
                toolkit_runs: 20,
                log_bytes: 50_000_000,
                log_runs: 2,
            }
        } else {
            Plan {
                quick,
                rounds: 10,
                per_round: 1000,
                tp_calls: 20_000,
                tp_everything_calls: 10_000,
                tp_rounds: 4,
                loaded_calls: 100_000,
                ready_reps: 5,
                startup_reps: 3,
                toolkit_runs: 20,
                log_bytes: 1_000_000_000,
                log_runs: 3,
            }
        }
    }
}

/// One line of the printed table.
struct Row {
    metric: String,
    ours: String,
    peer: String,
    ratio: String,
    target: String,
}

fn row(
    metric: impl Into<String>,
    ours: String,
    peer: String,
    ratio: String,
    target: String,
) -> Row {
    Row {
        metric: metric.into(),
        ours,
        peer,
        ratio,
        target,
    }
}

/// A figure both hubs have, to one decimal, with their ratio and the target's verdict.
fn pair(metric: impl Into<String>, ours: f64, peer: f64, target: String) -> Row {
    row(
        metric,
        format!("{ours:.1}"),
        format!("{peer:.1}"),
        ratio(ours, peer),
        target,
    )
}

/// A figure of the setup, the same for both hubs.
fn same(metric: impl Into<String>, value: String) -> Row {
    row(metric, value, "(same)".into(), none(), none())
}

/// A figure only mcphub has.
fn ours_only(metric: impl Into<String>, value: String, target: String) -> Row {
    row(metric, value, none(), none(), target)
}

fn ratio(ours: f64, theirs: f64) -> String {
    if theirs > 0.0 && ours.is_finite() && theirs.is_finite() {
        format!("{:.3}", ours / theirs)
    } else {
        "N/A".into()
    }
}

fn at_most(value: f64, limit: f64, text: &str) -> String {
    if value <= limit {
        format!("{text} — met")
    } else {
        format!("{text} — not met ({:.1}× the limit)", value / limit)
    }
}

fn at_least(value: f64, limit: f64, text: &str) -> String {
    if value >= limit {
        format!("{text} — met")
    } else {
        format!("{text} — not met ({:.2} of it)", value / limit)
    }
}

fn none() -> String {
    "—".into()
}

/// Where and on what this ran, for the record.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gb = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {mem_gb:.0} GiB RAM, Linux {}, load {}",
        kernel.trim(),
        load_average()
    )
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split(' ')
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The 26 backends of the issue: fixtures with `--vague-tools`, 8 + N tools each,
/// 360 in all (22 × 14 + 4 × 13).
fn many_backends() -> Vec<(String, usize)> {
    (1..=26)
        .map(|i| (format!("s{i:02}"), if i <= 22 { 6 } else { 5 }))
        .collect()
}

/// A toolkit command's wall time and peak RSS (via /usr/bin/time when present).
struct Run {
    wall_s: f64,
    code: Option<i32>,
    peak_rss_mb: Option<f64>,
    stdout: String,
}

fn run_toolkit(args: &[&str], time_file: Option<&Path>) -> Run {
    let mut cmd = match time_file {
        Some(f) => {
            let mut c = std::process::Command::new("/usr/bin/time");
            c.arg("-f").arg("%M").arg("-o").arg(f).arg(hub_bin());
            c
        }
        None => std::process::Command::new(hub_bin()),
    };
    cmd.args(args)
        .env_remove("MCPHUB_URL")
        .env_remove("MCPHUB_TOKEN")
        .env_remove("MCPHUB_STATE_DIR")
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    let t = Instant::now();
    let out = cmd.output().expect("running the toolkit");
    let wall_s = t.elapsed().as_secs_f64();
    // GNU time's last line is %M (kB), after a "Command exited with …" line if any.
    let peak_rss_mb = time_file.and_then(|f| {
        std::fs::read_to_string(f)
            .ok()?
            .lines()
            .last()?
            .trim()
            .parse::<f64>()
            .ok()
            .map(|kb| kb / 1024.0)
    });
    Run {
        wall_s,
        code: out.status.code(),
        peak_rss_mb,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// `check-alerts` and `validate` against a live `hub`: each run once to warm the page
/// cache, then `runs` times; the median wall time (ms) and the last exit status.
fn toolkit_walls(hub: &Hub, runs: usize) -> Vec<(&'static str, f64, Option<i32>)> {
    let state = hub.state.to_str().expect("utf-8 path");
    ["check-alerts", "validate"]
        .into_iter()
        .map(|cmd| {
            let args = [cmd, "--hub", hub.base.as_str(), "--state-dir", state];
            run_toolkit(&args, None);
            let mut walls = Vec::new();
            let mut code = None;
            for _ in 0..runs {
                let r = run_toolkit(&args, None);
                walls.push(r.wall_s * 1e3);
                code = r.code;
            }
            (cmd, median(&walls), code)
        })
        .collect()
}

/// A generated hub log: its size and the byte offset where each UTC day starts.
struct Log {
    bytes: u64,
    day_starts: Vec<(chrono::NaiveDate, u64)>,
}

impl Log {
    /// Bytes a scan from the start of `day` to the end reads (0 if the day is not in it).
    fn bytes_since(&self, day: chrono::NaiveDate) -> u64 {
        match self.day_starts.iter().find(|(d, _)| *d >= day) {
            Some((_, off)) => self.bytes - off,
            None => 0,
        }
    }
}

/// Writes about `bytes` of JSON lines in the hub's log format (tracing's JSON layer,
/// flattened: `timestamp` RFC 3339 in µs, `level`, `message`, `event`, fields), in
/// time order over the last 23 h 50 min: tool calls (1 in 200 failing), and a
/// disconnect/reconnect pair every 1000 lines, over the 26 servers.
fn generate_log(state: &Path, bytes: u64) -> Log {
    let dir = state.join("logs");
    std::fs::create_dir_all(&dir).expect("log dir");
    let file = std::fs::File::create(dir.join("mcp-hub.log")).expect("log file");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let servers: Vec<String> = many_backends().into_iter().map(|(n, _)| n).collect();
    const TOOLS: [&str; 8] = [
        "echo",
        "add",
        "search",
        "read_file",
        "write_file",
        "list_directory",
        "query",
        "fetch",
    ];
    let now_us = chrono::Utc::now().timestamp_micros();
    let span_us = (23 * 3600 + 50 * 60) as i64 * 1_000_000;
    let t0 = now_us - span_us;
    let mut written = 0u64;
    let mut line = String::with_capacity(512);
    let mut minute = i64::MIN;
    let mut prefix = String::new();
    let mut day_starts: Vec<(chrono::NaiveDate, u64)> = Vec::new();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut i = 0u64;
    while written < bytes {
        use std::fmt::Write as _;
        let t = t0 + (span_us as u128 * written as u128 / bytes as u128) as i64;
        if t.div_euclid(60_000_000) != minute {
            minute = t.div_euclid(60_000_000);
            let dt = chrono::DateTime::from_timestamp_micros(minute * 60_000_000).expect("time");
            prefix = dt.format("%Y-%m-%dT%H:%M:").to_string();
            let day = dt.date_naive();
            if day_starts.last().is_none_or(|(d, _)| *d != day) {
                day_starts.push((day, written));
            }
        }
        let secs = t.rem_euclid(60_000_000) / 1_000_000;
        let micros = t.rem_euclid(1_000_000);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let server = &servers[(rng % servers.len() as u64) as usize];
        let tool = TOOLS[((rng >> 8) % TOOLS.len() as u64) as usize];
        let ms = (rng >> 16) % 5000;
        line.clear();
        let ts = format!("{prefix}{secs:02}.{micros:06}Z");
        let _ = match i % 1000 {
            0 => write!(
                line,
                r#"{{"timestamp":"{ts}","level":"WARN","message":"server {server} disconnected: connection closed","event":"server_disconnected","server":"{server}","error":"connection closed"}}"#
            ),
            1 => write!(
                line,
                r#"{{"timestamp":"{ts}","level":"INFO","message":"server {server} connected with 14 tools","event":"server_connected","server":"{server}","tools":14,"pid":{}}}"#,
                1000 + rng % 60000
            ),
            n if n % 200 == 7 => write!(
                line,
                r#"{{"timestamp":"{ts}","level":"WARN","message":"tools/call {server}/{tool} failed","event":"tool_call","server":"{server}","tool":"{tool}","duration_ms":{}.{:03},"outcome":"Error","error":"Protocol(\"fixture failure on purpose\")"}}"#,
                ms / 1000,
                ms % 1000
            ),
            _ => write!(
                line,
                r#"{{"timestamp":"{ts}","level":"INFO","message":"tools/call {server}/{tool}","event":"tool_call","server":"{server}","tool":"{tool}","duration_ms":{}.{:03},"outcome":"success","is_error":false}}"#,
                ms / 1000,
                ms % 1000
            ),
        };
        line.push('\n');
        w.write_all(line.as_bytes()).expect("writing the log");
        written += line.len() as u64;
        i += 1;
    }
    w.flush().expect("flushing the log");
    Log {
        bytes: written,
        day_starts,
    }
}

/// `detect-anomalies --window 24h` and `summary --date today` over a small and a big
/// generated log: (MB/s on the big one, peak RSS small → big) for each, plus a note.
struct ScanFigures {
    label: String,
    mb_s: f64,
    rss_small: Option<f64>,
    rss_big: Option<f64>,
    scanned_mb: f64,
    /// Log lines the command reports having read in the full log.
    lines: Option<u64>,
}

fn scan_bench(root: &Path, plan: &Plan) -> (Vec<ScanFigures>, String) {
    let small_state = root.join("log-small");
    let big_state = root.join("log-big");
    let t = Instant::now();
    let small = generate_log(&small_state, plan.log_bytes / 20);
    let big = generate_log(&big_state, plan.log_bytes);
    let gen_s = t.elapsed().as_secs_f64();
    let time_file = Path::new("/usr/bin/time")
        .exists()
        .then(|| root.join("time.out"));
    // No hub there: the scan is what is timed (with a hub, detect-anomalies also
    // samples its CPU for 500 ms).
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    // The day holding most of the log (today unless the run is just past midnight).
    let today = chrono::Utc::now().date_naive();
    let (day, date) = if big.bytes_since(today) * 2 >= big.bytes {
        (today, "today")
    } else {
        (today - chrono::Days::new(1), "yesterday")
    };
    let mut out = Vec::new();
    for which in ["detect", "summary"] {
        let mut per_log = Vec::new();
        for (state, log) in [(&small_state, &small), (&big_state, &big)] {
            let head: &[&str] = if which == "detect" {
                &["detect-anomalies", "--window", "24h"]
            } else {
                &["summary", "--date", date]
            };
            let state_s = state.to_str().expect("utf-8 path");
            let args: Vec<&str> = head
                .iter()
                .copied()
                .chain([
                    "--format",
                    "json",
                    "--hub",
                    &nowhere,
                    "--state-dir",
                    state_s,
                ])
                .collect();
            let mut walls = Vec::new();
            let mut rss: Option<f64> = None;
            let mut last = String::new();
            for _ in 0..plan.log_runs {
                let r = run_toolkit(&args, time_file.as_deref());
                walls.push(r.wall_s);
                rss = match (rss, r.peak_rss_mb) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                last = r.stdout;
            }
            // What the command says it read, to show it did read the lines.
            let v: Value = serde_json::from_str(&last).unwrap_or_default();
            let (scanned, lines) = if which == "detect" {
                (
                    v["scan"]["bytes_read"].as_u64().unwrap_or(log.bytes),
                    v["scan"]["lines"].as_u64(),
                )
            } else {
                (log.bytes_since(day), v["log_lines"].as_u64())
            };
            per_log.push((median(&walls), rss, scanned, lines));
        }
        let (_, rss_small, _, _) = per_log[0];
        let (wall, rss_big, scanned, lines) = per_log[1];
        let mb = scanned as f64 / 1e6;
        out.push(ScanFigures {
            label: if which == "detect" {
                "detect-anomalies --window 24h".into()
            } else {
                format!("summary --date {date}")
            },
            mb_s: mb / wall,
            rss_small,
            rss_big,
            scanned_mb: mb,
            lines,
        });
    }
    let note = format!(
        "logs generated (MB = 10^6 bytes): {:.0} MB and {:.0} MB ({} UTC days) in {gen_s:.1} s; each command run {}× per log, median wall time",
        small.bytes as f64 / 1e6,
        big.bytes as f64 / 1e6,
        big.day_starts.len(),
        plan.log_runs
    );
    (out, note)
}

/// What every phase shares: where it works, its plan, an HTTP client, the clock.
struct Ctx {
    root: PathBuf,
    plan: Plan,
    http: reqwest::Client,
    started: Instant,
}

impl Ctx {
    fn phase(&self, what: &str) {
        eprintln!("[{:6.1} s] {what}", self.started.elapsed().as_secs_f64());
    }
}

/// Phases 1–3: both hubs in front of one fixture backend.
struct OneBackend {
    /// Sequential REST calls and health requests: mcphub's, mcp-hub's.
    ours: Figures,
    peer: Figures,
    direct_us: Vec<f64>,
    direct_http_us: Vec<f64>,
    ours_mcp_us: Vec<f64>,
    throughput: [Throughput; 2],
    rest_calls: usize,
    rss_idle: (f64, f64),
    rss_loaded: (f64, f64),
    rss_rested: (f64, f64),
}

async fn one_backend(ctx: &Ctx) -> OneBackend {
    let (root, plan, http) = (ctx.root.as_path(), &ctx.plan, &ctx.http);
    let phase = |what: &str| ctx.phase(what);
    // 1–3. One fixture backend: CPU, latency, throughput, RSS.
    phase("one fixture backend: starting both hubs");
    let config = write_config(
        root,
        "one.json",
        json!({"bench": fixture_entry("bench", &[])}),
    );
    let ours = start_hub(Kind::Ours, &root.join("one-ours"), &config, false);
    let peer = start_hub(Kind::Peer, &root.join("one-peer"), &config, false);
    wait_ready(http, &ours, 1, Duration::from_millis(50)).await;
    wait_ready(http, &peer, 1, Duration::from_millis(50)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = (rss_mb(ours.pid()), rss_mb(peer.pid()));
    let (_stdio_child, stdio) = fixture_stdio(&["--name", "bench"]).await;
    let (_http_child, direct_http) = fixture_http().await;
    let ours_mcp = hub_mcp(&ours).await;
    // Warm everything up (JIT, connection pools) before anything counts.
    let mut scratch = Figures::default();
    let mut scratch_us = Vec::new();
    let warm = plan.per_round / 2;
    calls(http, &ours, warm, &mut scratch).await;
    calls(http, &peer, warm, &mut scratch).await;
    mcp_calls(&stdio, "echo", warm, &mut scratch_us).await;
    mcp_calls(&direct_http, "echo", warm, &mut scratch_us).await;
    mcp_calls(&ours_mcp, "bench__echo", warm, &mut scratch_us).await;
    let mut rest_calls = warm;
    phase("sequential calls, interleaved rounds");
    let (mut a, mut b) = (Figures::default(), Figures::default());
    let (mut direct_us, mut direct_http_us, mut ours_mcp_us) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..plan.rounds {
        // Who goes first alternates, so no one always runs on a warmer machine.
        let mut order = [0, 1, 2, 3, 4];
        if round % 2 == 1 {
            order.reverse();
        }
        for which in order {
            let n = plan.per_round;
            match which {
                0 => mcp_calls(&stdio, "echo", n, &mut direct_us).await,
                1 => {
                    calls(http, &ours, n, &mut a).await;
                    healths(http, &ours, n, &mut a).await;
                }
                2 => {
                    calls(http, &peer, n, &mut b).await;
                    healths(http, &peer, n, &mut b).await;
                }
                3 => mcp_calls(&ours_mcp, "bench__echo", n, &mut ours_mcp_us).await,
                _ => mcp_calls(&direct_http, "echo", n, &mut direct_http_us).await,
            }
        }
    }
    rest_calls += a.calls();
    let _ = ours_mcp.cancel().await;
    let _ = stdio.cancel().await;
    let _ = direct_http.cancel().await;
    phase("throughput, fixture backend");
    let fixture_body =
        json!({"server_name": "bench", "tool": "echo", "arguments": {"text": "hello"}});
    let throughput = throughput(
        http,
        [&ours, &peer],
        &fixture_body,
        plan.tp_calls,
        plan.tp_rounds,
    )
    .await;
    rest_calls += (plan.tp_calls / 10 + 50) + plan.tp_calls / plan.tp_rounds * plan.tp_rounds * 3;
    let top_up = plan.loaded_calls.saturating_sub(rest_calls);
    phase(&format!(
        "{top_up} more calls per hub (c16) before the loaded RSS"
    ));
    // Alternating halves, so both hubs run on the same machine state.
    for hub in [&ours, &peer, &peer, &ours] {
        load(http, hub, &fixture_body, top_up / 2, 16).await;
    }
    rest_calls += top_up / 2 * 2;
    let rss_loaded = (rss_mb(ours.pid()), rss_mb(peer.pid()));
    // And once more after a second at rest, as idle is taken: what a hub keeps after
    // a burst, not only what it held during it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_rested = (rss_mb(ours.pid()), rss_mb(peer.pid()));
    ours.stop().await;
    peer.stop().await;

    OneBackend {
        ours: a,
        peer: b,
        direct_us,
        direct_http_us,
        ours_mcp_us,
        throughput,
        rest_calls,
        rss_idle,
        rss_loaded,
        rss_rested,
    }
}

/// Throughput with the real server-everything behind both hubs.
async fn everything_backend(ctx: &Ctx) -> [Throughput; 2] {
    let (root, plan, http) = (ctx.root.as_path(), &ctx.plan, &ctx.http);
    ctx.phase("throughput, server-everything backend");
    let everything = deps::deps().npm_bin("mcp-server-everything");
    let config = write_config(
        root,
        "everything.json",
        json!({"everything": {"command": everything, "args": ["stdio"]}}),
    );
    let ours = start_hub(Kind::Ours, &root.join("ev-ours"), &config, false);
    let peer = start_hub(Kind::Peer, &root.join("ev-peer"), &config, false);
    wait_ready(http, &ours, 1, Duration::from_millis(50)).await;
    wait_ready(http, &peer, 1, Duration::from_millis(50)).await;
    let everything_body =
        json!({"server_name": "everything", "tool": "echo", "arguments": {"message": "hello"}});
    let tp_everything = throughput(
        http,
        [&ours, &peer],
        &everything_body,
        plan.tp_everything_calls,
        plan.tp_rounds,
    )
    .await;
    ours.stop().await;
    peer.stop().await;
    tp_everything
}

/// Phases 4–5: 26 stdio backends exposing 360 tools.
struct ManyBackends {
    config: PathBuf,
    slowest_ms: f64,
    together_ms: Vec<f64>,
    ready_ms: [Vec<f64>; 2],
    rss_many: [Vec<f64>; 2],
    tools_seen: [usize; 2],
    poll: Duration,
}

async fn many_backends_phase(ctx: &Ctx) -> ManyBackends {
    let (root, plan, http) = (ctx.root.as_path(), &ctx.plan, &ctx.http);
    let phase = |what: &str| ctx.phase(what);
    // 4–5. 26 stdio backends, 360 tools: start-up alone, time to ready, RSS.
    phase("26 backends: each backend's start-up alone");
    let backends = many_backends();
    let mut slowest_ms: f64 = 0.0;
    for (name, vague) in &backends {
        let mut times = Vec::new();
        for _ in 0..plan.startup_reps {
            let v = vague.to_string();
            let t = Instant::now();
            let (mut child, client) = fixture_stdio(&["--name", name, "--vague-tools", &v]).await;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            let _ = client.cancel().await;
            let _ = child.kill().await;
        }
        slowest_ms = slowest_ms.max(median(&times));
    }
    let servers: serde_json::Map<String, Value> = backends
        .iter()
        .map(|(name, vague)| {
            (
                name.clone(),
                fixture_entry(name, &["--vague-tools", &vague.to_string()]),
            )
        })
        .collect();
    // The machine's floor: the same 26 started at once by this process, until every
    // initialize answer is in (no hub; 26 processes on 2 cores).
    let mut together_ms = Vec::new();
    for _ in 0..plan.ready_reps {
        let t = Instant::now();
        let all = futures::future::join_all(backends.iter().map(|(name, vague)| async move {
            let v = vague.to_string();
            fixture_stdio(&["--name", name, "--vague-tools", &v]).await
        }))
        .await;
        together_ms.push(t.elapsed().as_secs_f64() * 1e3);
        for (mut child, client) in all {
            let _ = client.cancel().await;
            let _ = child.kill().await;
        }
    }
    let config = write_config(root, "many.json", Value::Object(servers));
    phase("26 backends: time to ready and RSS, hubs started one at a time");
    let poll = Duration::from_millis(5);
    let (mut ready_ms, mut rss_many, mut tools_seen) =
        ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()], [0, 0]);
    for rep in 0..plan.ready_reps {
        let order = if rep % 2 == 0 {
            [Kind::Ours, Kind::Peer]
        } else {
            [Kind::Peer, Kind::Ours]
        };
        for kind in order {
            let w = if kind == Kind::Ours { 0 } else { 1 };
            let t = Instant::now();
            let hub = start_hub(kind, &root.join(format!("many-{w}-{rep}")), &config, false);
            let h = wait_ready(http, &hub, backends.len(), poll).await;
            ready_ms[w].push(t.elapsed().as_secs_f64() * 1e3);
            tools_seen[w] = tools_of(&h);
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss_many[w].push(rss_mb(hub.pid()));
            hub.stop().await;
        }
    }

    ManyBackends {
        config,
        slowest_ms,
        together_ms,
        ready_ms,
        rss_many,
        tools_seen,
        poll,
    }
}

/// Phase 6: the toolkit (mcphub only): wall times against a live hub with `config`'s
/// backends, then log scanning.
struct Toolkit {
    wall_ms: Vec<(&'static str, f64)>,
    scans: Vec<ScanFigures>,
}

async fn toolkit_phase(
    ctx: &Ctx,
    config: &Path,
    backends: usize,
    notes: &mut Vec<String>,
) -> Toolkit {
    let (root, plan, http) = (ctx.root.as_path(), &ctx.plan, &ctx.http);
    let phase = |what: &str| ctx.phase(what);
    // 6. The toolkit against a live mcphub with the 26 backends.
    phase("toolkit: check-alerts and validate against a live hub");
    let hub = start_hub(Kind::Ours, &root.join("toolkit-hub"), config, false);
    wait_ready(http, &hub, backends, Duration::from_millis(50)).await;
    let mut toolkit_ms = Vec::new();
    for (cmd, ms, code) in toolkit_walls(&hub, plan.toolkit_runs) {
        notes.push(format!("`mcphub {cmd}` exit status: {code:?}"));
        toolkit_ms.push((cmd, ms));
    }
    hub.stop().await;
    phase("toolkit: log scanning");
    let (scans, scan_note) = scan_bench(root, plan);
    notes.push(scan_note);
    for s in &scans {
        notes.push(format!(
            "`mcphub {}` reports {} log lines read in the full log",
            s.label,
            s.lines.map_or("no count of".into(), |n| n.to_string())
        ));
    }

    Toolkit {
        wall_ms: toolkit_ms,
        scans,
    }
}

/// The printed table's rows, from every phase's figures.
fn rows(
    ctx: &Ctx,
    one: OneBackend,
    tp_everything: &[Throughput; 2],
    many: &ManyBackends,
    tk: &Toolkit,
) -> Vec<Row> {
    let plan = &ctx.plan;
    let OneBackend {
        ours: mut a,
        peer: mut b,
        mut direct_us,
        mut direct_http_us,
        mut ours_mcp_us,
        throughput: tp_fixture,
        rest_calls,
        rss_idle,
        rss_loaded,
        rss_rested,
    } = one;
    let ManyBackends {
        slowest_ms,
        together_ms,
        ready_ms,
        rss_many,
        tools_seen,
        ..
    } = many;
    let slowest_ms = *slowest_ms;
    let (toolkit_ms, scans) = (&tk.wall_ms, &tk.scans);
    let mut rows: Vec<Row> = Vec::new();
    let ours_cpu_call = a.call_cpu_s / a.calls() as f64 * 1e6;
    let peer_cpu_call = b.call_cpu_s / b.calls() as f64 * 1e6;
    rows.push(pair(
        "hub CPU per proxied REST call (µs)",
        ours_cpu_call,
        peer_cpu_call,
        at_most(ours_cpu_call / peer_cpu_call, 0.1, "≤ 0.1×"),
    ));
    let ours_cpu_h = a.health_cpu_s / a.healths as f64 * 1e6;
    let peer_cpu_h = b.health_cpu_s / b.healths as f64 * 1e6;
    rows.push(pair(
        "hub CPU per /api/health (µs)",
        ours_cpu_h,
        peer_cpu_h,
        at_most(ours_cpu_h / peer_cpu_h, 0.1, "≤ 0.1×"),
    ));
    let d50 = percentile(&mut direct_us, 0.5);
    let d99 = percentile(&mut direct_us, 0.99);
    rows.push(same(
        "direct call to the fixture, stdio, rmcp client: p50 / p99 (µs)",
        format!("{d50:.1} / {d99:.1}"),
    ));
    let (r50, r99) = (
        [
            percentile(&mut a.call_latencies_us, 0.5),
            percentile(&mut b.call_latencies_us, 0.5),
        ],
        [
            percentile(&mut a.call_latencies_us, 0.99),
            percentile(&mut b.call_latencies_us, 0.99),
        ],
    );
    rows.push(row(
        "REST call through the hub, c1: p50 / p99 (µs)",
        format!("{:.1} / {:.1}", r50[0], r99[0]),
        format!("{:.1} / {:.1}", r50[1], r99[1]),
        format!("{} / {}", ratio(r50[0], r50[1]), ratio(r99[0], r99[1])),
        none(),
    ));
    let added50 = [r50[0] - d50, r50[1] - d50];
    let added99 = [r99[0] - d99, r99[1] - d99];
    for (p, added, limit) in [("p50", added50, 50.0), ("p99", added99, 250.0)] {
        rows.push(pair(
            format!("latency added, REST through the hub − direct stdio, {p} (µs)"),
            added[0],
            added[1],
            at_most(added[0], limit, &format!("≤ {limit} µs")),
        ));
    }
    let (m50, m99) = (
        percentile(&mut ours_mcp_us, 0.5),
        percentile(&mut ours_mcp_us, 0.99),
    );
    let (h50, h99) = (
        percentile(&mut direct_http_us, 0.5),
        percentile(&mut direct_http_us, 0.99),
    );
    rows.push(row(
        "MCP call through mcphub /mcp (rmcp streamable HTTP), p50 / p99 (µs)",
        format!("{m50:.1} / {m99:.1}"),
        "not driven (legacy SSE /mcp)".into(),
        none(),
        none(),
    ));
    rows.push(ours_only(
        "latency added, mcphub /mcp − direct stdio, p50 / p99 (µs)",
        format!("{:.1} / {:.1}", m50 - d50, m99 - d99),
        format!(
            "{}; {}",
            at_most(m50 - d50, 50.0, "≤ 50 µs"),
            at_most(m99 - d99, 250.0, "≤ 250 µs")
        ),
    ));
    rows.push(same(
        "direct call to the fixture, streamable HTTP, rmcp client: p50 / p99 (µs)",
        format!("{h50:.1} / {h99:.1}"),
    ));
    for (label, tp, per_level) in [
        ("fixture", &tp_fixture, plan.tp_calls),
        ("server-everything", tp_everything, plan.tp_everything_calls),
    ] {
        let done = (per_level / plan.tp_rounds * plan.tp_rounds) as f64;
        for (li, conc) in LEVELS.iter().enumerate() {
            let rate = [done / tp[0].secs[li], done / tp[1].secs[li]];
            let failed = |w: usize| {
                if tp[w].failed[li] > 0 {
                    format!(" ({} failed)", tp[w].failed[li])
                } else {
                    String::new()
                }
            };
            let target = if label == "fixture" && *conc == 16 {
                at_least(rate[0] / rate[1], 10.0, "≥ 10×")
            } else {
                none()
            };
            rows.push(row(
                format!("throughput, {label} backend, c{conc} (REST calls/s)"),
                format!("{:.0}{}", rate[0], failed(0)),
                format!("{:.0}{}", rate[1], failed(1)),
                ratio(rate[0], rate[1]),
                target,
            ));
        }
    }
    for (metric, (ours, peer)) in [
        ("RSS idle, one backend (MB)".to_owned(), rss_idle),
        (
            format!("RSS right after {rest_calls} REST calls (MB)"),
            rss_loaded,
        ),
        (
            format!("RSS 1 s after {rest_calls} REST calls (MB)"),
            rss_rested,
        ),
    ] {
        rows.push(pair(
            metric,
            ours,
            peer,
            at_most(ours / peer, 0.125, "≤ 1/8"),
        ));
    }
    let rss26 = [median(&rss_many[0]), median(&rss_many[1])];
    rows.push(pair(
        format!(
            "RSS with 26 backends, {} / {} tools (MB)",
            tools_seen[0], tools_seen[1]
        ),
        rss26[0],
        rss26[1],
        format!(
            "{}; {}",
            at_most(rss26[0] / rss26[1], 0.125, "≤ 1/8"),
            at_most(rss26[0], 15.0, "≤ 15 MB")
        ),
    ));
    rows.push(same(
        "slowest backend's start-up alone, spawn → initialize answer (ms)",
        format!("{slowest_ms:.1}"),
    ));
    rows.push(same(
        "the 26 backends started at once by the bench, all initialize answers in (ms)",
        format!("{:.1}", median(together_ms)),
    ));
    let ready = [median(&ready_ms[0]), median(&ready_ms[1])];
    rows.push(pair(
        "start → ready, 26 stdio backends (ms)",
        ready[0],
        ready[1],
        at_most(
            ready[0],
            slowest_ms + 20.0,
            &format!("≤ {:.1} ms (slowest + 20)", slowest_ms + 20.0),
        ),
    ));
    for (cmd, ms) in toolkit_ms.iter() {
        rows.push(ours_only(
            format!(
                "`mcphub {cmd}` wall, live hub, median of {} (ms)",
                plan.toolkit_runs
            ),
            format!("{ms:.1}"),
            at_most(*ms, 20.0, "< 20 ms"),
        ));
    }
    for s in scans.iter() {
        rows.push(ours_only(
            format!("`mcphub {}` over {:.0} MB (MB/s)", s.label, s.scanned_mb),
            format!("{:.0}", s.mb_s),
            at_least(s.mb_s, 300.0, "≥ 300 MB/s"),
        ));
        let mb = |v: Option<f64>| v.map_or("N/A".into(), |v| format!("{v:.1}"));
        let flat = match (s.rss_small, s.rss_big) {
            (Some(a), Some(b)) if b <= a * 1.1 + 2.0 => "does not grow — met".into(),
            (Some(_), Some(_)) => "does not grow — not met".into(),
            _ => "does not grow — not measured".into(),
        };
        rows.push(ours_only(
            format!("`mcphub {}` peak RSS, 1/20 log → full log (MB)", s.label),
            format!("{} → {}", mb(s.rss_small), mb(s.rss_big)),
            flat,
        ));
    }
    rows
}

/// `total` REST calls of `server`'s echo from `conc` concurrent clients; each call's
/// latency in µs.
async fn latencies(
    http: &reqwest::Client,
    hub: &Hub,
    server: &str,
    total: usize,
    conc: usize,
) -> Vec<f64> {
    let url = Arc::new(format!("{}/api/servers/tools", hub.base));
    let body =
        Arc::new(json!({"server_name": server, "tool": "echo", "arguments": {"text": "hello"}}));
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..conc {
        let (http, url, body, next) = (http.clone(), url.clone(), body.clone(), next.clone());
        set.spawn(async move {
            let mut mine = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                let r = http
                    .post(url.as_str())
                    .json(&*body)
                    .send()
                    .await
                    .expect("a tool call");
                assert!(r.status().is_success(), "a call failed: {}", r.status());
                r.bytes().await.expect("the answer");
                mine.push(t.elapsed().as_secs_f64() * 1e6);
            }
            mine
        });
    }
    let mut all = Vec::new();
    while let Some(mine) = set.join_next().await {
        all.extend(mine.expect("a client task"));
    }
    all
}

/// A bare `initialize` of a 2025-11-25 session on `base`'s `/mcp`.
fn initialize(http: &reqwest::Client, base: &str) -> reqwest::RequestBuilder {
    http.post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "0"}}}),
        )
}

/// Opens an MCP session and leaves it open; returns its id.
async fn open_session(http: &reqwest::Client, hub: &Hub) -> String {
    let r = initialize(http, &hub.base)
        .send()
        .await
        .expect("initialize");
    assert!(r.status().is_success(), "initialize: {}", r.status());
    let id = r.headers()["mcp-session-id"]
        .to_str()
        .expect("a session id")
        .to_owned();
    r.bytes().await.expect("initialize answer");
    id
}

/// `--scale`: mcphub alone with 100 stdio backends of 200 tools each (1 kB
/// descriptions: 20,000 tools), against the scale targets of the performance issue.
/// `--quick` makes it 10 backends of 50 tools, to check that it runs.
async fn scale(quick: bool) {
    let (servers, tools_each, reps) = if quick { (10, 50, 3) } else { (100, 200, 5) };
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let http = reqwest::Client::new();
    println!(
        "mcphub at scale: {servers} stdio backends of {tools_each} tools (1 kB descriptions), {} UTC, {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        machine()
    );
    // The fixture offers 10 tools of its own besides the padded ones.
    let vague = (tools_each - 10).to_string();
    let backend_args = [
        "--vague-tools",
        vague.as_str(),
        "--description-bytes",
        "1000",
    ];

    // One backend's start-up alone: the floor for time to ready.
    let mut alone = Vec::new();
    for _ in 0..reps {
        let mut args = vec!["--name", "alone"];
        args.extend_from_slice(&backend_args);
        let t = Instant::now();
        let (mut child, client) = fixture_stdio(&args).await;
        client.peer().list_all_tools().await.expect("its tools");
        alone.push(t.elapsed().as_secs_f64() * 1e3);
        let _ = client.cancel().await;
        let _ = child.kill().await;
    }
    let alone_ms = median(&alone);
    // The machine's floor for time to ready: all of them started at once by this
    // process (no hub), until every one has answered initialize and tools/list.
    let mut together = Vec::new();
    for _ in 0..reps.min(3) {
        let t = Instant::now();
        let all = futures::future::join_all((0..servers).map(|i| {
            let name = format!("s{i:03}");
            async move {
                let mut args = vec!["--name", name.as_str()];
                args.extend_from_slice(&backend_args);
                let (child, client) = fixture_stdio(&args).await;
                client.peer().list_all_tools().await.expect("its tools");
                (child, client)
            }
        }))
        .await;
        together.push(t.elapsed().as_secs_f64() * 1e3);
        for (mut child, client) in all {
            let _ = client.cancel().await;
            let _ = child.kill().await;
        }
    }
    let together_ms = median(&together);

    // Idle: no servers at all.
    let empty = write_config(root, "empty.json", json!({}));
    let hub = start_hub(Kind::Ours, &root.join("idle"), &empty, false);
    wait_ready(&http, &hub, 0, Duration::from_millis(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_mb = rss_mb(hub.pid());
    let (_, idle_code_mb) = anon_and_file_mb(hub.pid());
    hub.stop().await;
    let (ordered, order_listed) = link_order::found_in(&hub_bin());

    let servers_json: serde_json::Map<String, Value> = (0..servers)
        .map(|i| {
            let name = format!("s{i:03}");
            let entry = fixture_entry(&name, &backend_args);
            (name, entry)
        })
        .collect();
    let config = write_config(root, "scale.json", Value::Object(servers_json));
    // Each rep starts the hub twice, interleaved: once polling `/api/health` as a
    // script would, once listening for the ready event.
    let (mut ready, mut ready_rss, mut heard) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..reps.min(3) {
        for listening in [false, true] {
            let t = Instant::now();
            let hub = start_hub(
                Kind::Ours,
                &root.join(format!("ready-{rep}-{listening}")),
                &config,
                false,
            );
            if listening {
                heard_ready(&http, &hub).await;
                heard.push(t.elapsed().as_secs_f64() * 1e3);
                let h = health(&http, &hub).await.expect("health once ready");
                assert!(is_ready(&h, servers), "ready with every server connected");
            } else {
                wait_ready(&http, &hub, servers, Duration::from_millis(5)).await;
                ready.push(t.elapsed().as_secs_f64() * 1e3);
                tokio::time::sleep(Duration::from_secs(1)).await;
                ready_rss.push(rss_mb(hub.pid()));
            }
            hub.stop().await;
        }
    }

    let hub = start_hub_with(
        Kind::Ours,
        &root.join("scale"),
        &config,
        true,
        // 256 concurrent clients from one address, beside the bench's other pooled
        // connections, are past the default per-address cap of 256.
        &[
            "--max-sessions",
            "2000",
            "--max-connections-per-client",
            "1024",
        ],
    );
    let h = wait_ready(&http, &hub, servers, Duration::from_millis(20)).await;
    let tools_seen = tools_of(&h);
    // tools/list over /mcp, every page, as a client sees it.
    let client = hub_mcp(&hub).await;
    let (mut page_ms, mut list_ms) = (Vec::new(), Vec::new());
    let mut listed = 0;
    // One page as bytes on the wire (no client-side parsing, which for 1 MB of tools
    // costs the client more than the hub), on a session of its own.
    let sid = open_session(&http, &hub).await;
    let raw = |body: Value| {
        http.post(format!("{}/mcp", hub.base))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &sid)
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body)
            .send()
    };
    raw(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await
        .expect("initialized");
    let mut page_bytes = 0;
    for i in 0..reps * 4 {
        let t = Instant::now();
        let page = raw(json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/list"}))
            .await
            .expect("tools/list")
            .bytes()
            .await
            .expect("a page");
        page_ms.push(t.elapsed().as_secs_f64() * 1e3);
        page_bytes = page.len();
        let t = Instant::now();
        listed = client
            .peer()
            .list_all_tools()
            .await
            .expect("tools/list")
            .len();
        list_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let _ = client.cancel().await;
    // /api/health: time and size.
    let mut health_ms = Vec::new();
    let mut health_bytes = 0;
    for _ in 0..reps * 10 {
        let t = Instant::now();
        let body = http
            .get(format!("{}/api/health", hub.base))
            .send()
            .await
            .expect("health")
            .bytes()
            .await
            .expect("health body");
        health_ms.push(t.elapsed().as_secs_f64() * 1e3);
        health_bytes = body.len();
    }
    // The toolkit against it.
    let toolkit = toolkit_walls(&hub, reps);
    // Calls at concurrency 1 and 256.
    latencies(&http, &hub, "s000", 500, 16).await; // warm-up
    let mut c1 = latencies(&http, &hub, "s000", 2000, 1).await;
    let mut c256 = latencies(&http, &hub, "s000", 20_000, 256).await;
    let (p99_1, p99_256) = (percentile(&mut c1, 0.99), percentile(&mut c256, 0.99));
    // 1,000 live sessions.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before_sessions = rss_mb(hub.pid());
    for _ in 0..1000 {
        open_session(&http, &hub).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sessions_mb = rss_mb(hub.pid()) - before_sessions;
    let loaded_mb = rss_mb(hub.pid());
    hub.stop().await;

    let ready_ms = median(&ready);
    let heard_ms = median(&heard);
    let rows = [
        (
            "backends connected / tools (health, tools/list)".to_owned(),
            format!("{servers} / {tools_seen}, {listed}"),
            none(),
        ),
        (
            "tools/list over /mcp, one page of 1000 as bytes (ms, median / p99; bytes)".to_owned(),
            format!(
                "{:.2} / {:.2}; {page_bytes}",
                median(&page_ms),
                percentile(&mut page_ms.clone(), 0.99)
            ),
            at_most(median(&page_ms), 5.0, "≤ 5 ms"),
        ),
        (
            "tools/list over /mcp, every page, parsed by rmcp's client (ms, median / p99)"
                .to_owned(),
            format!(
                "{:.1} / {:.1}",
                median(&list_ms),
                percentile(&mut list_ms.clone(), 0.99)
            ),
            none(),
        ),
        (
            "/api/health (ms, median; bytes)".to_owned(),
            format!("{:.2}; {health_bytes}", median(&health_ms)),
            at_most(median(&health_ms), 5.0, "≤ 5 ms"),
        ),
        (
            "time to ready, /api/health polled every 5 ms (ms) / one backend alone / all started at once without a hub".to_owned(),
            format!("{ready_ms:.0} / {alone_ms:.0} / {together_ms:.0}"),
            at_most(
                ready_ms,
                together_ms.max(alone_ms) + 50.0,
                "≤ all at once + 50 ms",
            ),
        ),
        (
            "time to ready heard on /api/events, no health polls (ms)".to_owned(),
            format!("{heard_ms:.0}"),
            at_most(
                heard_ms,
                together_ms.max(alone_ms) + 50.0,
                "≤ all at once + 50 ms",
            ),
        ),
        (
            "RSS when ready (MB)".to_owned(),
            format!("{:.1}", median(&ready_rss)),
            at_most(median(&ready_rss), 64.0, "≤ 64 MB"),
        ),
        (
            "RSS idle, no servers (MB; of it the binary's pages; functions of link/hot-functions.txt the binary has)".to_owned(),
            format!("{idle_mb:.1}; {idle_code_mb:.1}; {ordered} of {order_listed}"),
            at_most(idle_mb, 8.0, "≤ 8 MB"),
        ),
        (
            "1,000 live sessions: RSS added (MB)".to_owned(),
            format!("{sessions_mb:.1} (hub at {loaded_mb:.1})"),
            at_most(sessions_mb, 64.0, "≤ 64 MB"),
        ),
        (
            "REST call p99 at concurrency 1 / 256 (µs)".to_owned(),
            format!("{p99_1:.0} / {p99_256:.0}"),
            at_most(p99_256, 3.0 * p99_1, "256 within 3× of 1"),
        ),
    ];
    println!();
    println!("| metric | mcphub | target |");
    println!("|---|---|---|");
    for (metric, value, target) in rows {
        println!("| {metric} | {value} | {target} |");
    }
    for (cmd, ms, _) in toolkit {
        println!("| `mcphub {cmd}` wall time (ms) | {ms:.0} | — |");
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--relay") {
        peers::relay(&args[i + 1..]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    if args.iter().any(|a| a == "--peers") {
        peers::peers(quick).await;
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--soak") {
        let minutes = args.get(i + 1).and_then(|m| m.parse().ok()).unwrap_or(60.0);
        let steady = soak(minutes).await;
        std::process::exit(if steady { 0 } else { 1 });
    }
    if let Some(i) = args.iter().position(|a| a == "--hostile") {
        let minutes = args.get(i + 1).and_then(|m| m.parse().ok()).unwrap_or(10.0);
        let flat = hostile(minutes).await;
        // A quick run (CI's, in a debug build) checks that the mode works; its verdict
        // judges nothing.
        let quick = args.iter().any(|a| a == "--quick");
        std::process::exit(if flat || quick { 0 } else { 1 });
    }
    if let Some(i) = args.iter().position(|a| a == "--link-order") {
        let out = args.get(i + 1).map_or(link_order::LIST, String::as_str);
        link_order::write(Path::new(out)).await;
        return;
    }
    if args.iter().any(|a| a == "--scale") {
        scale(args.iter().any(|a| a == "--quick")).await;
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = Ctx {
        root: dir.path().to_owned(),
        plan: Plan::new(args.iter().any(|a| a == "--quick")),
        http: reqwest::Client::new(),
        started: Instant::now(),
    };
    {
        let bins = ctx.root.join("bin");
        std::fs::create_dir_all(&bins).expect("bin dir");
        let (hub, fixture) = (bins.join("mcphub"), bins.join("mcphub-fixture-server"));
        std::fs::copy(HUB, &hub).expect("copying mcphub");
        std::fs::copy(FIXTURE, &fixture).expect("copying the fixture");
        let _ = BINS.set((hub, fixture));
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "mcphub vs mcp-hub 4.2.1, {} mode, {profile} build, {} UTC, {}",
        if ctx.plan.quick { "quick" } else { "full" },
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        machine()
    );
    let mut notes: Vec<String> = Vec::new();
    let one = one_backend(&ctx).await;
    let sequential = one.ours.calls();
    let tp_everything = everything_backend(&ctx).await;
    let many = many_backends_phase(&ctx).await;
    let tk = toolkit_phase(&ctx, &many.config, many_backends().len(), &mut notes).await;
    let poll = many.poll;
    let rows = rows(&ctx, one, &tp_everything, &many, &tk);
    let plan = &ctx.plan;
    println!(
        "{} sequential REST calls and as many /api/health per hub in {} interleaved rounds; \
         throughput {} calls per level per hub ({} with server-everything) in {} rounds; \
         {} starts per hub with 26 backends (health polled every {} ms)",
        sequential,
        plan.rounds,
        plan.tp_calls,
        plan.tp_everything_calls,
        plan.tp_rounds,
        plan.ready_reps,
        poll.as_millis()
    );
    println!();
    println!("| metric | mcphub | mcp-hub | mcphub / mcp-hub | target |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.metric, r.ours, r.peer, r.ratio, r.target
        );
    }
    println!();
    for n in &notes {
        println!("{n}");
    }
    println!("run took {:.0} s", ctx.started.elapsed().as_secs_f64());
    peers::peers(ctx.plan.quick).await;
}
