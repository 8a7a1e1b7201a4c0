use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn health_has_mcp_hub_fields_and_our_additions() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    let h = hub
        .wait_health("connected", |h| h["servers"][0]["status"] == "connected")
        .await;
    for key in [
        "status",
        "state",
        "server_id",
        "version",
        "activeClients",
        "timestamp",
        "servers",
        "connections",
        "mcpEndpoint",
        "workspaces",
        "pid",
        "port",
        "uptime_s",
    ] {
        assert!(h.get(key).is_some(), "health lacks {key}: {h:#}");
    }
    assert_eq!(h["port"], hub.port);
    assert_eq!(h["pid"], hub.child.id().unwrap());
    let s = &h["servers"][0];
    for key in [
        "name",
        "displayName",
        "description",
        "status",
        "error",
        "transportType",
        "uptime",
        "lastStarted",
        "capabilities",
        "serverInfo",
        "config_source",
        "reconnects",
    ] {
        assert!(s.get(key).is_some(), "server lacks {key}: {s:#}");
    }
    assert_eq!(s["serverInfo"]["name"], format!("fixture-{a}"));
    let (_, servers) = hub.get("/api/servers").await;
    assert_eq!(servers["servers"][0]["name"], a);
}

#[tokio::test]
async fn rest_tool_calls_and_mcp_hub_error_codes() {
    let a = random_name("a");
    let down = random_name("down");
    let hub = HubBuilder::new()
        .fixture(&a)
        .server(&down, fixture(&down, &["--exit-at-start"]))
        .start()
        .await;
    hub.wait_connected(&a).await;
    let (st, body) = hub
        .post(
            "/api/servers/tools",
            json!({"server_name": a, "tool": "add", "arguments": {"a": 40, "b": 2}}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "42");
    assert!(
        body["result"].get("resultType").is_none(),
        "mcp-hub's result shape: {body}"
    );

    let (st, body) = hub
        .post(
            "/api/servers/tools",
            json!({"server_name": "ghost", "tool": "x"}),
        )
        .await;
    assert_eq!(st, 404);
    assert!(body["error"].as_str().unwrap().contains("ghost"), "{body}");
    for k in ["error", "code", "data", "timestamp"] {
        assert!(body.get(k).is_some(), "{body}");
    }
    let (st, body) = hub
        .post(
            "/api/servers/tools",
            json!({"server_name": a, "tool": "nope"}),
        )
        .await;
    assert_eq!(
        (st, body["code"].as_str().unwrap()),
        (404, "TOOL_NOT_FOUND"),
        "{body}"
    );
    let (st, body) = hub
        .post(
            "/api/servers/tools",
            json!({"server_name": down, "tool": "echo"}),
        )
        .await;
    assert_eq!(st, 503, "{body}");
    let r = hub
        .http
        .post(hub.url("/api/servers/tools"))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let (st, body) = hub
        .post(
            "/api/servers/resources",
            json!({"server_name": a, "uri": format!("fixture://{a}/info")}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = hub
        .post(
            "/api/servers/prompts",
            json!({"server_name": a, "prompt": "greet", "arguments": {"who": "Bo"}}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body["result"]["messages"][0]["content"]["text"],
        "Hello, Bo!"
    );
}

#[tokio::test]
async fn stop_and_start_a_server_through_the_api() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    let pid = hub.wait_connected(&a).await["pid"].as_u64().unwrap() as u32;
    let (st, _) = hub
        .post("/api/servers/stop", json!({"server_name": a}))
        .await;
    assert_eq!(st, 200);
    hub.wait_health("stopped", |h| h["servers"][0]["status"] == "disconnected")
        .await;
    assert!(
        wait_pid_gone(pid).await,
        "the stopped server's process is gone"
    );
    let (st, _) = hub
        .post("/api/servers/start", json!({"server_name": a}))
        .await;
    assert_eq!(st, 200);
    hub.wait_connected(&a).await;
}

#[tokio::test]
async fn metrics_in_prometheus_text_and_json() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let client = hub.mcp().await;
    client
        .call_text(&format!("{a}__echo"), json!({"text": "x"}))
        .await;
    let _ = client.call(&format!("{a}__fail"), json!({})).await;
    let text = hub.metrics_text().await;
    assert!(
        text.contains(&format!(
            "mcphub_tool_calls_total{{server=\"{a}\",outcome=\"success\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "mcphub_tool_calls_total{{server=\"{a}\",outcome=\"error\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains("mcphub_tool_call_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "mcphub_backend_status{{server=\"{a}\",status=\"connected\"}} 1"
        )),
        "{text}"
    );
    assert!(text.contains("mcphub_active_clients 1"), "{text}");
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
    assert!(text.contains("mcphub_build_info"), "{text}");
    let (_, m) = hub.get("/api/metrics").await;
    assert_eq!(m["tool_calls"]["total"], 2);
    assert_eq!(m["tool_calls"]["success"], 1);
    assert!(m["process"]["rss_bytes"].as_u64().unwrap() > 0);
    assert!(m["llm"].is_null(), "no LLM figures are invented: {m}");
}

#[tokio::test]
async fn workspace_entry_is_written_and_removed_on_shutdown() {
    let mut hub = HubBuilder::new().without_config().start().await;
    let ws: serde_json::Value =
        serde_json::from_str(&read(&hub.state_dir.join("workspaces.json"))).unwrap();
    let entry = &ws[hub.port.to_string()];
    assert_eq!(entry["pid"], hub.child.id().unwrap());
    assert_eq!(entry["port"], hub.port);
    // mcp-hub's words for a hub that serves (its clients read them), and mcphub's
    // lifecycle state beside them.
    assert_eq!(entry["state"], "active");
    assert_eq!(entry["hubState"], "ready");
    assert_eq!(entry["activeConnections"], 0);
    assert!(entry["shutdownStartedAt"].is_null(), "{entry}");
    let (_, api) = hub.get("/api/workspaces").await;
    assert_eq!(
        api["workspaces"][hub.port.to_string()]["pid"],
        hub.child.id().unwrap()
    );
    hub.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(hub.wait_exit().await.success());
    let ws: serde_json::Value =
        serde_json::from_str(&read(&hub.state_dir.join("workspaces.json"))).unwrap();
    assert!(ws.get(hub.port.to_string()).is_none(), "{ws}");
}

#[tokio::test]
async fn log_is_json_lines_with_stable_event_names_and_is_appended_not_truncated() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.mcp()
        .await
        .call_text(&format!("{a}__echo"), json!({"text": "x"}))
        .await;
    let log = read(&hub.log_file());
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for want in [
        "hub_started",
        "server_connected",
        "hub_ready",
        "client_connected",
        "tool_call",
    ] {
        assert!(names.contains(&want), "no {want} in {names:?}");
    }
    let call = events.iter().find(|e| e["event"] == "tool_call").unwrap();
    assert_eq!(call["server"], a);
    assert!(call["duration_ms"].as_f64().is_some());
    let ts = call["timestamp"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(ts).unwrap();
    // A second hub on the same state dir appends.
    let lines_before = log.lines().count();
    let mut hub2 = HubBuilder::new()
        .without_config()
        .state_dir(&hub.state_dir)
        .start()
        .await;
    hub2.signal(nix::sys::signal::Signal::SIGTERM);
    hub2.wait_exit().await;
    assert!(read(&hub.log_file()).lines().count() > lines_before);
}

#[tokio::test]
async fn events_stream_hub_state_and_server_changes_as_sse() {
    use futures::StreamExt;
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let resp = hub.http.get(hub.url("/api/events")).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    let mut restarted = false;
    let ok = tokio::time::timeout(DEADLINE, async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if !restarted && seen.contains("event: hub_state") {
                restarted = true;
                let (st, _) = hub
                    .post("/api/servers/stop", json!({"server_name": a}))
                    .await;
                assert_eq!(st, 200);
            }
            // mcp-hub's notice of the action, mcphub's status change, and the log line
            // of the stop as a `log` event.
            if seen.contains(&format!(
                "{{\"type\":\"servers_updated\",\"changes\":{{\"modified\":[\"{a}\"]}},\"timestamp\":"
            )) && seen.contains("\"type\":\"server_status\"")
                && seen.contains("\"status\":\"disconnected\"")
                && seen.contains("event: log")
            {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ok, Ok(true), "{seen}");
    assert!(seen.contains("\"state\":\"ready\""), "{seen}");
}

#[tokio::test]
async fn restart_restarts_only_changed_servers_and_hard_restart_hands_over() {
    let a = random_name("a");
    let mut hub = HubBuilder::new().fixture(&a).start().await;
    let pid = hub.wait_connected(&a).await["pid"].clone();
    let (st, body) = hub.post("/api/restart", json!({})).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["changes"]["unchanged"], json!([a.clone()]));
    assert_eq!(
        hub.server_status(&a).await["pid"],
        pid,
        "an unchanged server keeps running"
    );
    // mcp-hub's hard restart: told as `restarting`, then the hub stops (its servers
    // and its workspace entry with it) for whoever started it to start it again.
    let mut events = hub.events().await;
    let (st, body) = hub.post("/api/hard-restart", json!({})).await;
    assert_eq!((st, body["status"].as_str()), (200, Some("ok")), "{body}");
    let seen = events.until(|v| v["state"] == "stopping").await;
    let states: Vec<&str> = seen.iter().filter_map(|v| v["state"].as_str()).collect();
    assert!(states.ends_with(&["restarting", "stopping"]), "{states:?}");
    events.until_end().await;
    assert!(hub.wait_exit().await.success());
    assert!(
        wait_pid_gone(pid.as_u64().unwrap() as u32).await,
        "its server stopped too"
    );
    let ws = read(&hub.state_dir.join("workspaces.json"));
    assert!(!ws.contains(&format!("\"{}\"", hub.port)), "{ws}");
}
