//! The bridge between protocol eras: each crossing of the README's table (a client of
//! one era, a server of the other or the same), with the Python SDK's client in both
//! modes, a 2026-07-28 server written with the Python SDK, and 2025-era servers (the
//! npm server-everything, the Rust fixture).

use serde_json::{Value, json};

use crate::deps::deps;
use crate::support::*;

/// The Python SDK client (`tests/clients/python_eras.py`) calling `tool` through the
/// hub at `url`, in `mode` (`legacy`: initialize at 2025-11-25; `modern`: stateless
/// 2026-07-28). It answers elicitation with the name Ada, sampling with "hi from the
/// model" and roots with file:///tmp/ws, and reports what it was asked.
async fn python_client(mode: &str, url: &str, tool: &str) -> Value {
    python_client_with(mode, url, tool, json!({})).await
}

async fn python_client_with(mode: &str, url: &str, tool: &str, args: Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/python_eras.py");
    let out = tokio::process::Command::new(deps().venv_bin("python"))
        .arg(script)
        .args(["--mode", mode, url, tool, "--args", &args.to_string()])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{mode} client, {tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn python_2026_server() -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixture/server_2026.py");
    json!({"command": deps().venv_bin("python"), "args": [script]})
}

/// The same server over streamable HTTP, with resumable streams; its URL.
async fn python_2026_server_over_http() -> (tokio::process::Child, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixture/server_2026.py");
    let port = free_port();
    let child = tokio::process::Command::new(deps().venv_bin("python"))
        .args([script, "--http", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    eventually("the Python server to listen", async || {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(drop)
    })
    .await;
    (child, format!("http://127.0.0.1:{port}/mcp"))
}

/// The events of one kind the client saw during its call.
fn seen<'a>(answer: &'a Value, kind: &str) -> Vec<&'a Value> {
    answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.get(kind))
        .collect()
}

async fn protocol_of(hub: &RunningHub, server: &str) -> String {
    let (_, servers) = hub.get("/api/servers").await;
    servers["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == server)
        .map(|s| s["protocolVersion"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// A 2026-07-28 server's questions reach a client of either era and its answers go
/// back: as `input_required` rounds to a 2026-07-28 client, as requests to a 2025-era
/// session. Progress and the log message of a call reach both.
#[tokio::test]
async fn a_2026_servers_questions_reach_clients_of_both_eras() {
    let hub = HubBuilder::new()
        .server("py", python_2026_server())
        .start()
        .await;
    hub.wait_connected("py").await;
    assert_eq!(protocol_of(&hub, "py").await, "2026-07-28");
    let url = hub.url("/mcp");
    for mode in ["modern", "legacy"] {
        let era = if mode == "modern" {
            "2026-07-28"
        } else {
            "2025-11-25"
        };
        let name = python_client(mode, &url, "py__ask_name").await;
        assert_eq!(name["protocol_version"], era, "{name}");
        assert_eq!(name["text"], "hello Ada", "{mode}: {name}");
        let asked = seen(&name, "elicitation");
        assert_eq!(asked.len(), 1, "{mode}: asked once: {name}");
        assert_eq!(asked[0]["message"], "What is your name?", "{name}");

        let model = python_client(mode, &url, "py__ask_model").await;
        assert_eq!(
            model["text"], "model said: hi from the model",
            "{mode}: {model}"
        );
        assert_eq!(seen(&model, "sampling").len(), 1, "{mode}: {model}");

        let roots = python_client(mode, &url, "py__list_my_roots").await;
        assert_eq!(roots["text"], "file:///tmp/ws", "{mode}: {roots}");

        let count = python_client(mode, &url, "py__count").await;
        assert_eq!(count["text"], "counted 3", "{mode}: {count}");
        let progress: Vec<_> = seen(&count, "progress")
            .iter()
            .map(|p| p[0].as_f64().unwrap())
            .collect();
        assert_eq!(progress, [1.0, 2.0, 3.0], "{mode}: {count}");
        let logs = seen(&count, "log");
        assert!(
            logs.iter().any(|l| l["data"] == "counting"),
            "{mode}: {count}"
        );
    }
}

/// A 2025-era server's requests in the middle of a call (elicitation, sampling,
/// roots) reach a stateless 2026-07-28 client as `input_required` rounds, and its
/// answers reach the waiting server.
#[tokio::test]
async fn a_2025_servers_requests_reach_a_2026_client_as_rounds() {
    let asks = random_name("asks");
    let hub = HubBuilder::new()
        .server(
            "everything",
            json!({"command": deps().npm_bin("mcp-server-everything"), "args": ["stdio"]}),
        )
        .server(&asks, fixture(&asks, &["--asks-roots"]))
        .start()
        .await;
    hub.wait_connected("everything").await;
    hub.wait_connected(&asks).await;
    assert_eq!(protocol_of(&hub, "everything").await, "2025-11-25");
    let url = hub.url("/mcp");

    let elicited = python_client("modern", &url, "everything__trigger-elicitation-request").await;
    assert_eq!(elicited["protocol_version"], "2026-07-28", "{elicited}");
    assert!(
        elicited["text"].as_str().unwrap().contains("Ada"),
        "the answer reached the server: {elicited}"
    );
    let asked = seen(&elicited, "elicitation");
    assert_eq!(asked.len(), 1, "{elicited}");
    assert!(
        asked[0]["requestedSchema"]["properties"]["name"].is_object(),
        "the server's own question: {elicited}"
    );

    let sampled = python_client_with(
        "modern",
        &url,
        "everything__trigger-sampling-request",
        json!({"prompt": "say hi"}),
    )
    .await;
    assert!(
        sampled["text"]
            .as_str()
            .unwrap()
            .contains("hi from the model"),
        "{sampled}"
    );
    assert_eq!(seen(&sampled, "sampling").len(), 1, "{sampled}");

    let roots = python_client("modern", &url, &format!("{asks}__roots")).await;
    assert!(
        roots["text"].as_str().unwrap().contains("file:///tmp/ws"),
        "{roots}"
    );
    assert_eq!(seen(&roots, "roots").len(), 1, "{roots}");
}

/// A `requestState` the hub never gave (or gave so long ago that it expired) is
/// refused with an error that says what to do, not passed to a backend.
#[tokio::test]
async fn an_unknown_round_state_is_refused_with_what_to_do() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let tool = format!("{a}__echo");
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": tool, "arguments": {"text": "x"},
            "inputResponses": {"elicitation-1": {"action": "accept", "content": {}}},
            "requestState": "mcphub-round:0000000000000000deadbeef",
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"}
            }
        }
    });
    let resp = reqwest::Client::new()
        .post(hub.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", &tool)
        .json(&body)
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("unknown or expired") && text.contains("without inputResponses"),
        "{text}"
    );
}

/// A REST call of a tool that asks the user something cannot be answered: it fails
/// at once, saying where the tool can be called instead.
#[tokio::test]
async fn a_rest_call_of_a_tool_that_asks_says_to_use_an_mcp_client() {
    let hub = HubBuilder::new()
        .server("py", python_2026_server())
        .start()
        .await;
    hub.wait_connected("py").await;
    let resp = reqwest::Client::new()
        .post(hub.url("/api/servers/tools"))
        .json(&json!({"server_name": "py", "tool": "ask_name", "arguments": {}}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(!status.is_success(), "{status} {text}");
    assert!(text.contains("only an MCP client"), "{status} {text}");
}

/// One stateless 2026-07-28 request to the hub's `/mcp`, its JSON-RPC answer.
async fn modern_request(
    hub: &RunningHub,
    method: &str,
    name: Option<&str>,
    params: Value,
) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        // The tasks extension (SEP-2663): without it a server may not make a call a task.
        "io.modelcontextprotocol/clientCapabilities":
            {"extensions": {"io.modelcontextprotocol/tasks": {}}},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"}
    });
    let mut req = reqwest::Client::new()
        .post(hub.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = name {
        req = req.header("mcp-name", name);
    }
    let text = req
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // JSON, or the one message of an SSE answer.
    let json = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| d.contains("\"jsonrpc\""))
        .unwrap_or(&text);
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A 2026-07-28 server that makes a call a task: the client gets the task, and its
/// `tasks/get` reaches the server that made it, through the hub.
#[tokio::test]
async fn a_task_reaches_a_2026_client_and_tasks_get_reaches_its_server() {
    let t = random_name("t");
    let hub = HubBuilder::new()
        .server(&t, fixture(&t, &["--tasks"]))
        .start()
        .await;
    hub.wait_connected(&t).await;
    assert_eq!(protocol_of(&hub, &t).await, "2026-07-28");
    let tool = format!("{t}__task");
    let started = modern_request(&hub, "tools/call", Some(&tool), json!({"name": tool})).await;
    assert_eq!(started["result"]["resultType"], "task", "{started}");
    let id = started["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"))
        .to_owned();
    let polled = modern_request(&hub, "tasks/get", Some(&id), json!({"taskId": id})).await;
    assert_eq!(polled["result"]["status"], "completed", "{polled}");
    assert_eq!(
        polled["result"]["result"]["content"][0]["text"],
        format!("{id} done"),
        "{polled}"
    );
    let unknown = modern_request(
        &hub,
        "tasks/get",
        Some("nobody-made-this"),
        json!({"taskId": "nobody-made-this"}),
    )
    .await;
    assert!(
        unknown["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown task")),
        "{unknown}"
    );
}

/// SEP-1699 polling through the hub: a server that closes a call's stream before its
/// answer (for its client to come back with `Last-Event-ID`) has the hub close its
/// client's stream the same way, and the client that resumes gets the answer, once.
#[tokio::test]
async fn a_call_whose_server_closes_its_stream_is_closed_for_the_client_and_resumed() {
    let (_server, url) = python_2026_server_over_http().await;
    let hub = HubBuilder::new()
        .server("py", json!({"url": url}))
        .start()
        .await;
    hub.wait_connected("py").await;
    let session = RawSession::open(&hub).await;
    let call = session
        .post(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
            "params": {"name": "py__closes_its_stream", "arguments": {}}}))
        .await;
    assert_eq!(call.status(), 200);
    let cut = call.text().await.unwrap();
    assert!(
        answers_to(&cut, 5).is_empty(),
        "the stream ends before the answer, as the server's did: {cut}"
    );
    let last_id = cut
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("id:"))
        .unwrap_or_else(|| panic!("an event id to resume from in {cut:?}"))
        .trim()
        .to_owned();
    let resumed = session.stream(Some(&last_id)).await;
    assert_eq!(resumed.status(), 200);
    let replay = resumed.text().await.unwrap();
    let answers = answers_to(&replay, 5);
    assert_eq!(answers.len(), 1, "the answer, once: {replay}");
    assert_eq!(
        answers[0]["result"]["content"][0]["text"], "answered after the stream closed",
        "{replay}"
    );
}
