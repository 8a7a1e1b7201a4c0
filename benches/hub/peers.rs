//! `--peers`: the performance issue's targets 1 and 2, side by side in one run. The same
//! fixture backend over stdio behind
//! - the floor: a relay that only moves the bytes (this bench binary, `--relay`);
//! - mcphub's `/mcp` and its REST API;
//! - supergateway (stdio to streamable HTTP, one session: one child);
//! - FastMCP (one `create_proxy(StdioTransport(…))` mounted under the server's name);
//! - mcp-hub's REST API (its `/mcp` is the old SSE transport).
//!
//! All of them are driven by one hand-written keep-alive HTTP/1.1 client: reqwest cannot
//! set `TCP_QUICKACK`, and without it a server that writes an answer in two pieces waits
//! for the client's delayed ACK (40 ms) and the figures show that stall, not the peer.
//! CPU is the peer's own processes' (utime and stime from /proc, bridges count, the
//! backend does not); the client's cost is its own.

use std::os::fd::AsRawFd as _;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::*;

/// Pinned like the test dependencies, in their own prefix (`target/bench-peers`): the
/// tests pin an older supergateway for its old-SSE client. Macros, so that the pins
/// and the names printed come from one place.
macro_rules! supergateway_version {
    () => {
        "4.0.0"
    };
}
macro_rules! fastmcp_version {
    () => {
        "4.1.6"
    };
}
const PEER_NPM: &[&str] = &[concat!("supergateway@", supergateway_version!())];
const PEER_PIP: &[&str] = &[concat!("fastmcp==", fastmcp_version!())];
const FASTMCP_HUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/hub/fastmcp_hub.py");

fn peer_deps() -> deps::Deps {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("bench-peers");
    deps::install_set(&root, PEER_NPM, PEER_PIP);
    deps::Deps { root }
}

/// `--relay PORT COMMAND ARGS…`: the floor. One child over stdio; per request, read the
/// head and body, write the body and a newline to the child, read one line back (none
/// for a notification) and write it as a JSON response. No parsing beyond that, no
/// async runtime: what any relay of these bytes must spend, and nothing more.
pub fn relay(args: &[String]) -> ! {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let port: u16 = args[0].parse().expect("--relay PORT");
    let mut child = std::process::Command::new(&args[1])
        .args(&args[2..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the relay's child");
    let pipes = Arc::new(std::sync::Mutex::new((
        child.stdin.take().expect("child stdin"),
        BufReader::new(child.stdout.take().expect("child stdout")),
    )));
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("relay port");
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let pipes = pipes.clone();
        std::thread::spawn(move || {
            let _ = conn.set_nodelay(true);
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut conn = conn;
            let (mut line, mut body, mut answer) = (String::new(), Vec::new(), Vec::new());
            loop {
                let mut length = 0;
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                body.resize(length, 0);
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                answer.clear();
                {
                    let (stdin, stdout) = &mut *pipes.lock().expect("pipes");
                    body.push(b'\n');
                    if stdin.write_all(&body).is_err() {
                        return;
                    }
                    // A request has an id; a notification gets no line back.
                    if memchr::memmem::find(&body, b"\"id\"").is_some()
                        && stdout.read_until(b'\n', &mut answer).unwrap_or(0) == 0
                    {
                        return;
                    }
                }
                let head = if answer.is_empty() {
                    "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n".to_owned()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmcp-session-id: floor\r\ncontent-length: {}\r\n\r\n",
                        answer.len()
                    )
                };
                let mut out = head.into_bytes();
                out.extend_from_slice(&answer);
                if conn.write_all(&out).is_err() {
                    return;
                }
            }
        });
    }
    std::process::exit(0)
}

/// One keep-alive connection speaking just enough HTTP/1.1 for these peers: a POST, and
/// an answer with `content-length`, chunked, or up to the connection's end.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
    host: String,
    path: &'static str,
    session: Option<String>,
}

impl Wire {
    async fn connect(
        port: u16,
        path: &'static str,
        session: Option<String>,
    ) -> std::io::Result<Wire> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        Ok(Wire {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            host: format!("127.0.0.1:{port}"),
            path,
            session,
        })
    }

    /// Linux turns quick ACKs back off by itself, so this is set before every read.
    fn quickack(&self) {
        let on: libc::c_int = 1;
        // SAFETY: a valid socket and a c_int option of the right size.
        unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        self.quickack();
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// POSTs `body`; the status and the answer's body.
    async fn post(&mut self, body: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let mut request = format!(
            "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\nmcp-protocol-version: 2025-06-18\r\ncontent-length: {}\r\n",
            self.path,
            self.host,
            body.len()
        );
        if let Some(s) = &self.session {
            request.push_str(&format!("mcp-session-id: {s}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        self.stream.write_all(request.as_bytes()).await?;
        let eof = || std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        let head_end = loop {
            if let Some(i) = memchr::memmem::find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill().await? == 0 {
                return Err(eof());
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end);
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        if let Some(s) = header("mcp-session-id") {
            self.session = Some(s);
        }
        let mut out = Vec::new();
        let framed = header("content-length").is_some() || header("transfer-encoding").is_some();
        if status == 204 || status == 304 || (status == 202 && !framed) {
            // No body, whatever the framing says.
        } else if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok())
        {
            while self.buf.len() < length {
                if self.fill().await? == 0 {
                    return Err(eof());
                }
            }
            out.extend(self.buf.drain(..length));
        } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            loop {
                let line_end = loop {
                    if let Some(i) = memchr::memmem::find(&self.buf, b"\r\n") {
                        break i;
                    }
                    if self.fill().await? == 0 {
                        return Err(eof());
                    }
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| {
                            std::io::Error::other(format!("bad chunk size {size_text:?}"))
                        })?;
                while self.buf.len() < line_end + 2 + size + 2 {
                    if self.fill().await? == 0 {
                        return Err(eof());
                    }
                }
                out.extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
                self.buf.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        } else {
            while self.fill().await? > 0 {}
            out.append(&mut self.buf);
        }
        Ok((status, out))
    }
}

/// How a peer is reached and what a call of the fixture's echo is there.
#[derive(Clone)]
struct Peer {
    name: &'static str,
    port: u16,
    path: &'static str,
    /// A JSON-RPC `tools/call` (with `{id}` to fill in), or a REST body.
    call: &'static str,
    mcp: bool,
    /// The processes whose CPU and memory count.
    pids: Vec<u32>,
    /// At concurrency 1 only: the floor relays one request at a time.
    sequential_only: bool,
    session: Option<String>,
}

impl Peer {
    /// A peer reached at `path` on `port`, whose CPU and memory are `pid`'s.
    fn new(
        name: &'static str,
        port: u16,
        path: &'static str,
        call: &'static str,
        pid: u32,
    ) -> Peer {
        Peer {
            name,
            port,
            path,
            call,
            mcp: path == "/mcp",
            pids: vec![pid],
            sequential_only: false,
            session: None,
        }
    }

    async fn wire(&self) -> Wire {
        Wire::connect(self.port, self.path, self.session.clone())
            .await
            .expect("connecting to a peer")
    }

    /// One call on `wire`; whether the echo came back.
    async fn call(&self, wire: &mut Wire, id: u64) -> bool {
        let body = self.call.replace("{id}", &id.to_string());
        matches!(wire.post(&body).await, Ok((200, answer)) if memchr::memmem::find(&answer, b"hello").is_some())
    }

    /// CPU seconds (user, kernel) of the peer's processes so far.
    fn cpu(&self) -> (f64, f64) {
        self.pids
            .iter()
            .map(|&p| user_kernel(p))
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    fn rss(&self) -> f64 {
        self.pids.iter().map(|&p| rss_mb(p)).sum()
    }
}

/// utime and stime of `pid` in seconds, from /proc/PID/stat.
fn user_kernel(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command (which may hold spaces) start after its last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let at = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / tick
    };
    // utime and stime are fields 14 and 15 of stat; 11 and 12 after the command.
    (at(11), at(12))
}

/// Waits until `peer` answers `initialize` (MCP) or a call (REST), then keeps the
/// session it got.
async fn open(peer: &mut Peer) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Until the peer listens, connecting fails.
        if let Ok(mut wire) = Wire::connect(peer.port, peer.path, None).await {
            if !peer.mcp {
                if peer.call(&mut wire, 0).await {
                    return;
                }
            } else if let Ok((200, _)) = wire
                .post(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#)
                .await
            {
                let (status, _) = wire
                    .post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
                    .await
                    .expect("notifications/initialized");
                assert!(status < 300, "{}: notifications/initialized got {status}", peer.name);
                peer.session = wire.session.clone();
                if peer.call(&mut wire, 1).await {
                    return;
                }
            }
        }
        assert!(Instant::now() < deadline, "{} never answered", peer.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Default)]
struct PeerFigures {
    latencies_us: Vec<f64>,
    /// Calls and CPU at concurrency 1.
    calls: usize,
    user_s: f64,
    kernel_s: f64,
    /// Seconds and calls per level of `LEVELS`.
    level_secs: [f64; 3],
    level_calls: [usize; 3],
    failed: usize,
    rss_mb: f64,
}

impl PeerFigures {
    fn cpu_us(&self) -> f64 {
        (self.user_s + self.kernel_s) / self.calls as f64 * 1e6
    }
    fn per_second(&self, level: usize) -> f64 {
        self.level_calls[level] as f64 / self.level_secs[level]
    }
}

/// `n` sequential calls on one connection, timed, the peer's CPU counted.
async fn sequential(peer: &Peer, n: usize, f: &mut PeerFigures) {
    let mut wire = peer.wire().await;
    let (u0, k0) = peer.cpu();
    for i in 0..n {
        let t = Instant::now();
        if peer.call(&mut wire, i as u64 + 2).await {
            f.latencies_us.push(t.elapsed().as_secs_f64() * 1e6);
        } else {
            f.failed += 1;
            wire = peer.wire().await;
        }
    }
    let (u1, k1) = peer.cpu();
    f.calls += n;
    f.user_s += u1 - u0;
    f.kernel_s += k1 - k0;
}

/// `total` calls from `conc` keep-alive connections; seconds taken.
async fn concurrent(peer: &Peer, total: usize, conc: usize, f: &mut PeerFigures) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut wires = Vec::with_capacity(conc);
    for _ in 0..conc {
        wires.push(peer.wire().await);
    }
    let peer = Arc::new(peer.clone());
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for mut wire in wires {
        let (peer, next, failed) = (peer.clone(), next.clone(), failed.clone());
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                if !peer.call(&mut wire, i as u64 + 2).await {
                    failed.fetch_add(1, Ordering::Relaxed);
                    wire = peer.wire().await;
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    f.failed += failed.load(Ordering::Relaxed);
    t.elapsed().as_secs_f64()
}

const CALL_MCP_HUB: &str = r#"{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{"name":"bench__echo","arguments":{"text":"hello"}}}"#;
const CALL_MCP_PLAIN: &str = r#"{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}"#;
const CALL_MCP_FASTMCP: &str = r#"{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{"name":"bench_echo","arguments":{"text":"hello"}}}"#;
const REST: &str = "/api/servers/tools";
const CALL_REST: &str = r#"{"server_name":"bench","tool":"echo","arguments":{"text":"hello"}}"#;

fn spawn(cmd: &mut Command, what: &str) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"))
}

pub async fn peers(quick: bool) {
    let started = Instant::now();
    let phase = |what: &str| eprintln!("[{:6.1} s] {what}", started.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    phase("installing the peers (cached under target/bench-peers)");
    let peer_deps = peer_deps();
    let (rounds, per_round, per_level) = if quick {
        (2, 100, 400)
    } else {
        (5, 2000, 10_000)
    };
    let config = write_config(
        root,
        "one.json",
        json!({"bench": fixture_entry("bench", &[])}),
    );
    let fixture = fixture_bin();
    let fixture_cmd = format!("{} --name bench", fixture.display());

    phase("starting the floor, mcphub, supergateway, FastMCP and mcp-hub");
    let floor_port = free_port();
    let floor = spawn(
        Command::new(std::env::current_exe().expect("the bench binary"))
            .args(["--relay", &floor_port.to_string()])
            .arg(&fixture)
            .args(["--name", "bench"]),
        "the floor relay",
    );
    let ours = start_hub(Kind::Ours, &root.join("ours"), &config, false);
    let mcp_hub = start_hub(Kind::Peer, &root.join("mcp-hub"), &config, false);
    let sg_port = free_port();
    let sg = spawn(
        Command::new("node")
            .arg(
                peer_deps
                    .root
                    .join("npm/node_modules/supergateway/dist/index.js"),
            )
            .args([
                "--stdio",
                &fixture_cmd,
                "--outputTransport",
                "streamableHttp",
                "--stateful",
            ])
            .args(["--port", &sg_port.to_string(), "--logLevel", "none"]),
        "supergateway",
    );
    let fm_port = free_port();
    let fm = spawn(
        Command::new(peer_deps.venv_bin("python"))
            .arg(FASTMCP_HUB)
            .arg(&config)
            .arg(fm_port.to_string()),
        "FastMCP",
    );
    let pid = |c: &Child| c.id().expect("running");
    let mut peers = vec![
        Peer {
            sequential_only: true,
            ..Peer::new(
                "floor (relay)",
                floor_port,
                "/mcp",
                CALL_MCP_PLAIN,
                pid(&floor),
            )
        },
        Peer::new("mcphub /mcp", ours.port(), "/mcp", CALL_MCP_HUB, ours.pid()),
        Peer::new("mcphub REST", ours.port(), REST, CALL_REST, ours.pid()),
        Peer::new(
            concat!("supergateway ", supergateway_version!()),
            sg_port,
            "/mcp",
            CALL_MCP_PLAIN,
            pid(&sg),
        ),
        Peer::new(
            concat!("FastMCP ", fastmcp_version!()),
            fm_port,
            "/mcp",
            CALL_MCP_FASTMCP,
            pid(&fm),
        ),
        Peer::new(
            "mcp-hub 4.2.1 REST",
            mcp_hub.port(),
            REST,
            CALL_REST,
            mcp_hub.pid(),
        ),
    ];
    for peer in &mut peers {
        open(peer).await;
    }
    let mut figures: Vec<PeerFigures> = peers.iter().map(|_| PeerFigures::default()).collect();
    phase("warm-up");
    for peer in &peers {
        sequential(peer, per_round / 4 + 50, &mut PeerFigures::default()).await;
    }
    phase("concurrency 1, interleaved rounds");
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..peers.len()).collect();
        order.rotate_left(round % peers.len());
        for i in order {
            sequential(&peers[i], per_round, &mut figures[i]).await;
        }
    }
    for (li, &conc) in LEVELS.iter().enumerate() {
        phase(&format!("throughput at concurrency {conc}"));
        for round in 0..rounds {
            let mut order: Vec<usize> = (0..peers.len()).collect();
            order.rotate_left(round % peers.len());
            for i in order {
                if peers[i].sequential_only && conc > 1 {
                    continue;
                }
                let n = per_level / rounds;
                let secs = concurrent(&peers[i], n, conc, &mut figures[i]).await;
                figures[i].level_secs[li] += secs;
                figures[i].level_calls[li] += n;
            }
        }
    }
    for (peer, f) in peers.iter().zip(&mut figures) {
        f.rss_mb = peer.rss();
    }
    ours.stop().await;
    mcp_hub.stop().await;
    drop((floor, sg, fm));

    print_table(&peers, &mut figures, quick);
    eprintln!("run took {:.0} s", started.elapsed().as_secs_f64());
}

fn print_table(peers: &[Peer], figures: &mut [PeerFigures], quick: bool) {
    println!(
        "\nmcphub against the floor and its peers at the MCP level, {} mode, {} UTC, load {}",
        if quick { "quick" } else { "full" },
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        super::load_average()
    );
    println!(
        "one fixture backend over stdio behind each; one keep-alive client with TCP_QUICKACK; CPU is the peer's own processes'\n"
    );
    println!(
        "| peer | CPU µs/call | user µs | kernel µs | p50 ms | p99 ms | calls/s c1 | c16 | c64 | RSS MB | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (peer, f) in peers.iter().zip(figures.iter_mut()) {
        let (p50, p99) = (
            percentile(&mut f.latencies_us, 0.5) / 1e3,
            percentile(&mut f.latencies_us, 0.99) / 1e3,
        );
        let per = |s: f64| s / f.calls as f64 * 1e6;
        let level = |i: usize| {
            if f.level_calls[i] == 0 {
                none()
            } else {
                format!("{:.0}", f.per_second(i))
            }
        };
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {p50:.2} | {p99:.2} | {} | {} | {} | {:.1} | {} |",
            peer.name,
            f.cpu_us(),
            per(f.user_s),
            per(f.kernel_s),
            level(0),
            level(1),
            level(2),
            f.rss_mb,
            f.failed
        );
    }
    println!();
    let by = |name: &str| {
        peers
            .iter()
            .position(|p| p.name.starts_with(name))
            .expect("a peer")
    };
    let (floor, mcp, rest) = (by("floor"), by("mcphub /mcp"), by("mcphub REST"));
    for (front, i) in [("/mcp", mcp), ("REST", rest)] {
        let f = &figures[i];
        println!(
            "- at the floor, mcphub {front}: {:.2}× the floor's CPU per call; user CPU {:.2}× its kernel CPU (target ≤ 0.5: {})",
            f.cpu_us() / figures[floor].cpu_us(),
            f.user_s / f.kernel_s,
            if f.user_s <= 0.5 * f.kernel_s {
                "met"
            } else {
                "not met"
            }
        );
    }
    let others: Vec<usize> = (0..peers.len())
        .filter(|&i| i != floor && i != mcp && i != rest)
        .collect();
    // Each peer against mcphub's front of the same kind: an MCP client's figures are not
    // a REST client's (mcp-hub's /mcp is the old SSE transport, so it is met over REST).
    let ours_for = |i: usize| if peers[i].mcp { mcp } else { rest };
    let verdict = |met: bool| if met { "met" } else { "not met" };
    let cpu_ratios: Vec<f64> = others
        .iter()
        .map(|&i| figures[i].cpu_us() / figures[ours_for(i)].cpu_us())
        .collect();
    let worst = cpu_ratios.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "- CPU per call, each peer against mcphub's same front: at least {worst:.1}× (target ≥ 5: {})",
        verdict(worst >= 5.0)
    );
    for (li, conc) in LEVELS.iter().enumerate() {
        let worst = others
            .iter()
            .map(|&i| figures[ours_for(i)].per_second(li) / figures[i].per_second(li))
            .fold(f64::INFINITY, f64::min);
        println!(
            "- calls/s at concurrency {conc}, mcphub's same front against each peer: at least {worst:.1}× (target ≥ 3: {})",
            verdict(worst >= 3.0)
        );
    }
    for (&i, ratio) in others.iter().zip(&cpu_ratios) {
        let ours = &figures[ours_for(i)];
        println!(
            "- {} against mcphub {}: {ratio:.1}× the CPU per call, {:.1}× the p50, mcphub's calls/s {:.1}× / {:.1}× / {:.1}× at c1 / c16 / c64",
            peers[i].name,
            if peers[i].mcp { "/mcp" } else { "REST" },
            median(&figures[i].latencies_us) / median(&ours.latencies_us),
            ours.per_second(0) / figures[i].per_second(0),
            ours.per_second(1) / figures[i].per_second(1),
            ours.per_second(2) / figures[i].per_second(2),
        );
    }
}
