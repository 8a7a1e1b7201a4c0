use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn no_config_starts_empty_and_says_how_to_add_a_server() {
    let hub = HubBuilder::new().without_config().start().await;
    let h = hub.health().await;
    assert_eq!(h["servers"], json!([]));
    assert_eq!(h["state"], "ready");
    let err = hub.stderr();
    assert!(err.contains("no MCP servers configured"), "{err}");
    assert!(
        err.contains("mcphub/servers.json"),
        "says where the file goes: {err}"
    );
    // An MCP client connects and sees an empty hub rather than an error.
    assert!(hub.mcp().await.tool_names().await.is_empty());
}

/// The README's first run: start with no file, write the default one as the hub says,
/// `POST /api/restart`; the server is added and connects.
#[tokio::test]
async fn the_default_file_written_after_start_is_read_on_restart() {
    let hub = HubBuilder::new().without_config().start().await;
    let name = random_name("later");
    let file = hub.write_default_config(json!({name.clone(): fixture(&name, &[])}));
    let (status, body) = hub.post("/api/restart", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"]["added"], json!([name]), "{body}");
    hub.wait_connected(&name).await;
    let h = hub.health().await;
    assert_eq!(h["config_files"], json!([file]), "{h}");
}

/// With `--watch`, the default file is picked up when it appears.
#[tokio::test]
async fn with_watch_the_default_file_is_read_when_it_appears() {
    let hub = HubBuilder::new()
        .without_config()
        .arg("--watch")
        .start()
        .await;
    let name = random_name("appears");
    hub.write_default_config(json!({name.clone(): fixture(&name, &[])}));
    hub.wait_connected(&name).await;
}

#[tokio::test]
async fn bad_config_is_refused_with_file_line_and_column_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.json");
    std::fs::write(
        &cfg,
        "{\n  \"mcpServers\": {\n    \"a\": {\"command\": }\n  }\n}\n",
    )
    .unwrap();
    let out = serve_to_exit(&cfg, &dir.path().join("state"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", cfg.display())), "{err}");
    assert!(
        !dir.path().join("state/workspaces.json").exists(),
        "nothing was started"
    );
}

#[tokio::test]
async fn several_files_merge_in_order_and_placeholders_resolve() {
    let a = random_name("a");
    let b = random_name("b");
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.json5");
    let second = dir.path().join("second.json");
    // JSON5 with comments; `b` is broken here and fixed by the second file.
    std::fs::write(
        &first,
        format!(
            "{{ // mine\n mcpServers: {{ '{a}': {{ command: '${{FIXTURE_BIN}}', args: ['--name', '{a}'] }},\n '{b}': {{ command: '/nonexistent' }}, }} }}"
        ),
    )
    .unwrap();
    std::fs::write(
        &second,
        json!({"mcpServers": {b.clone(): fixture(&b, &[])}}).to_string(),
    )
    .unwrap();
    let hub = HubBuilder::new()
        .without_config()
        .arg("-c")
        .arg(first.to_str().unwrap())
        .arg("-c")
        .arg(second.to_str().unwrap())
        .env("FIXTURE_BIN", FIXTURE)
        .start()
        .await;
    let sa = hub.wait_connected(&a).await;
    let sb = hub.wait_connected(&b).await;
    assert_eq!(sa["config_source"], first.display().to_string());
    assert_eq!(sb["config_source"], second.display().to_string());
}

#[tokio::test]
async fn an_unresolvable_placeholder_fails_that_server_only_with_the_reason() {
    let good = random_name("good");
    let bad = random_name("bad");
    let hub = HubBuilder::new()
        .fixture(&good)
        .server(
            &bad,
            json!({"command": FIXTURE, "args": ["--name", "${MCPHUB_TEST_UNSET_VAR}"]}),
        )
        .start()
        .await;
    hub.wait_connected(&good).await;
    let s = hub.server_status(&bad).await;
    assert_eq!(s["status"], "disconnected");
    let err = s["error"].as_str().unwrap();
    assert!(
        err.contains("args[1]") && err.contains("MCPHUB_TEST_UNSET_VAR is not set"),
        "{err}"
    );
}

#[tokio::test]
async fn disabled_servers_are_listed_but_not_started() {
    let off = random_name("off");
    let hub = HubBuilder::new()
        .server(&off, json!({"command": FIXTURE, "disabled": true}))
        .start()
        .await;
    let s = hub.server_status(&off).await;
    assert_eq!(s["status"], "disabled");
    assert!(s["pid"].is_null());
}

#[tokio::test]
async fn watch_restarts_only_the_servers_whose_entry_changed() {
    let keep = random_name("keep");
    let change = random_name("change");
    let add = random_name("add");
    let hub = HubBuilder::new()
        .fixture(&keep)
        .fixture(&change)
        .arg("--watch")
        .start()
        .await;
    let keep_pid = hub.wait_connected(&keep).await["pid"].clone();
    let change_pid = hub.wait_connected(&change).await["pid"].clone();
    let text = json!({"mcpServers": {
        keep.clone(): fixture(&keep, &[]),
        change.clone(): fixture(&change, &["--slow-start", "1"]),
        add.clone(): fixture(&add, &[]),
    }})
    .to_string();
    std::fs::write(&hub.config_path, text).unwrap();
    let h = hub
        .wait_health("reload", |h| {
            let s = h["servers"].as_array().unwrap();
            s.len() == 3
                && s.iter().all(|s| s["status"] == "connected")
                && s.iter()
                    .any(|s| s["name"] == change && s["pid"] != change_pid)
        })
        .await;
    assert_eq!(
        RunningHub::server(&h, &keep)["pid"],
        keep_pid,
        "unchanged server was not restarted"
    );
    // A broken edit is refused and changes nothing.
    std::fs::write(&hub.config_path, "{ not json").unwrap();
    hub.wait_health("refusal logged", |_| hub.stderr().contains("was refused"))
        .await;
    let h = hub.health().await;
    assert_eq!(h["servers"].as_array().unwrap().len(), 3);
}
