//! The hub with real MCP servers from npm and PyPI, and real clients in front of it.

use serde_json::json;

use crate::deps::deps;
use crate::support::*;

/// server-everything over streamable HTTP on a free port; returns its URL.
async fn everything_over_http() -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let port = free_port();
    let mut child = tokio::process::Command::new(deps().npm_bin("mcp-server-everything"))
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::time::timeout(DEADLINE, async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if l.contains("listening on port") {
                return;
            }
        }
        panic!("server-everything exited before listening");
    })
    .await
    .expect("server-everything listens");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://127.0.0.1:{port}/mcp"))
}

struct RealHub {
    hub: RunningHub,
    _remote: tokio::process::Child,
    _memory_dir: tempfile::TempDir,
}

/// The bar of the hub issue: four real servers, stdio and HTTP, 4/4 connected.
async fn real_hub() -> RealHub {
    let d = deps();
    let (remote, url) = everything_over_http().await;
    let memory_dir = tempfile::tempdir().unwrap();
    let hub = HubBuilder::new()
        .server("everything", json!({"command": d.npm_bin("mcp-server-everything"), "args": ["stdio"], "env": {"EVERYTHING_SECRET": "s3cr3t-everything"}}))
        .server("memory", json!({"command": d.npm_bin("mcp-server-memory"), "env": {"MEMORY_FILE_PATH": memory_dir.path().join("memory.jsonl").display().to_string()}}))
        .server("time", json!({"command": d.venv_bin("mcp-server-time"), "args": ["--local-timezone", "UTC"]}))
        .server("everything-http", json!({"url": url, "headers": {"Authorization": "Bearer s3cr3t-header"}}))
        .start()
        .await;
    hub.wait_health("4/4 connected", |h| {
        h["servers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "connected")
            .count()
            == 4
    })
    .await;
    RealHub {
        hub,
        _remote: remote,
        _memory_dir: memory_dir,
    }
}

#[tokio::test]
async fn four_real_servers_are_aggregated_and_callable_over_mcp_and_rest() {
    let real = real_hub().await;
    let hub = &real.hub;
    let client = hub.mcp().await;
    let names = client.tool_names().await;
    for want in [
        "everything__echo",
        "everything_http__echo",
        "memory__read_graph",
        "time__get_current_time",
    ] {
        assert!(
            names.contains(&want.to_owned()),
            "{want} missing from {names:?}"
        );
    }
    assert!(
        client
            .call_text("everything__echo", json!({"message": "hi"}))
            .await
            .contains("hi")
    );
    assert!(
        client
            .call_text("everything_http__echo", json!({"message": "remote"}))
            .await
            .contains("remote")
    );
    let created = client
        .call_text("memory__create_entities", json!({"entities": [{"name": "mcphub", "entityType": "project", "observations": ["fast"]}]}))
        .await;
    assert!(created.contains("mcphub"), "{created}");
    let time = client
        .call_text("time__get_current_time", json!({"timezone": "UTC"}))
        .await;
    assert!(time.contains("UTC"), "{time}");
    let (st, body) = hub
        .post(
            "/api/servers/tools",
            json!({"server_name": "everything", "tool": "get-sum", "arguments": {"a": 2, "b": 40}}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert!(
        body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("42"),
        "{body}"
    );
    let health = hub.get("/api/health").await.1.to_string();
    assert!(
        !health.contains("s3cr3t"),
        "a secret leaked into /api/health"
    );
}

#[tokio::test]
async fn a_killed_real_server_is_back_within_seconds() {
    let real = real_hub().await;
    let hub = &real.hub;
    let pid = RunningHub::server(&hub.health().await, "memory")["pid"]
        .as_u64()
        .unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    hub.wait_health("memory back", |h| {
        let s = RunningHub::server(h, "memory");
        s["status"] == "connected" && s["pid"] != pid
    })
    .await;
    let client = hub.mcp().await;
    client.call_text("memory__read_graph", json!({})).await;
}

#[tokio::test]
async fn python_sdk_client_in_legacy_and_modern_modes() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/python_client.py"
    );
    for (mode, version) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let out = tokio::process::Command::new(deps().venv_bin("python"))
            .arg(script)
            .arg(hub.url("/mcp"))
            .arg(mode)
            .arg(format!("{a}__add"))
            .arg(r#"{"a": 1.5, "b": 2}"#)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["text"], "3.5", "{mode}: {v}");
        assert_eq!(v["protocol_version"], version, "{mode}: {v}");
        assert!(
            v["tools"]
                .as_array()
                .unwrap()
                .contains(&json!(format!("{a}__echo"))),
            "{mode}: {v}"
        );
    }
}

/// The MCP Inspector CLI with `args`; its answer's JSON.
async fn inspector(args: &[&str]) -> serde_json::Value {
    let out = tokio::process::Command::new(deps().npm_bin("mcp-inspector"))
        .arg("--cli")
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn mcp_inspector_cli_lists_and_calls_tools() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let url = hub.url("/mcp");
    let v = inspector(&[&url, "--transport", "http", "--method", "tools/list"]).await;
    let names: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&format!("{a}__echo").as_str()), "{names:?}");
    let tool = format!("{a}__echo");
    let v = inspector(&[
        &url,
        "--transport",
        "http",
        "--method",
        "tools/call",
        "--tool-name",
        &tool,
        "--tool-arg",
        "text=from-inspector",
    ])
    .await;
    assert_eq!(v["content"][0]["text"], "from-inspector", "{v}");
}

#[tokio::test]
async fn modern_clients_hear_list_changes_through_subscriptions_listen() {
    use tokio::io::AsyncBufReadExt;
    let a = random_name("a");
    let late = random_name("late");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let mut listener = tokio::process::Command::new(deps().venv_bin("python"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/python_listen.py"
        ))
        .arg(hub.url("/mcp"))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(listener.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.as_deref(), Some("listening"));
    let cfg =
        json!({"mcpServers": {a.clone(): fixture(&a, &[]), late.clone(): fixture(&late, &[])}});
    std::fs::write(&hub.config_path, cfg.to_string()).unwrap();
    assert_eq!(hub.post("/api/restart", json!({})).await.0, 200);
    let changed = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(changed.starts_with("ToolsListChanged"), "{changed}");
    let status = tokio::time::timeout(DEADLINE, listener.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn the_toolkit_reads_the_original_node_mcp_hub_too() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let name = random_name("srv");
    let cfg = dir.path().join("servers.json");
    std::fs::write(
        &cfg,
        json!({"mcpServers": {name.clone(): fixture(&name, &[])}}).to_string(),
    )
    .unwrap();
    let port = free_port();
    let mut peer = tokio::process::Command::new(deps().npm_bin("mcp-hub"))
        .args(["--port", &port.to_string(), "--config"])
        .arg(&cfg)
        .env("HOME", &home)
        .env_remove("XDG_STATE_HOME")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(peer.stdout.take().unwrap()).lines();
    tokio::time::timeout(DEADLINE, async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if l.contains("servers started") {
                return;
            }
        }
    })
    .await
    .expect("mcp-hub starts its servers");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let run = |args: &[&str]| {
        let out = std::process::Command::new(HUB)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(&["validate", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["pid"],
        peer.id().unwrap(),
        "mcp-hub's PID from its workspaces.json: {out}"
    );
    assert!(out.contains(&format!("server {name}")), "{out}");
    let (code, out) = run(&["check-alerts", "--format", "nagios"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("'llm_success_rate'=U;"),
        "LLM figures are N/A: {out}"
    );
    let (code, out) = run(&["monitor", "--once"]);
    assert_eq!(code, 0);
    assert!(out.contains(&name) && out.contains("N/A"), "{out}");
}

/// Runs the official conformance suite (server mode, all scenarios) against `url`;
/// returns (passed, failed, the summary).
async fn conformance(url: &str) -> (u64, u64, String) {
    let d = deps();
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(d.npm_bin("node"))
        .arg(d.npm_bin("conformance"))
        .args(["server", "--url", url])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let summary = text
        .split("=== SUMMARY ===")
        .nth(1)
        .unwrap_or(&text)
        .to_owned();
    let total = summary
        .lines()
        .find_map(|l| l.strip_prefix("Total: "))
        .unwrap_or_else(|| panic!("no summary from the conformance suite:\n{text}"));
    let num = |word: &str| {
        total
            .split(", ")
            .find_map(|p| p.strip_suffix(word))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("unreadable total `{total}`"))
    };
    (num(" passed"), num(" failed"), summary)
}

#[tokio::test]
async fn conformance_suite_passes_through_the_hub_as_it_does_against_the_server_directly() {
    use tokio::io::AsyncBufReadExt;
    // Directly against the fixture.
    let mut direct = tokio::process::Command::new(FIXTURE)
        .args(["--everything", "--http", "0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(direct.stdout.take().unwrap()).lines();
    let addr = lines
        .next_line()
        .await
        .unwrap()
        .unwrap()
        .trim_start_matches("listening on ")
        .to_owned();
    let (direct_passed, direct_failed, direct_summary) =
        conformance(&format!("http://{addr}/mcp")).await;
    assert_eq!(
        direct_failed, 0,
        "the fixture itself fails the suite:\n{direct_summary}"
    );
    // Through the hub, with no prefix so that the names are the suite's.
    let hub = HubBuilder::new()
        .server(
            "everything",
            json!({"command": FIXTURE, "args": ["--everything"], "prefix": ""}),
        )
        .start()
        .await;
    hub.wait_connected("everything").await;
    let (passed, failed, summary) = conformance(&hub.url("/mcp")).await;
    assert_eq!(
        (passed, failed),
        (direct_passed, 0),
        "through the hub:\n{summary}\ndirect:\n{direct_summary}"
    );
    assert!(passed >= 40, "{summary}");
}

/// A start where every server connects says so and warns of nothing: the real servers
/// announce list changes while they start, before the hub has their offer, and that
/// used to log "refreshing the offer … failed: server is connecting" (three times for
/// server-everything).
#[tokio::test]
async fn a_healthy_start_of_real_servers_logs_no_warning() {
    let real = real_hub().await;
    let hub = &real.hub;
    // Every tool of every server is listed: nothing announced during the start is lost.
    let names = hub.mcp().await.tool_names().await;
    assert!(
        names.iter().any(|n| n.starts_with("everything__"))
            && names.iter().any(|n| n.starts_with("time__")),
        "{names:?}"
    );
    let log = read(&hub.log_file());
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["level"] == "WARN" || v["level"] == "ERROR")
        })
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}

/// Clients set up against mcp-hub speak the old HTTP+SSE transport: the Python SDK's
/// SSE client lists and calls tools through mcphub, progress included, at `/sse` and at
/// `/mcp` (where mcp-hub serves it).
#[tokio::test]
async fn old_sse_clients_list_and_call_tools_with_progress() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/python_sse.py");
    for path in ["/sse", "/mcp"] {
        let out = tokio::process::Command::new(deps().venv_bin("python"))
            .arg(script)
            .arg(hub.url(path))
            .arg(format!("{a}__slow"))
            .arg(r#"{"ms": 300, "steps": 3}"#)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            v["tools"]
                .as_array()
                .unwrap()
                .contains(&json!(format!("{a}__echo"))),
            "{path}: {v}"
        );
        assert_eq!(v["progress"], 3, "{path}: progress relayed: {v}");
    }
    // The sessions are gone once their clients are.
    let h = hub
        .wait_health("sessions closed", |h| h["activeClients"] == 0)
        .await;
    assert_eq!(h["activeClients"], 0);
}

/// The MCP Inspector CLI with `--transport sse`.
#[tokio::test]
async fn mcp_inspector_cli_over_old_sse() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let (url, tool) = (hub.url("/sse"), format!("{a}__echo"));
    let v = inspector(&[
        &url,
        "--transport",
        "sse",
        "--method",
        "tools/call",
        "--tool-name",
        &tool,
        "--tool-arg",
        "text=over-sse",
    ])
    .await;
    assert_eq!(v["content"][0]["text"], "over-sse", "{v}");
}

/// An old-SSE client that goes before it initializes leaves no session behind: its
/// endpoint answers 404 once it has gone.
#[tokio::test]
async fn an_old_sse_session_left_before_initialize_is_gone() {
    let hub = HubBuilder::new().start().await;
    let mut stream = hub
        .http
        .get(hub.url("/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    let endpoint = loop {
        let chunk = tokio::time::timeout(DEADLINE, stream.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(path) = seen.lines().find_map(|l| l.strip_prefix("data: ")) {
            break path.to_owned();
        }
    };
    // Not a JSON-RPC message: refused (400) while the session lives, without reaching
    // it; 404 once it is gone.
    let (status, body) = hub.post(&endpoint, json!({})).await;
    assert_eq!(status, 400, "{body}");
    drop(stream);
    eventually("the session to end", async || {
        let (status, _) = hub.post(&endpoint, json!({})).await;
        (status == 404).then_some(())
    })
    .await;
}

/// supergateway's SSE-to-stdio bridge, the way stdio-only clients reach an mcp-hub:
/// it connects to the hub's old-SSE endpoint and the client speaks JSON-RPC lines.
#[tokio::test]
async fn supergateway_bridges_a_stdio_client_to_the_old_sse_endpoint() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let mut child = tokio::process::Command::new(deps().npm_bin("supergateway"))
        .args(["--sse", &hub.url("/sse"), "--logLevel", "none"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let requests = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "stdio-client", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": format!("{a}__echo"), "arguments": {"text": "through supergateway"}}}),
    ];
    let mut answers = std::collections::BTreeMap::new();
    for r in requests {
        stdin.write_all(format!("{r}\n").as_bytes()).await.unwrap();
        let Some(id) = r["id"].as_u64() else { continue };
        while !answers.contains_key(&id) {
            let line = tokio::time::timeout(DEADLINE, lines.next_line())
                .await
                .expect("supergateway answers within the deadline")
                .unwrap()
                .expect("supergateway stays up");
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(n) = v["id"].as_u64()
            {
                answers.insert(n, v);
            }
        }
    }
    assert_eq!(
        answers[&1]["result"]["serverInfo"]["name"], "mcphub",
        "{}",
        answers[&1]
    );
    let tools: Vec<&str> = answers[&2]["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(tools.contains(&format!("{a}__echo").as_str()), "{tools:?}");
    assert_eq!(
        answers[&3]["result"]["content"][0]["text"], "through supergateway",
        "{}",
        answers[&3]
    );
}

/// Everything the streamable front relays works on the old-SSE front too: a real
/// server's sampling, elicitation and roots requests reach the SSE client and its
/// answers go back, log notifications of a call reach it, and so does a list change.
#[tokio::test]
async fn old_sse_clients_get_sampling_elicitation_roots_logs_and_list_changes() {
    let (logging, grows) = (random_name("logging"), random_name("grows"));
    let hub = HubBuilder::new()
        .server(
            "everything",
            json!({"command": deps().npm_bin("mcp-server-everything"), "args": ["stdio"]}),
        )
        .server(&logging, fixture(&logging, &["--everything"]))
        .server(&grows, fixture(&grows, &["--grows", "--asks-roots"]))
        .start()
        .await;
    for s in ["everything", logging.as_str(), grows.as_str()] {
        hub.wait_connected(s).await;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/python_sse_relays.py"
    );
    let out = tokio::process::Command::new(deps().venv_bin("python"))
        .arg(script)
        .args([&hub.url("/sse"), "everything", &logging, &grows])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["sampling"]
            .as_str()
            .unwrap()
            .contains("sampled by the SSE client"),
        "{v}"
    );
    assert!(
        v["elicitation"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("decline"),
        "{v}"
    );
    assert!(
        v["roots"]
            .as_str()
            .unwrap()
            .contains("file:///tmp/sse-root"),
        "{v}"
    );
    assert!(v["logs"].as_u64().unwrap() > 0, "{v}");
    assert!(
        v["tools_after_change"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("{grows}__grown_0"))),
        "{v}"
    );
}
