//! A fluent builder over the real `mcphub` binary: each test gets its own port (0),
//! temp HOME and state dir, and talks to the hub as a user's client would.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

pub const HUB: &str = env!("CARGO_BIN_EXE_mcphub");
pub const FIXTURE: &str = env!("CARGO_BIN_EXE_mcphub-fixture-server");

/// How long a condition may take before a test fails with the hub's last state.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A loopback port that was free a moment ago: for a server a test starts on it, or
/// (nothing started) for an address where nothing listens.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An address on loopback where nothing listens, ending in `path`.
pub fn closed_url(path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", free_port())
}

pub fn random_name(stem: &str) -> String {
    format!("{stem}_{:06x}", rand::random::<u32>() & 0xffffff)
}

/// A fixture server entry.
pub fn fixture(name: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--name".to_owned(), name.to_owned()];
    args.extend(extra.iter().map(|s| s.to_string()));
    json!({"command": FIXTURE, "args": args})
}

pub struct HubBuilder {
    servers: Map<String, Value>,
    top: Map<String, Value>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    config: bool,
    state_dir: Option<PathBuf>,
    /// Run as mcp-hub is run: this program (a link named `mcp-hub`, say), its flags,
    /// no `serve` subcommand, the state directory through the environment.
    as_mcp_hub: Option<PathBuf>,
}

impl HubBuilder {
    pub fn new() -> HubBuilder {
        HubBuilder {
            servers: Map::new(),
            top: Map::new(),
            args: vec![],
            env: vec![],
            config: true,
            state_dir: None,
            as_mcp_hub: None,
        }
    }

    /// Invoke `program` the way mcp-hub's clients invoke mcp-hub.
    pub fn invoked_as_mcp_hub(mut self, program: &Path) -> HubBuilder {
        self.as_mcp_hub = Some(program.to_owned());
        self
    }

    pub fn server(mut self, name: &str, entry: Value) -> HubBuilder {
        self.servers.insert(name.to_owned(), entry);
        self
    }

    /// A top-level key of the servers file (`toolFiltering`, `toolExposure`, …).
    pub fn top(mut self, key: &str, value: Value) -> HubBuilder {
        self.top.insert(key.to_owned(), value);
        self
    }

    pub fn fixture(self, name: &str) -> HubBuilder {
        self.server(name, fixture(name, &[]))
    }

    pub fn arg(mut self, a: &str) -> HubBuilder {
        self.args.push(a.to_owned());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> HubBuilder {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Share another hub's state directory.
    pub fn state_dir(mut self, dir: &Path) -> HubBuilder {
        self.state_dir = Some(dir.to_owned());
        self
    }

    /// Start with no `-c` at all (and an empty HOME): the fresh-machine case.
    pub fn without_config(mut self) -> HubBuilder {
        self.config = false;
        self
    }

    pub fn config_text(&self) -> String {
        let mut top = self.top.clone();
        top.insert("mcpServers".into(), Value::Object(self.servers.clone()));
        serde_json::to_string_pretty(&Value::Object(top)).unwrap()
    }

    /// Spawns the hub and waits for it to listen and reach `ready`.
    pub async fn start(self) -> RunningHub {
        let mut hub = self.spawn().await;
        hub.wait_listening().await;
        hub.wait_health("hub ready", |h| h["state"] == "ready")
            .await;
        hub
    }

    /// Spawns the hub and returns at once (for tests of start-up failures).
    pub async fn spawn(self) -> RunningHub {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let state = self
            .state_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("state"));
        let config_path = dir.path().join("servers.json");
        let mut cmd = match &self.as_mcp_hub {
            Some(program) => {
                let mut cmd = Command::new(program);
                cmd.arg("--port").arg("0");
                cmd
            }
            None => {
                let mut cmd = Command::new(HUB);
                cmd.arg("serve").arg("--port").arg("0");
                cmd.arg("--state-dir").arg(&state);
                cmd
            }
        };
        if self.config {
            std::fs::write(&config_path, self.config_text()).unwrap();
            cmd.arg("-c").arg(&config_path);
        }
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("RUST_LOG", "info")
            .envs(self.env.iter().cloned())
            .envs(
                self.as_mcp_hub
                    .as_ref()
                    .map(|_| ("MCPHUB_STATE_DIR", &state)),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawning mcphub");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = tokio::sync::watch::channel(None);
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let port = rest
                        .split('/')
                        .next()
                        .and_then(|a| a.rsplit(':').next())
                        .and_then(|p| p.parse::<u16>().ok());
                    let _ = port_tx.send(port);
                }
                sink.lock().unwrap().push(line);
            }
        });
        RunningHub {
            child,
            port: 0,
            _dir: dir,
            config_path,
            state_dir: state,
            home,
            stderr: lines,
            port_rx,
            http: reqwest::Client::new(),
        }
    }
}

pub struct RunningHub {
    pub child: Child,
    pub port: u16,
    /// Kept so that the temp HOME and state dir live as long as the hub.
    _dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub state_dir: PathBuf,
    pub home: PathBuf,
    stderr: Arc<Mutex<Vec<String>>>,
    port_rx: tokio::sync::watch::Receiver<Option<u16>>,
    pub http: reqwest::Client,
}

impl RunningHub {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("logs/mcp-hub.log")
    }

    pub async fn wait_listening(&mut self) {
        let rx = &mut self.port_rx;
        let port = tokio::time::timeout(DEADLINE, rx.wait_for(|p| p.is_some()))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "hub never listened; stderr:\n{}",
                    self.stderr.lock().unwrap().join("\n")
                )
            })
            .map(|p| p.unwrap())
            .unwrap_or_else(|_| {
                panic!(
                    "hub exited before listening; stderr:\n{}",
                    self.stderr.lock().unwrap().join("\n")
                )
            });
        self.port = port;
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The body of `GET path` as text, whatever its status.
    pub async fn get_text(&self, path: &str) -> String {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `/metrics` in the classic text format.
    pub async fn metrics_text(&self) -> String {
        self.get_text("/metrics").await
    }

    /// A tool call through mcp-hub's REST API: `POST /api/servers/tools`.
    pub async fn call_rest(&self, server: &str, tool: &str, arguments: Value) -> (u16, Value) {
        self.post(
            "/api/servers/tools",
            json!({"server_name": server, "tool": tool, "arguments": arguments}),
        )
        .await
    }

    pub async fn health(&self) -> Value {
        let (status, body) = self.get("/api/health").await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Polls `/api/health` until `pred` holds; fails with the last health on timeout.
    pub async fn wait_health(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            if let Ok(r) = self.http.get(self.url("/api/health")).send().await
                && let Ok(h) = r.json::<Value>().await
            {
                if pred(&h) {
                    return h;
                }
                if start.elapsed() > DEADLINE {
                    panic!(
                        "timed out waiting for {what}; last health:\n{h:#}\nstderr:\n{}",
                        self.stderr()
                    );
                }
            } else if start.elapsed() > DEADLINE {
                panic!(
                    "timed out waiting for {what}; hub not answering; stderr:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn server<'a>(health: &'a Value, name: &str) -> &'a Value {
        health["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no server {name} in {health:#}"))
    }

    pub async fn server_status(&self, name: &str) -> Value {
        let h = self.health().await;
        RunningHub::server(&h, name).clone()
    }

    pub async fn wait_connected(&self, name: &str) -> Value {
        let h = self
            .wait_health(&format!("{name} connected"), |h| {
                h["servers"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|s| s["name"] == name && s["status"] == "connected")
                })
            })
            .await;
        RunningHub::server(&h, name).clone()
    }

    /// The health once each of `names` is reported with an error.
    pub async fn wait_reported(&self, names: &[&str]) -> Value {
        self.wait_health(&format!("{names:?} reported with an error"), |h| {
            names
                .iter()
                .all(|n| RunningHub::server(h, n)["error"].is_string())
        })
        .await
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = self.child.id().expect("hub still running") as i32;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).unwrap();
    }

    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("hub did not exit; stderr:\n{}", self.stderr()))
            .unwrap()
    }

    /// Runs a toolkit command the way cron would: same HOME and state dir as the hub,
    /// no flags pointing at it (discovery must find it).
    pub fn toolkit(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.toolkit_command(args).as_std_mut().output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The command behind [`Self::toolkit`], to run it concurrently.
    pub fn toolkit_command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(HUB);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("MCPHUB_STATE_DIR", &self.state_dir);
        cmd
    }

    /// Writes the default servers file with `servers`, as a user following the README
    /// would (the hub was started without `-c`); returns its path.
    pub fn write_default_config(&self, servers: Value) -> PathBuf {
        let file = self.home.join(".config/mcphub/servers.json");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, json!({"mcpServers": servers}).to_string()).unwrap();
        file
    }

    /// mcp-hub's `POST /api/servers/stop?disable=true` for `server`.
    pub async fn stop_disabling(&self, server: &str) -> (u16, Value) {
        self.post(
            "/api/servers/stop?disable=true",
            json!({"server_name": server}),
        )
        .await
    }

    /// A client of `/api/events`, from now on.
    pub async fn events(&self) -> Events {
        Events {
            response: self.http.get(self.url("/api/events")).send().await.unwrap(),
            text: String::new(),
        }
    }

    pub async fn mcp(&self) -> McpClient {
        McpClient::connect(&self.url("/mcp")).await
    }
}

pub fn pid_alive(pid: u32) -> bool {
    mcphub::state::pid_alive(pid)
}

/// Waits until `pid` is gone (or the deadline passes).
pub async fn wait_pid_gone(pid: u32) -> bool {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if !pid_alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

// ----- an MCP client, the way an application would use the SDK -----

use rmcp::model::{CallToolRequestParams, CallToolResult, ProgressNotificationParam};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::{ClientHandler, ServiceExt};

pub struct Recorder {
    pub progress: tokio::sync::mpsc::UnboundedSender<ProgressNotificationParam>,
    pub tools_changed: tokio::sync::mpsc::UnboundedSender<()>,
}

impl ClientHandler for Recorder {
    async fn on_progress(&self, p: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        let _ = self.progress.send(p);
    }
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.tools_changed.send(());
    }
}

pub struct McpClient {
    pub service: RunningService<RoleClient, Recorder>,
    pub progress: tokio::sync::mpsc::UnboundedReceiver<ProgressNotificationParam>,
    pub tools_changed: tokio::sync::mpsc::UnboundedReceiver<()>,
}

impl McpClient {
    pub async fn connect(url: &str) -> McpClient {
        let (ptx, prx) = tokio::sync::mpsc::unbounded_channel();
        let (ttx, trx) = tokio::sync::mpsc::unbounded_channel();
        let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.to_owned());
        let service = Recorder {
            progress: ptx,
            tools_changed: ttx,
        }
        .serve(transport)
        .await
        .expect("MCP client connects to the hub");
        McpClient {
            service,
            progress: prx,
            tools_changed: trx,
        }
    }

    /// Waits for `notifications/tools/list_changed`; fails after [`DEADLINE`].
    pub async fn tools_list_changed(&mut self, what: &str) {
        tokio::time::timeout(DEADLINE, self.tools_changed.recv())
            .await
            .unwrap_or_else(|_| panic!("no tools/list_changed: {what}"))
            .expect("the session is open");
    }

    pub async fn tool_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .service
            .peer()
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        names
    }

    pub async fn call(
        &self,
        name: &str,
        args: Value,
    ) -> Result<CallToolResult, rmcp::ServiceError> {
        let mut p = CallToolRequestParams::new(name.to_owned());
        p.arguments = args.as_object().cloned();
        self.service.peer().call_tool(p).await
    }

    /// The values of the next `n` progress notifications (fewer when they stop coming
    /// within the deadline).
    pub async fn progress_values(&mut self, n: usize) -> Vec<f64> {
        let mut seen = vec![];
        while seen.len() < n {
            match tokio::time::timeout(DEADLINE, self.progress.recv()).await {
                Ok(Some(p)) => seen.push(p.progress),
                _ => break,
            }
        }
        seen
    }

    pub async fn call_text(&self, name: &str, args: Value) -> String {
        let r = self
            .call(name, args)
            .await
            .unwrap_or_else(|e| panic!("calling {name}: {e}"));
        text_of(&r)
    }
}

pub fn text_of(r: &CallToolResult) -> String {
    let v = serde_json::to_value(r).unwrap();
    v["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `mcphub serve -c config` on port 0 with `state` as its state dir, to its exit: for
/// configurations that must be refused before anything starts.
pub fn serve_to_exit(config: &Path, state: &Path) -> std::process::Output {
    std::process::Command::new(HUB)
        .args(["serve", "--port", "0", "--state-dir"])
        .arg(state)
        .arg("-c")
        .arg(config)
        .output()
        .unwrap()
}

/// Polls `check` until it gives a value; fails naming `what` after [`DEADLINE`].
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub const FAKE_LLM: &str = env!("CARGO_BIN_EXE_mcphub-fake-llm");

/// The fake LLM provider (`tests/fixture/llm.rs`) on a free loopback port.
pub struct FakeLlm {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl FakeLlm {
    pub async fn start(mode: &str) -> FakeLlm {
        let mut child = Command::new(FAKE_LLM)
            .args(["--port", "0", "--mode", mode, "--category", "development"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the fake LLM starts");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(DEADLINE, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("the fake LLM exited before listening");
        })
        .await
        .expect("the fake LLM listens");
        FakeLlm {
            child,
            base: url,
            http: reqwest::Client::new(),
        }
    }

    /// `path` on the fake, e.g. `url("/v1")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `baseURL` a provider's client is given: OpenAI-compatible clients are
    /// pointed at `/v1`, the others at the root (they add their own version path).
    pub fn base_url(&self, provider: &str) -> String {
        if provider == "openai" {
            self.url("/v1")
        } else {
            self.url("")
        }
    }

    /// Requests the fake has answered (or refused) so far.
    pub async fn requests(&self) -> u64 {
        self.stats().await["requests"].as_u64().unwrap()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// Changes its behaviour: `{"mode", "delay_ms", "category", "answers"}`.
    pub async fn control(&self, body: Value) {
        let r = self
            .http
            .post(self.url("/_control"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "fake LLM control refused {body}");
    }

    /// `{"requests", "tools", "max_concurrent", "in_flight", "by_provider"}`.
    pub async fn stats(&self) -> Value {
        self.http
            .get(self.url("/_stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A `toolFiltering.llmCategorization` block pointing at this fake.
    pub fn llm_config(&self, provider: &str, extra: Value) -> Value {
        let mut cfg = json!({
            "enabled": true, "provider": provider, "baseURL": self.base_url(provider), "model": "fake-model",
            "apiKey": "${FAKE_LLM_KEY}", "retryCount": 0, "backoffBase": 5, "maxBackoff": 20,
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            cfg[k] = v.clone();
        }
        cfg
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A client of the hub's `/api/events` stream.
pub struct Events {
    response: reqwest::Response,
    text: String,
}

impl Events {
    /// A client of any hub's events stream (mcp-hub's too), from now on.
    pub async fn connect(url: &str) -> Events {
        Events {
            response: reqwest::get(url).await.unwrap(),
            text: String::new(),
        }
    }

    /// Reads until the hub ends the stream (cleanly: a cut connection fails).
    pub async fn until_end(&mut self) {
        while let Some(chunk) = tokio::time::timeout(DEADLINE, self.response.chunk())
            .await
            .expect("the stream ends within the deadline")
            .expect("the stream ends cleanly")
        {
            self.text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The stream as received so far, framing and all.
    pub fn raw(&self) -> &str {
        &self.text
    }

    /// The data of every event so far, reading on until one of them satisfies `done`.
    pub async fn until(&mut self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.until_count(1, done).await
    }

    /// The data of every event so far, reading on until `n` of them satisfy `done`.
    pub async fn until_count(&mut self, n: usize, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        loop {
            let data = self.data();
            if data.iter().filter(|v| done(v)).count() >= n {
                return data;
            }
            let chunk = tokio::time::timeout(DEADLINE, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no such event within the deadline:\n{}", self.text))
                .unwrap()
                .unwrap_or_else(|| panic!("the events stream ended after:\n{}", self.text));
            self.text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    fn data(&self) -> Vec<Value> {
        self.text
            .split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect()
    }
}

/// A client of a session, speaking raw HTTP: to cut and resume its streams, or to
/// read them as slowly as it likes.
pub struct RawSession<'a> {
    pub hub: &'a RunningHub,
    pub http: reqwest::Client,
    pub id: String,
}

impl<'a> RawSession<'a> {
    pub async fn open(hub: &'a RunningHub) -> RawSession<'a> {
        let http = reqwest::Client::new();
        let mut s = RawSession {
            hub,
            http,
            id: String::new(),
        };
        let init = s
            .post(
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "resumer", "version": "0"}}}),
            )
            .await;
        s.id = init.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        drop(init.text().await);
        s.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        s
    }

    /// A POST of `/mcp` on this session (none before `initialize` has answered).
    fn request(&self) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(self.hub.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25");
        if !self.id.is_empty() {
            req = req.header("mcp-session-id", &self.id);
        }
        req
    }

    pub async fn post(&self, body: serde_json::Value) -> reqwest::Response {
        self.request().json(&body).send().await.unwrap()
    }

    /// `body` padded past the size the hub reads to answer a request itself
    /// (`tools/list`, `tools/call`), so that the SDK's server answers it.
    pub async fn post_to_sdk(&self, body: serde_json::Value) -> reqwest::Response {
        let mut padded = body.to_string();
        padded.push_str(&" ".repeat(70_000));
        self.request()
            .header("content-type", "application/json")
            .body(padded)
            .send()
            .await
            .unwrap()
    }

    /// A GET of `/mcp` on the session: its standalone stream, or with `last_event_id`
    /// the stream that id is from, resumed after it.
    pub async fn stream(&self, last_event_id: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .get(self.hub.url("/mcp"))
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        req.send().await.unwrap()
    }
}

/// The messages in an SSE body.
pub fn sse_messages(body: &str) -> impl Iterator<Item = Value> + '_ {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
}

/// The answers to request `id` in an SSE body.
pub fn answers_to(body: &str, id: u64) -> Vec<serde_json::Value> {
    sse_messages(body).filter(|m| m["id"] == id).collect()
}

/// A process's resident memory, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    read(Path::new(&format!("/proc/{pid}/status")))
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// The value of one Prometheus sample of the hub's `/metrics`, 0 when absent.
pub async fn metric(hub: &RunningHub, name_and_labels: &str) -> f64 {
    hub.metrics_text()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
        .unwrap_or(0.0)
}
