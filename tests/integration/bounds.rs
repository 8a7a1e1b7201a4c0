//! The hub stays bounded under hostile clients and servers: connections past the caps
//! are turned away with a 503 that says why, a client that never finishes its headers
//! is cut off, sessions past the cap are refused and idle ones expire, floods of
//! notifications are dropped and counted or coalesced, never queued without bound.

use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Everything the server sends until it closes the connection.
async fn until_closed(tcp: &mut TcpStream) -> String {
    let mut all = Vec::new();
    tokio::time::timeout(DEADLINE, tcp.read_to_end(&mut all))
        .await
        .expect("the hub closes the connection")
        .unwrap();
    String::from_utf8_lossy(&all).into_owned()
}

/// A connection to the hub from another loopback address than the test's own HTTP
/// client: the caps count per client address.
async fn connect_from(source: &str, port: u16) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap()
}

async fn health_over(mut tcp: TcpStream) -> String {
    tcp.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    until_closed(&mut tcp).await
}

#[tokio::test]
async fn connections_past_the_per_client_cap_get_a_503_that_says_why() {
    let hub = HubBuilder::new()
        .arg("--max-connections-per-client")
        .arg("3")
        .start()
        .await;
    const HOSTILE: &str = "127.0.0.2";
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(HOSTILE, hub.port).await);
    }
    // Accepted in order: the fourth finds the first three counted.
    let answer = health_over(connect_from(HOSTILE, hub.port).await).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("TOO_MANY_CONNECTIONS")
            && answer.contains("127.0.0.2 has 3 connections open")
            && answer.contains("--max-connections-per-client"),
        "{answer}"
    );
    // An HTTP client of that address gets the 503 as its request's answer.
    let client = reqwest::Client::builder()
        .local_address(HOSTILE.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let refused = client.get(hub.url("/api/health")).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    // Another client is not held back by this one.
    assert_eq!(hub.get("/api/health").await.0, 200);
    // One goes, and there is room for this client again.
    drop(held.pop());
    eventually("a slot given back", async || {
        let answer = health_over(connect_from(HOSTILE, hub.port).await).await;
        answer.starts_with("HTTP/1.1 200").then_some(())
    })
    .await;
    let text = hub.metrics_text().await;
    let refused = text
        .lines()
        .find_map(|l| l.strip_prefix("mcphub_http_connections_refused_total "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no refused count in {text}"));
    assert!(refused >= 1.0, "{text}");
    assert!(
        text.contains("mcphub_http_connections_per_client_limit 3"),
        "{text}"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let hub = HubBuilder::new()
        .arg("--header-timeout")
        .arg("1s")
        .start()
        .await;
    let mut slow = TcpStream::connect(format!("127.0.0.1:{}", hub.port))
        .await
        .unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    // No answer to a request that never ended: the hub closes the connection.
    let answer = until_closed(&mut slow).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    // And it still answers everyone else.
    assert_eq!(hub.get("/api/health").await.0, 200);
}

async fn initialize(hub: &RunningHub) -> reqwest::Response {
    hub.http
        .post(hub.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "opener", "version": "0"}}}),
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sessions_past_the_cap_are_refused_and_idle_ones_expire() {
    let hub = HubBuilder::new()
        .arg("--max-sessions")
        .arg("2")
        .arg("--session-idle-timeout")
        .arg("2s")
        .start()
        .await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = initialize(&hub).await;
        assert_eq!(r.status(), 200);
        ids.push(r.headers()["mcp-session-id"].to_str().unwrap().to_owned());
        drop(r.text().await);
    }
    eventually("two sessions", async || {
        (hub.health().await["activeClients"] == 2).then_some(())
    })
    .await;
    let third = initialize(&hub).await;
    assert_eq!(third.status(), 503);
    let body = third.text().await.unwrap();
    assert!(
        body.contains("TOO_MANY_SESSIONS") && body.contains("--max-sessions"),
        "{body}"
    );
    // Nobody uses them: they expire, and a new one is welcome again.
    eventually("idle sessions to expire", async || {
        (hub.health().await["activeClients"] == 0).then_some(())
    })
    .await;
    assert_eq!(initialize(&hub).await.status(), 200);
}

/// A session waiting on a call is not idle: a call that takes longer than the idle
/// timeout, with nothing sent meanwhile, gets its answer, and the session lives on.
#[tokio::test]
async fn a_session_waiting_on_a_long_call_is_not_expired_as_idle() {
    let a = random_name("a");
    let hub = HubBuilder::new()
        .server(&a, fixture(&a, &[]))
        .arg("--session-idle-timeout")
        .arg("1s")
        .start()
        .await;
    let client = hub.mcp().await;
    // Bounded so that a lost answer fails the test instead of hanging it.
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        client.call_text(&format!("{a}__slow"), json!({"ms": 3000})),
    )
    .await
    .expect("the answer of a call longer than the idle timeout never came");
    assert_eq!(answer, "waited 3000 ms");
    assert_eq!(
        client
            .call_text(&format!("{a}__echo"), json!({"text": "same session"}))
            .await,
        "same session"
    );
}

/// An answer over the server's `maxMessageBytes` fails its call at once, saying how
/// big it was and what the limit is; the server's next answer comes as usual.
#[tokio::test]
async fn an_answer_over_the_message_limit_fails_its_call_at_once() {
    let a = random_name("a");
    let mut entry = fixture(&a, &[]);
    entry["maxMessageBytes"] = json!(65536);
    let hub = HubBuilder::new().server(&a, entry).start().await;
    let client = hub.mcp().await;
    let err = client
        .call(
            &format!("{a}__echo"),
            json!({"text": "0123456789", "times": 20000}),
        )
        .await
        .expect_err("200 kB is over 64 kiB");
    let message = err.to_string();
    assert!(
        message.contains("over the hub's limit of 65536 bytes")
            && message.contains("maxMessageBytes"),
        "{message}"
    );
    assert_eq!(
        client
            .call_text(&format!("{a}__echo"), json!({"text": "still here"}))
            .await,
        "still here"
    );
    assert!(read(&hub.log_file()).contains("over its limit of 65536"));
}

/// A large answer under the limit costs memory while it passes, not after: the heap's
/// live data goes back to where it was (the server's line buffer does not stay at the
/// answer's size).
#[tokio::test]
async fn a_large_answer_is_not_kept_after_it_passes() {
    let a = random_name("a");
    let hub = HubBuilder::new().server(&a, fixture(&a, &[])).start().await;
    let small = hub.call_rest(&a, "echo", json!({"text": "warm"})).await;
    assert_eq!(small.0, 200, "{small:?}");
    let before = metric(&hub, "mcphub_heap_in_use_bytes").await;
    // 6 MB of text: under the 16 MiB default limit.
    let (status, answer) = hub
        .call_rest(&a, "echo", json!({"text": "0123456789", "times": 600_000}))
        .await;
    assert_eq!(status, 200);
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(text.len(), 6_000_000, "the whole answer came back");
    drop(answer);
    let after = metric(&hub, "mcphub_heap_in_use_bytes").await;
    let kept = after - before;
    assert!(
        kept < 1_000_000.0,
        "the hub holds {kept} more bytes of heap after one 6 MB answer ({before} → {after})"
    );
}

#[tokio::test]
async fn a_message_limit_too_small_to_be_meant_is_a_config_error() {
    let a = random_name("a");
    let mut entry = fixture(&a, &[]);
    entry["maxMessageBytes"] = json!(10);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("servers.json");
    std::fs::write(&config, HubBuilder::new().server(&a, entry).config_text()).unwrap();
    let out = serve_to_exit(&config, &dir.path().join("state"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("maxMessageBytes") && stderr.contains("at least 1024"),
        "{stderr}"
    );
}

/// `--rate-limit`: a client past its rate gets 429 with `Retry-After` (a JSON-RPC
/// error on `/mcp`), and other clients are not held back by it.
#[tokio::test]
async fn a_client_past_its_rate_gets_429_and_others_do_not() {
    // One request every 5 s after a burst of 2: nothing refills during the test.
    let hub = HubBuilder::new()
        .arg("--rate-limit")
        .arg("0.2")
        .arg("--rate-burst")
        .arg("2")
        .start()
        .await;
    // The test's own client polled the hub while it started: a fresh address.
    const CLIENT: &str = "127.0.0.4";
    for _ in 0..2 {
        let ok = health_over(connect_from(CLIENT, hub.port).await).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    }
    let limited = health_over(connect_from(CLIENT, hub.port).await).await;
    assert!(limited.starts_with("HTTP/1.1 429"), "{limited}");
    assert!(
        limited.to_lowercase().contains("retry-after: "),
        "{limited}"
    );
    assert!(
        limited.contains("RATE_LIMITED") && limited.contains("--rate-limit"),
        "{limited}"
    );
    let mut mcp = connect_from(CLIENT, hub.port).await;
    let body = r#"{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"0"}}}"#;
    mcp.write_all(
        format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = until_closed(&mut mcp).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer.contains(r#""id":7"#) && answer.contains("-32000"),
        "a JSON-RPC error answering the request: {answer}"
    );
    // Another client address has its own allowance.
    let other = health_over(connect_from("127.0.0.3", hub.port).await).await;
    assert!(other.starts_with("HTTP/1.1 200"), "{other}");
}

/// A server's `rateLimit`: calls past it fail at once with 429 and `Retry-After` on
/// REST and an error naming the limit on `/mcp`; the server is not called.
#[tokio::test]
async fn a_server_past_its_rate_limit_is_not_called() {
    let a = random_name("a");
    let mut entry = fixture(&a, &[]);
    entry["rateLimit"] = json!(0.2);
    let hub = HubBuilder::new().server(&a, entry).start().await;
    hub.wait_connected(&a).await;
    let client = hub.mcp().await;
    let echo = format!("{a}__echo");
    assert_eq!(client.call_text(&echo, json!({"text": "one"})).await, "one");
    let err = client
        .call(&echo, json!({"text": "two"}))
        .await
        .expect_err("past the rate");
    assert!(
        err.to_string().contains("at most 0.2 calls a second")
            && err.to_string().contains("rateLimit"),
        "{err}"
    );
    let rest = hub
        .http
        .post(hub.url("/api/servers/tools"))
        .json(&json!({"server_name": a, "tool": "echo", "arguments": {"text": "three"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 429);
    assert!(rest.headers().contains_key("retry-after"));
    let (_, metrics) = hub.get("/api/metrics").await;
    assert_eq!(
        metrics["servers"][&a]["calls"].as_u64().unwrap_or(1),
        1,
        "only the first call reached the server: {metrics}"
    );
}

fn dropped_logs(server: &str) -> String {
    format!(
        "mcphub_notifications_dropped_total{{server=\"{server}\",method=\"notifications/message\"}}"
    )
}

/// A server floods log messages (20,000 of 1 kB) at a client that reads nothing
/// until the flood is over. The hub keeps a bounded number on their way, drops the
/// rest and counts them: every message is delivered or counted, the hub's memory
/// grows by a fraction of the flood, and the call's answer still comes.
#[tokio::test]
async fn a_flood_of_log_messages_is_dropped_and_counted_not_buffered() {
    const SENT: u64 = 20_000;
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let pid = hub.child.id().unwrap();
    let session = RawSession::open(&hub).await;
    // Log messages go on the session's own stream, which the client opens and then
    // leaves unread.
    let mut stream = session.stream(None).await;
    assert_eq!(stream.status(), 200);
    let idle = rss_kib(pid);
    let call = session
        .post(
            json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
            "name": format!("{a}__flood"), "arguments": {"count": SENT, "bytes": 1000}}}),
        )
        .await;
    assert_eq!(call.status(), 200);
    let mut peak = idle;
    eventually("the hub to drop log messages", async || {
        peak = peak.max(rss_kib(pid));
        (metric(&hub, &dropped_logs(&a)).await > 0.0).then_some(())
    })
    .await;
    peak = peak.max(rss_kib(pid));
    // Now the client reads both streams: the answer comes, and with what was dropped,
    // every log message is accounted for.
    let answer = tokio::spawn(call.text());
    let mut delivered = 0;
    let mut dropped = 0;
    let read_all = tokio::time::timeout(DEADLINE, async {
        let mut pending = String::new();
        while delivered + dropped < SENT {
            // The drop count is read again whenever the stream pauses.
            match tokio::time::timeout(Duration::from_millis(200), stream.chunk()).await {
                Ok(chunk) => {
                    let chunk = chunk.unwrap().expect("the stream stays open");
                    pending.push_str(&String::from_utf8_lossy(&chunk));
                    // Whole events only: a chunk may end inside one.
                    if let Some(end) = pending.rfind("\n\n") {
                        let whole: String = pending.drain(..end + 2).collect();
                        delivered += sse_messages(&whole)
                            .filter(|m| m["method"] == "notifications/message")
                            .count() as u64;
                    }
                }
                Err(_) => dropped = metric(&hub, &dropped_logs(&a)).await as u64,
            }
        }
    })
    .await;
    assert!(
        read_all.is_ok(),
        "{delivered} delivered and {dropped} dropped: not all of {SENT} accounted for"
    );
    let answer = answer.await.unwrap().unwrap();
    assert_eq!(
        answers_to(&answer, 9)[0]["result"]["content"][0]["text"],
        format!("sent {SENT}"),
        "{answer}"
    );
    assert!(dropped < SENT, "something got through");
    // The flood is 20 MB (160 MB once queued as relays: 8 kB each); what the hub held
    // of it at once is a few MB, and it gives that back once the flood is over.
    assert!(
        peak - idle < 16 * 1024,
        "the hub grew by {} KiB during a 20 MB flood",
        peak - idle
    );
    eventually("the hub's memory back near idle", async || {
        (rss_kib(pid) < idle + 4 * 1024).then_some(())
    })
    .await;
}

/// A server floods `tools/list_changed`: the hub re-reads its tools one time after
/// another, with the notices that came meanwhile standing for one more re-read, not
/// one each (5000 re-reads before).
#[tokio::test]
async fn a_flood_of_list_changes_costs_a_few_rereads_not_one_each() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    let client = hub.mcp().await;
    let flood = client
        .call_text(&format!("{a}__flood"), json!({"count": 5000, "list": true}))
        .await;
    assert_eq!(flood, "sent 5000");
    let listed: u64 = eventually("a re-read after the flood", async || {
        let n: u64 = client
            .call_text(&format!("{a}__listed"), json!({}))
            .await
            .parse()
            .unwrap();
        (n >= 2).then_some(n)
    })
    .await;
    assert!(listed < 500, "{listed} re-reads for 5000 notices");
}

/// A catalog too big to repeat on every health poll: three servers of 2000 tools with
/// 500-byte descriptions (3.6 MB of lists). `/api/health` and `/api/servers` carry
/// whole lists up to 2 MiB and summarize the rest (empty lists, their counts and where
/// to get them); `/api/servers/info` still gives everything, and `tools/list` gives it
/// in pages.
#[tokio::test]
async fn health_stays_small_with_a_catalog_of_thousands_of_tools() {
    let names: Vec<String> = (0..3).map(|i| random_name(&format!("big{i}"))).collect();
    let mut builder = HubBuilder::new();
    for name in &names {
        builder = builder.server(
            name,
            fixture(
                name,
                &["--vague-tools", "2000", "--description-bytes", "500"],
            ),
        );
    }
    let hub = builder.start().await;
    for name in &names {
        hub.wait_connected(name).await;
    }
    let per_server = 2000 + 10;
    for path in ["/api/health", "/api/servers"] {
        let body = hub.get_text(path).await;
        assert!(
            body.len() < 2 * 1024 * 1024 + 64 * 1024,
            "{path} is {} bytes",
            body.len()
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let servers = v["servers"].as_array().unwrap();
        let whole = servers
            .iter()
            .filter(|s| s["capabilities"]["tools"].as_array().unwrap().len() == per_server)
            .count();
        let summarized: Vec<_> = servers
            .iter()
            .filter(|s| s["capabilities"]["summarized"]["tools"] == per_server)
            .collect();
        assert_eq!((whole, summarized.len()), (1, 2), "{path}");
        let why = summarized[0]["capabilities"]["summarized"]["why"]
            .as_str()
            .unwrap();
        assert!(why.contains("/api/servers/info"), "{why}");
    }
    for name in &names {
        let (status, info) = hub
            .post("/api/servers/info", json!({"server_name": name}))
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            info["server"]["capabilities"]["tools"]
                .as_array()
                .map(Vec::len),
            Some(per_server),
            "{name}"
        );
    }
    // tools/list comes in pages of 1000, each naming the next; all of them together
    // are the whole catalog, once each.
    let client = hub.mcp().await;
    let peer = client.service.peer();
    let first = peer.list_tools(None).await.unwrap();
    assert_eq!(first.tools.len(), 1000);
    assert_eq!(first.next_cursor.as_deref(), Some("1000"));
    let names = client.tool_names().await;
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(
        (names.len(), unique.len()),
        (3 * per_server, 3 * per_server)
    );
    let err = peer
        .list_tools(Some(
            rmcp::model::PaginatedRequestParams::default().with_cursor(Some("x".into())),
        ))
        .await
        .expect_err("a cursor the hub never gave");
    assert!(err.to_string().contains("cursor `x`"), "{err}");
}

#[tokio::test]
async fn a_server_whose_list_never_ends_is_reported_not_listed_for_good() {
    let good = random_name("good");
    let same = random_name("same");
    let new = random_name("new");
    let mut hub = HubBuilder::new()
        .fixture(&good)
        .server(&same, fixture(&same, &["--endless-pages", "same"]))
        .server(&new, fixture(&new, &["--endless-pages", "new"]))
        .spawn()
        .await;
    hub.wait_listening().await;
    hub.wait_connected(&good).await;
    let h = hub.wait_reported(&[&same, &new]).await;
    let said = |name: &str| {
        RunningHub::server(&h, name)["error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        said(&same).contains("cursor \"1\" twice"),
        "{}",
        said(&same)
    );
    assert!(said(&new).contains("past 1000 pages"), "{}", said(&new));
    assert_ne!(RunningHub::server(&h, &same)["status"], "connected");
    // The others' tools are served all the same.
    let tools = hub.mcp().await.tool_names().await;
    assert!(tools.contains(&format!("{good}__echo")), "{tools:?}");
    assert!(!tools.iter().any(|t| t.contains("page_")), "{tools:?}");
}
