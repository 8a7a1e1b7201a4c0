//! mcphub against its peer, the npm `mcp-hub` (pinned in tests/integration/deps.rs),
//! in one run: both hubs front the same fixture backend, and the same sequential REST
//! tool calls and health requests alternate between them in rounds so that machine
//! drift hits both. Hub CPU comes from /proc (the client's cost does not count).
//!
//! `cargo bench --bench hub` (add `-- --quick` for a short run). A first slice of the
//! benchmark issue: sequential calls only; concurrency, direct-call overhead, 26
//! backends and the toolkit figures are still to come.
//!
//! `cargo bench --bench hub -- --soak 60`: an hour (the number is minutes) of steady
//! load on mcphub alone (REST calls from 8 clients, MCP sessions opened, used and
//! closed all along), RSS and open file descriptors sampled; it says whether either
//! grows, and exits 1 if one does.

// The same pinned peer the integration tests install, from the same code.
#[path = "../tests/integration/deps.rs"]
#[allow(dead_code)]
mod deps;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

const HUB: &str = env!("CARGO_BIN_EXE_mcphub");
const FIXTURE: &str = env!("CARGO_BIN_EXE_mcphub-fixture-server");

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    // Fields after the command name start at index 3 (state); utime is 14, stime 15.
    let tick = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(14) + tick(15)) / 100.0
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Hub {
    name: &'static str,
    child: Child,
    base: String,
}

impl Hub {
    fn pid(&self) -> u32 {
        self.child.id().expect("hub running")
    }
}

async fn wait_ready(http: &reqwest::Client, hub: &Hub) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{}/api/health", hub.base)).send().await
            && let Ok(h) = r.json::<Value>().await
            && h["state"] == "ready"
            && h["servers"][0]["status"] == "connected"
        {
            return;
        }
        assert!(Instant::now() < deadline, "{} never became ready", hub.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start(dir: &Path) -> (Hub, Hub) {
    let config = dir.join("servers.json");
    std::fs::write(
        &config,
        json!({"mcpServers": {"bench": {"command": FIXTURE, "args": ["--name", "bench"]}}})
            .to_string(),
    )
    .expect("writing the config");
    let ours_port = free_port();
    let ours = Command::new(HUB)
        .args(["serve", "--port", &ours_port.to_string(), "-c"])
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.join("mcphub-state"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting mcphub");
    let peer_port = free_port();
    let home = dir.join("peer-home");
    std::fs::create_dir_all(&home).expect("peer home");
    let peer = Command::new(deps::deps().npm_bin("mcp-hub"))
        .args(["--port", &peer_port.to_string(), "--config"])
        .arg(&config)
        .env("HOME", &home)
        .env_remove("XDG_STATE_HOME")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting mcp-hub");
    (
        Hub {
            name: "mcphub",
            child: ours,
            base: format!("http://127.0.0.1:{ours_port}"),
        },
        Hub {
            name: "mcp-hub",
            child: peer,
            base: format!("http://127.0.0.1:{peer_port}"),
        },
    )
}

#[derive(Default)]
struct Figures {
    call_latencies_us: Vec<f64>,
    call_cpu_s: f64,
    calls: usize,
    health_cpu_s: f64,
    healths: usize,
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
    f.calls += n;
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

fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Steady load for `minutes`, sampling the hub's RSS and open descriptors.
async fn soak(minutes: f64) -> bool {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ours, peer) = start(dir.path()).await;
    drop(peer);
    let http = reqwest::Client::new();
    wait_ready(&http, &ours).await;
    let pid = ours.pid();
    let end = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
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
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    {
        // MCP sessions come and go: per-session state must not pile up.
        let url = format!("{}/mcp", ours.base);
        load.spawn(async move {
            use rmcp::ServiceExt;
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
            calls.load(std::sync::atomic::Ordering::Relaxed),
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
        calls.load(std::sync::atomic::Ordering::Relaxed),
        failures.load(std::sync::atomic::Ordering::Relaxed),
        if rss_grows { "GROWS" } else { "steady" },
        if fds_grow { "GROW" } else { "steady" },
    );
    !rss_grows && !fds_grow
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--soak") {
        let minutes = args.get(i + 1).and_then(|m| m.parse().ok()).unwrap_or(60.0);
        let steady = soak(minutes).await;
        std::process::exit(if steady { 0 } else { 1 });
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, per_round) = if quick { (4, 50) } else { (10, 1000) };
    let dir = tempfile::tempdir().expect("temp dir");
    let (ours, peer) = start(dir.path()).await;
    let http = reqwest::Client::new();
    wait_ready(&http, &ours).await;
    wait_ready(&http, &peer).await;
    let rss_idle = (rss_mb(ours.pid()), rss_mb(peer.pid()));
    // Warm both up (JIT, connection pools) before anything counts.
    let mut scratch = Figures::default();
    calls(&http, &ours, per_round / 2, &mut scratch).await;
    calls(&http, &peer, per_round / 2, &mut scratch).await;
    let (mut a, mut b) = (Figures::default(), Figures::default());
    for round in 0..rounds {
        // Alternate who goes first, so neither always runs on a warmer machine.
        let order = if round % 2 == 0 {
            [(&ours, 0), (&peer, 1)]
        } else {
            [(&peer, 1), (&ours, 0)]
        };
        for (hub, which) in order {
            let f = if which == 0 { &mut a } else { &mut b };
            calls(&http, hub, per_round, f).await;
            healths(&http, hub, per_round, f).await;
        }
    }
    let rss_loaded = (rss_mb(ours.pid()), rss_mb(peer.pid()));
    let rows = [
        (
            "hub CPU per proxied call (µs)",
            a.call_cpu_s / a.calls as f64 * 1e6,
            b.call_cpu_s / b.calls as f64 * 1e6,
        ),
        (
            "hub CPU per /api/health (µs)",
            a.health_cpu_s / a.healths as f64 * 1e6,
            b.health_cpu_s / b.healths as f64 * 1e6,
        ),
        (
            "call latency p50 (µs)",
            percentile(&mut a.call_latencies_us, 0.5),
            percentile(&mut b.call_latencies_us, 0.5),
        ),
        (
            "call latency p99 (µs)",
            percentile(&mut a.call_latencies_us, 0.99),
            percentile(&mut b.call_latencies_us, 0.99),
        ),
        ("RSS idle (MB)", rss_idle.0, rss_idle.1),
        ("RSS after the calls (MB)", rss_loaded.0, rss_loaded.1),
    ];
    println!(
        "mcphub vs mcp-hub: {} sequential REST calls and as many health requests each, {rounds} interleaved rounds",
        a.calls
    );
    println!("| metric | mcphub | mcp-hub | mcphub / mcp-hub |");
    println!("|---|---|---|---|");
    for (metric, ours, theirs) in rows {
        let ratio = if theirs > 0.0 {
            format!("{:.3}", ours / theirs)
        } else {
            "N/A".into()
        };
        println!("| {metric} | {ours:.1} | {theirs:.1} | {ratio} |");
    }
}
