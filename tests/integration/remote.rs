//! Remote servers of every kind a user has: the old HTTP+SSE transport (found by
//! falling back from streamable HTTP, or forced with `"type": "sse"`), with the relays
//! and reconnects of the others.

use serde_json::json;

use crate::deps::deps;
use crate::support::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Spawns `cmd` and waits for `ready` on its stderr or stdout.
async fn spawn_until(mut cmd: tokio::process::Command, ready: &str) -> tokio::process::Child {
    use tokio::io::AsyncBufReadExt;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(pipe).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                let _ = tx.send(l);
            }
        });
    }
    tokio::time::timeout(DEADLINE, async {
        while let Some(l) = rx.recv().await {
            if l.contains(ready) {
                return;
            }
        }
        panic!("exited before saying `{ready}`");
    })
    .await
    .unwrap_or_else(|_| panic!("no `{ready}` within the deadline"));
    child
}

/// server-everything in its `sse` mode: a real server that speaks only the old
/// transport. Without `type` the hub finds it by falling back; with `"type": "sse"`
/// it goes there at once. Both show `sse` as their transport and answer calls.
#[tokio::test]
async fn old_sse_servers_are_reached_by_fallback_and_by_type() {
    let port = free_port();
    let mut cmd = tokio::process::Command::new(deps().npm_bin("mcp-server-everything"));
    cmd.arg("sse").env("PORT", port.to_string());
    let _server = spawn_until(cmd, "running on port").await;
    let url = format!("http://127.0.0.1:{port}/sse");
    let hub = HubBuilder::new()
        .server("found", json!({"url": url}))
        .server("forced", json!({"url": url, "type": "sse"}))
        .start()
        .await;
    for name in ["found", "forced"] {
        let s = hub.wait_connected(name).await;
        assert_eq!(s["transportType"], "sse", "{s}");
    }
    let client = hub.mcp().await;
    for name in ["found", "forced"] {
        let text = client
            .call_text(
                &format!("{name}__echo"),
                json!({"message": format!("via {name}")}),
            )
            .await;
        assert!(text.contains(&format!("via {name}")), "{text}");
    }
    let (status, body) = hub
        .post(
            "/api/servers/tools",
            json!({"server_name": "forced", "tool": "get-sum", "arguments": {"a": 2, "b": 3}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains('5'), "{body}");
}

/// A stdio server put behind supergateway's SSE output (how many remote servers are
/// run): progress of a call comes through, and when the gateway dies and comes back
/// on its port the hub reconnects by itself.
#[tokio::test]
async fn an_old_sse_server_relays_progress_and_is_reconnected_after_it_dies() {
    let port = free_port();
    let a = random_name("behind");
    let gateway = || {
        let mut cmd = tokio::process::Command::new(deps().npm_bin("supergateway"));
        cmd.args([
            "--stdio",
            &format!("{FIXTURE} --name {a}"),
            "--outputTransport",
            "sse",
            "--port",
            &port.to_string(),
        ]);
        cmd
    };
    let mut server = spawn_until(gateway(), "Listening on port").await;
    let hub = HubBuilder::new()
        .server("gw", json!({"url": format!("http://127.0.0.1:{port}/sse"), "type": "sse", "restart": {"initialDelayMs": 100, "maxDelayMs": 500}}))
        .start()
        .await;
    hub.wait_connected("gw").await;
    let mut client = hub.mcp().await;
    let text = client
        .call_text("gw__slow", json!({"ms": 300, "steps": 3}))
        .await;
    assert_eq!(text, "waited 300 ms");
    let mut seen = vec![];
    while seen.len() < 3 {
        match tokio::time::timeout(DEADLINE, client.progress.recv()).await {
            Ok(Some(p)) => seen.push(p.progress),
            _ => break,
        }
    }
    assert_eq!(
        seen,
        vec![1.0, 2.0, 3.0],
        "progress relayed from an SSE backend"
    );

    server.kill().await.unwrap();
    hub.wait_health("the gateway's loss seen", |h| {
        RunningHub::server(h, "gw")["status"] != "connected"
    })
    .await;
    let _server = spawn_until(gateway(), "Listening on port").await;
    hub.wait_connected("gw").await;
    let text = client
        .call_text("gw__echo", json!({"text": "back again"}))
        .await;
    assert_eq!(text, "back again");
}
