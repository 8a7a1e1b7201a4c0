use serde_json::{Value, json};

use crate::deps::deps;
use crate::support::*;

#[tokio::test]
async fn tools_resources_and_prompts_of_all_servers_are_aggregated_and_callable() {
    let a = random_name("alpha");
    let b = random_name("beta");
    let hub = HubBuilder::new().fixture(&a).fixture(&b).start().await;
    hub.wait_connected(&a).await;
    hub.wait_connected(&b).await;
    let client = hub.mcp().await;
    let names = client.tool_names().await;
    assert_eq!(names.len(), 20, "{names:?}");
    assert!(
        names.contains(&format!("{a}__echo")) && names.contains(&format!("{b}__add")),
        "{names:?}"
    );
    assert_eq!(
        client
            .call_text(&format!("{b}__add"), json!({"a": 2, "b": 3}))
            .await,
        "5"
    );
    assert_eq!(
        client
            .call_text(&format!("{a}__echo"), json!({"text": "hi"}))
            .await,
        "hi"
    );

    let peer = client.service.peer();
    let resources = peer.list_all_resources().await.unwrap();
    assert_eq!(resources.len(), 2);
    let templates = peer.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 2);
    // A URI from a template reaches the server whose template matches.
    let read = peer
        .read_resource(
            serde_json::from_value(json!({"uri": format!("fixture://{b}/item/42")})).unwrap(),
        )
        .await
        .unwrap();
    let text = serde_json::to_value(&read).unwrap()["contents"][0]["text"].clone();
    assert_eq!(text, format!("{b} says: item/42"));

    let prompts = peer.list_all_prompts().await.unwrap();
    let mut pnames: Vec<_> = prompts.iter().map(|p| p.name.clone()).collect();
    pnames.sort();
    assert_eq!(pnames, vec![format!("{a}__greet"), format!("{b}__greet")]);
    let got = peer
        .get_prompt(
            serde_json::from_value(
                json!({"name": format!("{a}__greet"), "arguments": {"who": "Ada"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&got).unwrap()["messages"][0]["content"]["text"],
        "Hello, Ada!"
    );
}

#[tokio::test]
async fn empty_prefix_exposes_plain_names_and_collisions_are_resolved_deterministically() {
    let a = random_name("a");
    let b = random_name("b");
    let mut fa = fixture(&a, &[]);
    fa["prefix"] = json!("");
    let mut fb = fixture(&b, &[]);
    fb["prefix"] = json!("");
    let hub = HubBuilder::new()
        .server(&a, fa)
        .server(&b, fb)
        .start()
        .await;
    hub.wait_connected(&a).await;
    hub.wait_connected(&b).await;
    let client = hub.mcp().await;
    let names = client.tool_names().await;
    assert!(
        names.contains(&"echo".to_owned()) && names.contains(&"echo_2".to_owned()),
        "{names:?}"
    );
    // The server first in name order keeps the plain name.
    let first = a.clone().min(b.clone());
    let pid = client.call_text("pid", json!({})).await;
    let h = hub.health().await;
    assert_eq!(RunningHub::server(&h, &first)["pid"].to_string(), pid);
    assert!(
        hub.stderr().contains("is taken; exposed as"),
        "collision is logged"
    );
}

#[tokio::test]
async fn unknown_tool_is_an_invalid_params_error_naming_the_tool() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    let client = hub.mcp().await;
    let err = client.call("nope__missing", json!({})).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("nope__missing") && msg.contains("-32602"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_name_in_a_servers_namespace_that_it_did_not_list_is_the_servers_to_answer() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    let client = hub.mcp().await;
    assert!(
        !client
            .tool_names()
            .await
            .contains(&format!("{a}__unlisted"))
    );
    let text = client.call_text(&format!("{a}__unlisted"), json!({})).await;
    assert_eq!(text, format!("{a} answers a tool it does not list"));
    // A name the server does not know either: the server's own error, passed on.
    let err = client
        .call(&format!("{a}__missing"), json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no tool missing"), "{err}");

    // A filter cannot judge a tool it never saw: with one on, the name stays unknown.
    let filtered = HubBuilder::new()
        .fixture(&a)
        .top(
            "toolFiltering",
            json!({"enabled": true, "mode": "server-allowlist",
                   "serverFilter": {"mode": "allowlist", "servers": [&a]}}),
        )
        .start()
        .await;
    let client = filtered.mcp().await;
    assert!(client.tool_names().await.contains(&format!("{a}__echo")));
    let err = client
        .call(&format!("{a}__unlisted"), json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown tool") && err.contains("-32602"),
        "{err}"
    );
}

#[tokio::test]
async fn backend_progress_reaches_the_client_that_made_the_call() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    let mut client = hub.mcp().await;
    let text = client
        .call_text(&format!("{a}__slow"), json!({"ms": 300, "steps": 3}))
        .await;
    assert_eq!(text, "waited 300 ms");
    let seen = client.progress_values(3).await;
    assert_eq!(seen, vec![1.0, 2.0, 3.0]);
}

#[tokio::test]
async fn a_server_that_says_its_tools_changed_is_relayed_though_the_list_reads_the_same() {
    // A server may change its list and change it back before the hub re-reads it (the
    // conformance suite's `test_trigger_tool_change` does): its clients are told all
    // the same, as they would be directly.
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    let mut client = hub.mcp().await;
    let before = client.tool_names().await;
    client
        .call_text(&format!("{a}__flood"), json!({"count": 1, "list": true}))
        .await;
    client.tools_list_changed("the server said so").await;
    assert_eq!(client.tool_names().await, before);
}

#[tokio::test]
async fn a_server_that_appears_sends_tools_list_changed_to_connected_clients() {
    let a = random_name("a");
    let late = random_name("late");
    let hub = HubBuilder::new().fixture(&a).start().await;
    let mut client = hub.mcp().await;
    let before = client.tool_names().await.len();
    let text = serde_json::to_string(
        &json!({"mcpServers": {a.clone(): fixture(&a, &[]), late.clone(): fixture(&late, &[])}}),
    )
    .unwrap();
    std::fs::write(&hub.config_path, text).unwrap();
    let (status, body) = hub.post("/api/restart", json!({})).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::timeout(DEADLINE, client.tools_changed.recv())
        .await
        .expect("tools/list_changed within the deadline");
    hub.wait_connected(&late).await;
    let names = hub.mcp().await.tool_names().await;
    assert_eq!(names.len(), before + 10);
}

#[tokio::test]
async fn remote_streamable_http_backends_work_like_stdio_ones() {
    use tokio::io::AsyncBufReadExt;
    let name = random_name("remote");
    let mut server = tokio::process::Command::new(FIXTURE)
        .args(["--http", "0", "--name", &name])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let addr = line.trim_start_matches("listening on ").to_owned();
    let hub = HubBuilder::new()
        .server(&name, json!({"url": format!("http://{addr}/mcp"), "headers": {"X-Api-Key": "remote-secret-value"}}))
        .start()
        .await;
    let s = hub.wait_connected(&name).await;
    assert_eq!(s["transportType"], "streamable-http");
    let client = hub.mcp().await;
    assert_eq!(
        client
            .call_text(&format!("{name}__echo"), json!({"text": "over http"}))
            .await,
        "over http"
    );
    let health = hub.get("/api/health").await.1.to_string();
    assert!(!health.contains("remote-secret-value"));
}

#[tokio::test]
async fn stdio_front_serves_one_session_over_stdin_and_stdout() {
    let a = random_name("a");
    let dir = tempfile::tempdir().unwrap();
    let (mut child, client) = stdio_session(dir.path(), json!({a.clone(): fixture(&a, &[])})).await;
    // The backend connects in the background; its tools appear once it has.
    let mut names = vec![];
    let start = std::time::Instant::now();
    while start.elapsed() < DEADLINE {
        names = client.peer().list_all_tools().await.unwrap();
        if !names.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(names.iter().any(|t| t.name == format!("{a}__echo")));
    drop(client);
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

/// A keep-alive client (as SDK connection pools are) gets each `tools/call` answer in one
/// TCP segment: the SSE answer's head, priming event and result leave in one write. Two
/// writes per answer meant, on a socket with Nagle's algorithm, that the second waited
/// for the client's delayed ACK: 40 ms per call.
#[tokio::test]
async fn a_keep_alive_client_gets_each_mcp_answer_in_one_segment() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = random_name("ka");
    let hub = HubBuilder::new().fixture(&name).start().await;
    hub.wait_connected(&name).await;
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", hub.port))
        .await
        .unwrap();

    // One request on the open connection; returns the answer's head and body text.
    async fn post(
        conn: &mut tokio::net::TcpStream,
        session: Option<&str>,
        body: serde_json::Value,
    ) -> (String, String) {
        let body = body.to_string();
        let session = session
            .map(|s| format!("mcp-session-id: {s}\r\nmcp-protocol-version: 2025-06-18\r\n"))
            .unwrap_or_default();
        let req = format!(
            "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
             accept: application/json, text/event-stream\r\n{session}content-length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(req.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let text = String::from_utf8_lossy(&got);
            if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                let head_l = head.to_ascii_lowercase();
                let done = if head_l.contains("transfer-encoding: chunked") {
                    rest.ends_with("0\r\n\r\n")
                } else {
                    let len = head_l
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .map(|n| n.trim().parse::<usize>().unwrap())
                        .unwrap_or(0);
                    rest.len() >= len
                };
                if done {
                    return (head.to_owned(), rest.to_owned());
                }
            }
            let n = tokio::time::timeout(DEADLINE, conn.read(&mut buf))
                .await
                .expect("answer within the deadline")
                .unwrap();
            assert!(n > 0, "hub closed the keep-alive connection: {text}");
            got.extend_from_slice(&buf[..n]);
        }
    }

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "keep-alive", "version": "1"}}});
    let (head, _) = post(&mut conn, None, init).await;
    let session = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("mcp-session-id:")
                .then(|| l.split_once(':').unwrap().1.trim().to_owned())
        })
        .expect("a session id");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post(&mut conn, Some(&session), initialized).await;

    let data_segments_in = |conn: &tokio::net::TcpStream| {
        use std::os::fd::AsRawFd;
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: a valid socket, and a buffer of the size passed.
        let rc = unsafe {
            libc::getsockopt(
                conn.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
        info.tcpi_data_segs_in
    };
    const CALLS: u32 = 20;
    let before = data_segments_in(&conn);
    for i in 0..CALLS {
        let call = json!({"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call",
            "params": {"name": format!("{name}__echo"), "arguments": {"text": format!("n{i}")}}});
        let (head, body) = post(&mut conn, Some(&session), call).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(body.contains(&format!("\"text\":\"n{i}\"")), "{body}");
    }
    let segments = data_segments_in(&conn) - before;
    // One each; a call that a loaded machine kept past the priming hold may take two.
    assert!(
        segments <= CALLS + 2,
        "{CALLS} answers came in {segments} TCP segments"
    );
}

/// A client that asks right away, while its servers are still starting (as clients
/// that spawn `mcphub serve --stdio` do), gets their tools, not an empty hub.
#[tokio::test]
async fn a_request_made_while_servers_start_waits_for_them_over_stdio() {
    let a = random_name("sluggish");
    let dir = tempfile::tempdir().unwrap();
    let entry = fixture(&a, &["--slow-start", "1500"]);
    let (_child, client) = stdio_session(dir.path(), json!({a.clone(): entry})).await;
    let tools = client.peer().list_all_tools().await.unwrap();
    assert!(
        tools.iter().any(|t| t.name == format!("{a}__echo")),
        "the first tools/list: {:?}",
        tools.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
}

/// The same over HTTP, and `--startup-timeout` bounds the wait: a server that takes
/// longer is left out of the first answer instead of holding it.
#[tokio::test]
async fn over_http_the_wait_for_starting_servers_is_bounded_by_the_startup_timeout() {
    let quick = random_name("quick");
    let slow = random_name("glacial");
    let mut hub = HubBuilder::new()
        .server(&quick, fixture(&quick, &["--slow-start", "300"]))
        .server(&slow, fixture(&slow, &["--hang-init"]))
        .arg("--startup-timeout")
        .arg("2s")
        .spawn()
        .await;
    hub.wait_listening().await;
    let names = hub.mcp().await.tool_names().await;
    assert!(names.contains(&format!("{quick}__echo")), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with(&slow)), "{names:?}");
    assert_eq!(
        hub.health().await["state"],
        "starting",
        "answered before the hub was ready"
    );
}

/// `mcphub serve --stdio` with `servers` (state in `dir`), and a client session of the
/// SDK on its stdin and stdout.
async fn stdio_session(
    dir: &std::path::Path,
    servers: serde_json::Value,
) -> (
    tokio::process::Child,
    rmcp::service::RunningService<rmcp::RoleClient, ()>,
) {
    let cfg = dir.join("s.json");
    std::fs::write(&cfg, json!({"mcpServers": servers}).to_string()).unwrap();
    let mut child = tokio::process::Command::new(HUB)
        .args(["serve", "--stdio", "-c"])
        .arg(&cfg)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (stdout, stdin) = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    use rmcp::ServiceExt;
    let client = ().serve((stdout, stdin)).await.unwrap();
    (child, client)
}

impl RawSession<'_> {
    /// Starts a call of the fixture's `slow` tool, reads the first event of its
    /// stream, then breaks the connection: the id of that event.
    async fn call_and_cut(&self, server: &str, id: u64, ms: u64) -> String {
        let mut call = self
            .post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": format!("{server}__slow"), "arguments": {"ms": ms, "steps": 1}}}))
            .await;
        let first = String::from_utf8_lossy(&call.chunk().await.unwrap().unwrap()).into_owned();
        first
            .lines()
            .find_map(|l| l.strip_prefix("id:"))
            .unwrap_or_else(|| panic!("no event id in {first:?}"))
            .trim()
            .to_owned()
    }

    async fn resume(&self, last_id: &str) -> (u16, String) {
        let resumed = self.stream(Some(last_id)).await;
        let status = resumed.status().as_u16();
        (status, resumed.text().await.unwrap())
    }
}

/// A client whose stream breaks in the middle of a call reconnects with the
/// `Last-Event-ID` it last saw and gets the answer it missed, once: whether the answer
/// came while it was away or comes after it is back. An id with another stream's
/// secret gets nothing.
#[tokio::test]
async fn a_broken_stream_is_resumed_with_last_event_id_and_the_answer_comes_once() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let session = RawSession::open(&hub).await;

    // Back after the answer was written to the broken connection.
    let last_id = session.call_and_cut(&a, 7, 300).await;
    eventually("the call to finish", async || {
        read(&hub.log_file())
            .lines()
            .any(|l| l.contains("\"tool_call\"") && l.contains("\"slow\""))
            .then_some(())
    })
    .await;
    let (status, replay) = session.resume(&last_id).await;
    assert_eq!(status, 200);
    let answers = answers_to(&replay, 7);
    assert_eq!(answers.len(), 1, "the answer, once: {replay}");
    assert_eq!(
        answers[0]["result"]["content"][0]["text"], "waited 300 ms",
        "{replay}"
    );

    // Back before the answer: it comes on the resumed stream when it is ready.
    let last_id = session.call_and_cut(&a, 8, 1500).await;
    let (status, replay) = session.resume(&last_id).await;
    assert_eq!(status, 200);
    let answers = answers_to(&replay, 8);
    assert_eq!(answers.len(), 1, "the answer, once: {replay}");
    assert_eq!(
        answers[0]["result"]["content"][0]["text"], "waited 1500 ms",
        "{replay}"
    );

    // Another stream's position with a guessed secret reads nothing.
    let (stream, _) = last_id.split_once('.').unwrap();
    let forged = format!("{stream}.{:032x}.0", 1u128);
    let (_, replay) = session.resume(&forged).await;
    assert!(answers_to(&replay, 8).is_empty(), "{replay}");
}

/// A session's plain `tools/call` (no `_meta`) is answered by the hub itself, a quick
/// one as a stream of one event without the SDK's priming one, and each answer is the
/// same, byte for byte, as the SDK's server writes for the same request: a result, a
/// tool's error, a backend's error, a timeout, a tool the server answers but does not
/// list.
#[tokio::test]
async fn a_sessions_tool_call_is_answered_as_the_sdk_would_answer_it() {
    let a = random_name("calls");
    let mut entry = fixture(&a, &[]);
    entry["timeoutMs"] = json!(300);
    let hub = HubBuilder::new().server(&a, entry).start().await;
    hub.wait_connected(&a).await;
    let session = RawSession::open(&hub).await;
    let calls = [
        (
            "echo",
            json!({"text": "h\u{e9} \"quoted\""}),
            "\"isError\":false",
        ),
        ("add", json!({"a": 2, "b": 3.5}), "5.5"),
        ("fail", json!({}), "fixture failure on purpose"),
        ("slow", json!({"ms": 3000}), "300 ms"),
        ("unlisted", json!({}), "answers a tool it does not list"),
        ("nope", json!({}), "no tool nope"),
    ];
    let mut single_events = 0;
    for (id, (tool, arguments, says)) in calls.into_iter().enumerate() {
        let id = id as u64 + 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": format!("{a}__{tool}"), "arguments": arguments}});
        let by_hub = session.post(request.clone()).await;
        assert_eq!(by_hub.status(), 200, "{tool}");
        assert_eq!(by_hub.headers()["content-type"], "text/event-stream");
        let by_hub = by_hub.text().await.unwrap();
        let events: Vec<&str> = by_hub.split_terminator("\n\n").collect();
        match events[..] {
            [_] => single_events += 1,
            // Past the hold (the slow call; a quick one on a loaded machine): a priming
            // event first, as the SDK's.
            [priming, _] => assert!(priming.starts_with("data: \nid: "), "{tool}: {by_hub}"),
            _ => panic!("{tool}: {by_hub}"),
        }
        let answer = |sse: &str| {
            sse.lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .find(|d| d.contains(&format!(r#""id":{id},"#)))
                .unwrap_or_else(|| panic!("{tool}: no answer in {sse}"))
                .to_owned()
        };
        let by_hub = answer(&by_hub);
        assert!(by_hub.contains(says), "{tool}: {by_hub}");
        let by_sdk = session.post_to_sdk(request).await.text().await.unwrap();
        assert_eq!(by_hub, answer(&by_sdk), "{tool}");
    }
    // The SDK's answers always come after a priming event: these were the hub's.
    assert!(single_events > 0, "no quick call came as one event");
}

/// A call the hub answers itself that runs long has its stream's head and priming
/// event (the id a client resumes from) sent at once and a keep-alive comment while
/// it runs, as the SDK's server does, so that a client that times out a silent
/// request (the Python SDK's read timeout) keeps waiting.
#[tokio::test]
async fn a_long_call_answered_by_the_hub_keeps_its_stream_alive() {
    let a = random_name("long");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let session = RawSession::open(&hub).await;
    // The tool never answers: the head comes without the answer.
    let mut call = session
        .post(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": format!("{a}__hang"), "arguments": {}}}))
        .await;
    assert_eq!(call.status(), 200);
    assert_eq!(call.headers()["content-type"], "text/event-stream");
    let mut next_chunk = async || {
        let chunk = tokio::time::timeout(DEADLINE, call.chunk())
            .await
            .expect("an event within the deadline")
            .unwrap()
            .expect("the stream stays open");
        String::from_utf8(chunk.to_vec()).unwrap()
    };
    let priming = next_chunk().await;
    assert!(
        priming.starts_with("data: \nid: ") && priming.ends_with("\nretry: 3000\n\n"),
        "{priming:?}"
    );
    assert_eq!(next_chunk().await, ":\n\n", "a comment, no message");
}

/// `tools/list` of a session is written by the hub from the tools' texts, as a stream
/// of one event; every page of it is the same, byte for byte, as the SDK's server
/// writes for the same request (which it is handed when the request's body is past the size
/// the hub reads itself). Tools the hub lists as objects (with an output schema or
/// `_meta` of their own: server-everything's) are in it too.
#[tokio::test]
async fn a_sessions_tools_list_is_written_from_text_as_the_sdk_would_write_it() {
    let many = random_name("many");
    let hub = HubBuilder::new()
        .server(&many, fixture(&many, &["--vague-tools", "1200"]))
        .server(
            "everything",
            json!({"command": deps().npm_bin("mcp-server-everything"), "args": ["stdio"]}),
        )
        .start()
        .await;
    hub.wait_connected(&many).await;
    hub.wait_connected("everything").await;
    let session = RawSession::open(&hub).await;
    let mut cursor: Option<String> = None;
    let (mut pages, mut tools) = (0, Vec::new());
    loop {
        let mut request = json!({"jsonrpc": "2.0", "id": pages + 1, "method": "tools/list"});
        if let Some(c) = &cursor {
            request["params"] = json!({"cursor": c});
        }
        let quick = session.post(request.clone()).await;
        assert_eq!(quick.status(), 200);
        assert_eq!(quick.headers()["content-type"], "text/event-stream");
        let quick = quick.text().await.unwrap();
        let events: Vec<&str> = quick.split_terminator("\n\n").collect();
        assert_eq!(events.len(), 1, "one event, without the SDK's priming one");
        let quick = events[0].strip_prefix("data: ").expect("a data line");
        // The same request, padded past what the hub reads itself: the SDK answers.
        let by_sdk = session.post_to_sdk(request.clone()).await;
        assert_eq!(by_sdk.headers()["content-type"], "text/event-stream");
        let by_sdk = by_sdk.text().await.unwrap();
        let by_sdk = by_sdk
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .find(|d| d.contains(r#""result""#))
            .expect("the SDK's answer");
        assert_eq!(quick, by_sdk, "page {pages}");
        let page: Value = serde_json::from_str(quick).unwrap();
        tools.extend(page["result"]["tools"].as_array().unwrap().iter().cloned());
        pages += 1;
        match page["result"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    let of = |server: &str| {
        tools
            .iter()
            .filter(|t| {
                t["name"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{server}__"))
            })
            .collect::<Vec<_>>()
    };
    assert!(of(&many).len() > 1200, "{}", of(&many).len());
    assert!(
        of(&many)
            .iter()
            .all(|t| t["_meta"]["mcphub/category"].is_string())
    );
    assert!(
        of("everything")
            .iter()
            .any(|t| t["outputSchema"].is_object() && t["_meta"]["mcphub/category"].is_string()),
        "a tool with an output schema, listed as objects"
    );
    // A cursor the hub never gave is answered by the SDK's handler, with its error.
    let bad = session
        .post(
            json!({"jsonrpc": "2.0", "id": 99, "method": "tools/list", "params": {"cursor": "x"}}),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(bad.contains("is not one this hub gave"), "{bad}");
}
