//! mcphub where mcp-hub was: its clients' invocation, version check and identity.

use crate::support::*;
use serde_json::Value;

#[test]
fn the_version_clients_check_comes_first_and_names_mcphub_beside_it() {
    let out = std::process::Command::new(HUB)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // mcphub.nvim reads the first line (its health check wants exactly mcp-hub's).
    assert_eq!(text.lines().next(), Some("4.2.1"), "{text}");
    assert!(
        text.contains(&format!("mcphub {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}

/// mcphub.nvim's spawn: mcp-hub's flags, no subcommand, and a hub that stops once its
/// last events client has gone for the delay. Health says what the plugin checks.
#[tokio::test]
async fn mcp_hub_flags_run_the_hub_and_auto_shutdown_follows_the_last_events_client() {
    let a = random_name("a");
    let mut hub = HubBuilder::new()
        .fixture(&a)
        .invoked_as_mcp_hub(std::path::Path::new(HUB))
        .arg("--watch")
        .arg("--auto-shutdown")
        .arg("--shutdown-delay")
        .arg("300")
        .start()
        .await;
    hub.wait_connected(&a).await;
    let h = hub.health().await;
    assert_eq!(h["server_id"], "mcp-hub", "{h}");
    assert_eq!(h["version"], "4.2.1", "{h}");
    assert_eq!(h["implementation"]["name"], "mcphub", "{h}");
    // mcphub.nvim finds the hub on its port in workspaces.allActive, an object.
    let mine = &h["workspaces"]["allActive"][hub.port.to_string()];
    assert_eq!(mine["pid"], hub.child.id().unwrap(), "{h}");
    // An editor attaches to the events, then goes.
    let mut events = hub.events().await;
    events.until(|v| v.get("state").is_some()).await;
    assert!(
        hub.child.try_wait().unwrap().is_none(),
        "stopped while a client listened"
    );
    drop(events);
    let status = hub.wait_exit().await;
    assert!(status.success(), "{status}");
}

/// A link named `mcp-hub` to mcphub, put where mcp-hub was, runs the hub.
#[tokio::test]
async fn a_link_named_mcp_hub_runs_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("mcp-hub");
    std::os::unix::fs::symlink(HUB, &link).unwrap();
    let a = random_name("a");
    let hub = HubBuilder::new()
        .fixture(&a)
        .invoked_as_mcp_hub(&link)
        .start()
        .await;
    hub.wait_connected(&a).await;
    let names = hub.mcp().await.tool_names().await;
    assert!(names.contains(&format!("{a}__echo")), "{names:?}");
}

/// mcp-hub tells its events' clients which server's list changed and what it lists
/// now; mcphub.nvim drops a capability event that names no server.
#[tokio::test]
async fn a_servers_list_change_is_told_with_the_server_and_its_list() {
    let a = random_name("g");
    let hub = HubBuilder::new()
        .server(&a, fixture(&a, &["--grows"]))
        .start()
        .await;
    hub.wait_connected(&a).await;
    let mut events = hub.events().await;
    let (status, body) = hub.call_rest(&a, "grow", serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    let changed = |v: &serde_json::Value| v["type"] == "tool_list_changed";
    let seen = events.until(changed).await;
    let event = seen.into_iter().find(changed).unwrap();
    assert_eq!(event["server"], a.as_str(), "{event}");
    let names: Vec<&str> = event["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"grown_0") && names.contains(&"echo"),
        "{names:?}"
    );
}

/// mcp-hub's `GET /api/refresh` (mcphub.nvim calls it): every server's offer again,
/// one entry per server, a server that cannot answer listed with its error.
#[tokio::test]
async fn refresh_of_all_servers_answers_as_mcp_hub_does() {
    let a = random_name("a");
    let down = random_name("down");
    let hub = HubBuilder::new()
        .fixture(&a)
        .server(&down, fixture(&down, &["--exit-at-start"]))
        .start()
        .await;
    hub.wait_connected(&a).await;
    let (status, body) = hub.get("/api/refresh").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    let servers = body["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2, "{body}");
    let ours = servers.iter().find(|s| s["name"] == a.as_str()).unwrap();
    assert_eq!(ours["status"], "connected", "{body}");
    assert!(
        ours["capabilities"]["tools"].as_array().unwrap().len() >= 8,
        "{body}"
    );
    let theirs = servers.iter().find(|s| s["name"] == down.as_str()).unwrap();
    assert_eq!(theirs["status"], "error", "{body}");
    assert!(
        theirs["error"].as_str().is_some_and(|e| e.contains(&down)),
        "{body}"
    );
}

/// mcp-hub's stop with `?disable=true` records the server as disabled in its config
/// file, and start enables it again there: the state survives a restart, and a start
/// right after the file was edited never meets a stale "disabled".
#[tokio::test]
async fn stop_with_disable_and_start_are_recorded_in_the_config_file() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let (status, body) = hub.stop_disabling(&a).await;
    assert_eq!(status, 200, "{body}");
    let file: serde_json::Value = serde_json::from_str(&read(&hub.config_path)).unwrap();
    assert_eq!(file["mcpServers"][&a]["disabled"], true, "{file}");
    hub.wait_health("disabled", |h| {
        RunningHub::server(h, &a)["status"] == "disabled"
    })
    .await;

    let (status, body) = hub
        .post("/api/servers/start", serde_json::json!({"server_name": a}))
        .await;
    assert_eq!(status, 200, "{body}");
    let file: serde_json::Value = serde_json::from_str(&read(&hub.config_path)).unwrap();
    assert_eq!(file["mcpServers"][&a]["disabled"], false, "{file}");
    hub.wait_connected(&a).await;
}

/// A JSON5 servers file keeps its comments: disabling through the API is refused with
/// what to do instead, and the file is left as it was.
#[tokio::test]
async fn a_json5_file_is_not_rewritten_to_record_disabled() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let text = format!("// mine\n{}", read(&hub.config_path));
    std::fs::write(&hub.config_path, &text).unwrap();
    let (status, body) = hub.stop_disabling(&a).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "CONFIG_ERROR", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("by hand"),
        "{body}"
    );
    assert_eq!(read(&hub.config_path), text);
}

/// mcp-hub's `request_options.timeout` (ms) bounds one REST call, whatever the server's
/// `timeoutMs`.
#[tokio::test]
async fn a_rest_calls_request_options_timeout_is_honoured() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let (status, body) = hub
        .post(
            "/api/servers/tools",
            serde_json::json!({"server_name": a, "tool": "slow",
                "arguments": {"ms": 5000, "steps": 1}, "request_options": {"timeout": 300}}),
        )
        .await;
    assert_eq!(status, 504, "a timeout is a gateway timeout: {body}");
    assert_eq!(body["code"], "TOOL_TIMEOUT", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("within 300 ms")
            && body["error"].as_str().unwrap().contains(&a),
        "names the server and the limit: {body}"
    );
    // Without it, the same server answers a quick call as usual.
    let (status, body) = hub
        .post(
            "/api/servers/tools",
            serde_json::json!({"server_name": a, "tool": "echo", "arguments": {"text": "hi"},
                "request_options": {"timeout": 5000}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A config change is told as mcp-hub tells it: `servers_updating`, then
/// `servers_updated`, both with the changes; a backend's own status changes are
/// mcphub's `server_status`, not mcp-hub's notices.
#[tokio::test]
async fn a_config_change_is_told_as_servers_updating_then_servers_updated() {
    let a = random_name("a");
    let b = random_name("b");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let mut events = hub.events().await;
    let servers = serde_json::json!({"mcpServers": {a.clone(): fixture(&a, &[]), b.clone(): fixture(&b, &[])}});
    std::fs::write(&hub.config_path, servers.to_string()).unwrap();
    let (status, body) = hub.post("/api/restart", serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    let seen = events.until(|v| v["type"] == "servers_updated").await;
    let told: Vec<&serde_json::Value> = seen
        .iter()
        .filter(|v| v["type"] == "servers_updating" || v["type"] == "servers_updated")
        .collect();
    for v in &told {
        assert_eq!(v["changes"]["added"], serde_json::json!([b]), "{v}");
    }
    let kinds: Vec<&str> = told.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["servers_updating", "servers_updated"], "{seen:?}");
}

/// The default file, once read, going missing (an editor saving by rename, a slip) is
/// an error on reload, not "no servers": the running ones are kept.
#[tokio::test]
async fn a_default_file_that_goes_missing_keeps_the_running_servers() {
    let hub = HubBuilder::new().without_config().start().await;
    let name = random_name("kept");
    let file = hub.write_default_config(serde_json::json!({name.clone(): fixture(&name, &[])}));
    let (status, body) = hub.post("/api/restart", serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    hub.wait_connected(&name).await;
    std::fs::remove_file(&file).unwrap();
    let (status, body) = hub.post("/api/restart", serde_json::json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("CONFIG_ERROR")),
        "{body}"
    );
    assert_eq!(
        RunningHub::server(&hub.health().await, &name)["status"],
        "connected"
    );
}

/// A servers file that is a link (into a dotfiles checkout, say) stays a link when
/// the API records `disabled`: the file it points to is the one written, mode kept.
#[tokio::test]
async fn disabling_through_a_linked_servers_file_writes_the_file_it_points_to() {
    use std::os::unix::fs::PermissionsExt;
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("servers.json");
    std::fs::rename(&hub.config_path, &real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink(&real, &hub.config_path).unwrap();
    let (status, body) = hub.stop_disabling(&a).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        std::fs::symlink_metadata(&hub.config_path)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let file: serde_json::Value = serde_json::from_str(&read(&real)).unwrap();
    assert_eq!(file["mcpServers"][&a]["disabled"], true, "{file}");
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

/// A loopback stand-in for the marketplace registry on GitHub Pages (which this
/// machine cannot reach): serves `servers` and counts the fetches.
async fn registry(servers: Value) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let fetches = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let body = serde_json::json!({"version": "1.0.0", "generatedAt": 1, "servers": servers});
    let app = axum::Router::new().route(
        "/registry.json",
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/registry.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, fetches)
}

/// mcphub.nvim fills its marketplace view from `GET /api/marketplace` once the hub is
/// ready: the registry is fetched once and kept (across restarts too), queried as
/// mcp-hub does, and a registry that cannot be reached with nothing kept is an error
/// that names it and the way out.
#[tokio::test]
async fn the_marketplace_is_fetched_once_kept_and_queried_as_mcp_hub_does() {
    use std::sync::atomic::Ordering;
    let (url, fetches) = registry(serde_json::json!([
        {"id": "notes", "name": "Notes", "description": "Keeps notes", "category": "productivity", "tags": ["notes", "local"], "stars": 3, "lastCommit": 10, "url": "https://example.org/notes"},
        {"id": "web", "name": "Web Search", "description": "Searches the web", "category": "search", "tags": ["web"], "stars": 90, "lastCommit": 30, "url": "https://example.org/web"},
    ]))
    .await;
    let state = tempfile::tempdir().unwrap();
    let hub = HubBuilder::new()
        .state_dir(state.path())
        .arg("--marketplace-url")
        .arg(&url)
        .start()
        .await;
    let (status, body) = hub.get("/api/marketplace").await;
    assert_eq!(status, 200, "{body}");
    let ids = |b: &Value| -> Vec<String> {
        b["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&body), ["web", "notes"], "newest first: {body}");
    assert!(body["timestamp"].is_string(), "{body}");
    let (_, body) = hub.get("/api/marketplace?search=NOTES&tags=local").await;
    assert_eq!(ids(&body), ["notes"], "{body}");
    let (_, body) = hub.get("/api/marketplace?category=search").await;
    assert_eq!(ids(&body), ["web"], "{body}");
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the registry is kept");

    let (status, body) = hub
        .post(
            "/api/marketplace/details",
            serde_json::json!({"mcpId": "web"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["server"]["server"]["name"], "Web Search", "{body}");
    assert_eq!(body["server"]["readmeContent"], Value::Null, "{body}");
    let (status, body) = hub
        .post(
            "/api/marketplace/details",
            serde_json::json!({"mcpId": "nope"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("VALIDATION_ERROR")),
        "{body}"
    );
    assert!(body["error"].as_str().unwrap().contains("nope"), "{body}");
    let (status, body) = hub
        .post("/api/marketplace/details", serde_json::json!({}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("mcpId"), "{body}");
    drop(hub);

    // The next hub on this state directory answers from what the first one kept.
    let hub = HubBuilder::new()
        .state_dir(state.path())
        .arg("--marketplace-url")
        .arg(&url)
        .start()
        .await;
    let (_, body) = hub.get("/api/marketplace").await;
    assert_eq!(ids(&body), ["web", "notes"], "{body}");
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "kept across restarts");

    // Offline and nothing kept: an error that names the registry and the fix.
    let closed = closed_url("/registry.json");
    let hub = HubBuilder::new()
        .arg("--marketplace-url")
        .arg(&closed)
        .start()
        .await;
    let (status, body) = hub.get("/api/marketplace").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("MARKETPLACE_ERROR")),
        "{body}"
    );
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains(&closed) && message.contains("offline"),
        "{body}"
    );
    assert_eq!(body["data"]["url"], closed.as_str(), "{body}");
}

/// The OAuth routes mcp-hub's clients call, in its shapes: a server with no sign-in
/// pending (a stdio one) is told apart from a request that lacks what it needs.
#[tokio::test]
async fn the_oauth_routes_answer_in_mcp_hub_shapes() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    let (status, body) = hub
        .post("/api/servers/authorize", serde_json::json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("VALIDATION_ERROR")),
        "{body}"
    );
    assert_eq!(body["data"]["field"], "server_name", "{body}");
    let (status, body) = hub
        .post(
            "/api/servers/authorize",
            serde_json::json!({"server_name": "nope"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("SERVER_NOT_FOUND")),
        "{body}"
    );
    let (status, body) = hub
        .post(
            "/api/servers/authorize",
            serde_json::json!({"server_name": a}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("OPEN_REQUEST_ERROR")),
        "{body}"
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no OAuth sign-in pending"),
        "{body}"
    );

    let (status, body) = hub
        .post(
            "/api/oauth/manual_callback",
            serde_json::json!({"url": "not a url"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("`url`"), "{body}");
    let (status, body) = hub
        .post(
            "/api/oauth/manual_callback",
            serde_json::json!({"url": "http://localhost/api/oauth/callback?server_name=x"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("`code`"), "{body}");
    let cb = format!("http://localhost:1/api/oauth/callback?code=c&server_name={a}");
    let (status, body) = hub
        .post("/api/oauth/manual_callback", serde_json::json!({"url": cb}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("MANUAL_OAUTH_CALLBACK_ERROR")),
        "{body}"
    );

    let page = hub
        .get_text(&format!("/api/oauth/callback?code=c&server_name={a}"))
        .await;
    assert!(
        page.contains("Authorization failed") && page.contains("no OAuth sign-in pending"),
        "{page}"
    );
}

/// With `--watch`, a file changed on disk is told as mcp-hub tells it: `config_changed`
/// with the servers as they now are (secrets masked) and whether any changed, before
/// `servers_updating`; a change that changes no server is `config_changed` alone.
#[tokio::test]
async fn a_watched_file_change_is_told_as_config_changed_first() {
    let a = random_name("a");
    let b = random_name("b");
    let hub = HubBuilder::new().fixture(&a).arg("--watch").start().await;
    hub.wait_connected(&a).await;
    let mut events = hub.events().await;
    let mut with_b = fixture(&b, &[]);
    with_b["env"] = serde_json::json!({"API_KEY": "sk-very-secret"});
    let servers =
        serde_json::json!({"mcpServers": {a.clone(): fixture(&a, &[]), b.clone(): with_b}});
    std::fs::write(&hub.config_path, servers.to_string()).unwrap();
    let seen = events.until(|v| v["type"] == "servers_updated").await;
    let kinds: Vec<&str> = seen
        .iter()
        .filter_map(|v| v["type"].as_str())
        .filter(|t| t.starts_with("config") || t.starts_with("servers_"))
        .collect();
    assert_eq!(
        kinds,
        ["config_changed", "servers_updating", "servers_updated"],
        "{seen:?}"
    );
    let changed = seen.iter().find(|v| v["type"] == "config_changed").unwrap();
    assert_eq!(changed["isSignificant"], true, "{changed}");
    let new_b = &changed["newConfig"]["mcpServers"][&b];
    assert_eq!(
        new_b["config_source"],
        hub.config_path.display().to_string(),
        "{changed}"
    );
    assert_eq!(new_b["env"]["API_KEY"], "<hidden>", "{changed}");
    assert!(!changed.to_string().contains("sk-very-secret"), "{changed}");

    // The same servers written again, pretty-printed: told, not significant.
    std::fs::write(
        &hub.config_path,
        serde_json::to_string_pretty(&servers).unwrap(),
    )
    .unwrap();
    let seen = events
        .until(|v| v["type"] == "config_changed" && v["isSignificant"] == false)
        .await;
    let last = seen
        .iter()
        .rposition(|v| v["type"] == "servers_updated")
        .unwrap();
    let quiet = seen
        .iter()
        .rposition(|v| v["isSignificant"] == false)
        .unwrap();
    assert!(
        last < quiet,
        "no servers_updating for a change of layout: {seen:?}"
    );
}

/// mcphub.nvim refreshes its workspace list on `workspaces_updated`: a second hub
/// starting on the same state directory is told to the first one's clients.
#[tokio::test]
async fn another_hub_starting_is_told_as_workspaces_updated() {
    let state = tempfile::tempdir().unwrap();
    let first = HubBuilder::new().state_dir(state.path()).start().await;
    let mut events = first.events().await;
    let second = HubBuilder::new().state_dir(state.path()).start().await;
    let port = second.port.to_string();
    let seen = events
        .until(|v| v["type"] == "workspaces_updated" && v["workspaces"].get(&port).is_some())
        .await;
    let told = seen
        .iter()
        .rfind(|v| v["type"] == "workspaces_updated")
        .unwrap();
    assert_eq!(
        told["workspaces"][&port]["pid"],
        second.child.id().unwrap(),
        "{told}"
    );
    assert!(
        told["workspaces"][first.port.to_string()].is_object(),
        "{told}"
    );
}

/// mcp-hub's `dev` block: editing a watched source file restarts that server (a new
/// process), told as `servers_updating`/`servers_updated` with the reason and the
/// file; a file the globs do not match changes nothing.
#[tokio::test]
async fn a_dev_servers_watched_file_change_restarts_it() {
    let a = random_name("a");
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir(src.path().join("lib")).unwrap();
    std::fs::write(src.path().join("lib/tool.py"), "v = 1\n").unwrap();
    std::fs::write(src.path().join("notes.md"), "x\n").unwrap();
    let mut entry = fixture(&a, &[]);
    entry["dev"] = serde_json::json!({"cwd": src.path(), "watch": ["**/*.py"]});
    let hub = HubBuilder::new().server(&a, entry).start().await;
    let before = hub.wait_connected(&a).await["pid"].clone();
    let mut events = hub.events().await;
    std::fs::write(src.path().join("notes.md"), "y\n").unwrap();
    std::fs::write(src.path().join("lib/tool.py"), "v = 22\n").unwrap();
    let seen = events.until(|v| v["type"] == "servers_updated").await;
    let told: Vec<&Value> = seen
        .iter()
        .filter(|v| v["reason"] == "dev_file_change")
        .collect();
    assert_eq!(told.len(), 2, "{seen:?}");
    assert_eq!(told[0]["type"], "servers_updating", "{seen:?}");
    for v in &told {
        assert_eq!(v["changes"]["modified"], serde_json::json!([a]), "{v}");
        assert_eq!(v["files"], serde_json::json!(["lib/tool.py"]), "{v}");
    }
    let after = hub.wait_connected(&a).await["pid"].clone();
    assert_ne!(before, after, "a new process");
}

/// A `dev` block mcp-hub would refuse is refused with what to write instead.
#[test]
fn a_dev_block_without_an_absolute_cwd_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("servers.json");
    std::fs::write(
        &file,
        r#"{"mcpServers": {"s": {"command": "x", "dev": {"cwd": "src"}}}}"#,
    )
    .unwrap();
    let out = serve_to_exit(&file, &dir.path().join("state"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`dev.cwd` must be an absolute path"), "{err}");
}

/// Names as mcp-hub writes them, so that what a client saved against mcp-hub (an
/// auto-approve list, a resource name) still works: a server's name enters its tools'
/// and prompts' names with every character but letters and digits an `_`, and a URI
/// in mcp-hub's `<server>__<uri>` form reads the server's resource.
#[tokio::test]
async fn names_are_written_as_mcp_hub_writes_them() {
    let name = "my-notes.v2";
    let hub = HubBuilder::new().fixture(name).start().await;
    hub.wait_connected(name).await;
    let client = hub.mcp().await;
    let tools = client.tool_names().await;
    assert!(tools.contains(&"my_notes_v2__echo".to_owned()), "{tools:?}");
    let text = client
        .call_text("my_notes_v2__echo", serde_json::json!({"text": "hi"}))
        .await;
    assert!(text.contains("hi"), "{text}");
    let peer = client.service.peer();
    let prompts: Vec<String> = peer
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(prompts, ["my_notes_v2__greet"]);
    // Listed by their own URIs (tools' resource links name those) ...
    let uris: Vec<String> = peer
        .list_all_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    assert_eq!(uris, [format!("fixture://{name}/info")]);
    // ... and read in mcp-hub's form too.
    for uri in [
        format!("fixture://{name}/info"),
        format!("my_notes_v2__fixture://{name}/info"),
    ] {
        let read = peer
            .read_resource(serde_json::from_value(serde_json::json!({"uri": uri})).unwrap())
            .await
            .unwrap();
        let contents = serde_json::to_value(&read).unwrap()["contents"][0].clone();
        assert_eq!(contents["uri"], format!("fixture://{name}/info"), "{uri}");
    }
}

/// The workspace entry mcphub.nvim shows: `activeConnections` counts the events
/// clients, and while `--auto-shutdown` waits the entry says `shutting_down` with when
/// and for how long; a client coming back makes it `active` again.
#[tokio::test]
async fn the_workspace_entry_follows_events_clients_and_the_shutdown_wait() {
    let hub = HubBuilder::new()
        .arg("--auto-shutdown")
        .arg("--shutdown-delay")
        .arg("600000")
        .start()
        .await;
    let port = hub.port.to_string();
    let entry = |state: &'static str, clients: u64| {
        let file = hub.state_dir.join("workspaces.json");
        let port = port.clone();
        async move || -> Option<Value> {
            let ws: Value = serde_json::from_str(&read(&file)).ok()?;
            let e = ws[&port].clone();
            (e["state"] == state && e["activeConnections"] == clients).then_some(e)
        }
    };
    let events = hub.events().await;
    eventually("one events client", entry("active", 1)).await;
    let h = hub.health().await;
    assert_eq!(h["connections"]["totalConnections"], 1, "{h}");
    assert_eq!(
        h["connections"]["connections"][0]["state"], "connected",
        "{h}"
    );
    drop(events);
    let e = eventually("the shutdown wait", entry("shutting_down", 0)).await;
    assert_eq!(e["shutdownDelay"], 600000, "{e}");
    assert!(e["shutdownStartedAt"].is_string(), "{e}");
    let _back = hub.events().await;
    let e = eventually("a client back", entry("active", 1)).await;
    assert!(e["shutdownStartedAt"].is_null(), "{e}");
}
