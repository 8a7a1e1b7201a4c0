use serde_json::json;

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
    assert_eq!(names.len(), 16, "{names:?}");
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
async fn backend_progress_reaches_the_client_that_made_the_call() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    let mut client = hub.mcp().await;
    let text = client
        .call_text(&format!("{a}__slow"), json!({"ms": 300, "steps": 3}))
        .await;
    assert_eq!(text, "waited 300 ms");
    let mut seen = vec![];
    while seen.len() < 3 {
        match tokio::time::timeout(DEADLINE, client.progress.recv()).await {
            Ok(Some(p)) => seen.push(p.progress),
            _ => break,
        }
    }
    assert_eq!(seen, vec![1.0, 2.0, 3.0]);
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
    assert_eq!(names.len(), before + 8);
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
    let cfg = dir.path().join("s.json");
    std::fs::write(
        &cfg,
        json!({"mcpServers": {a.clone(): fixture(&a, &[])}}).to_string(),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(HUB)
        .arg("serve")
        .arg("--stdio")
        .arg("-c")
        .arg(&cfg)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    use rmcp::ServiceExt;
    let client = ().serve((stdout, stdin)).await.unwrap();
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
