use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn secrets_never_appear_in_api_output_or_logs() {
    let a = random_name("a");
    let mut entry = fixture(&a, &[]);
    entry["env"] = json!({"SUPER_SECRET_TOKEN": "hunter2-do-not-leak"});
    // A remote server's pre-registered OAuth client secret is one too.
    let closed = closed_url("/mcp");
    let remote = json!({"url": closed, "oauth": {"client_id": "mcphub-test", "client_secret": "hunter2-oauth-secret"}});
    let hub = HubBuilder::new()
        .server(&a, entry.clone())
        .server("remote", remote.clone())
        .arg("--watch")
        .start()
        .await;
    hub.wait_connected(&a).await;
    // A watched change sends every client of /api/events the servers as they are.
    let mut events = hub.events().await;
    let mut changed = entry;
    changed["description"] = json!("changed");
    std::fs::write(
        &hub.config_path,
        json!({"mcpServers": {a.clone(): changed, "remote": remote}}).to_string(),
    )
    .unwrap();
    let seen = events.until(|v| v["type"] == "config_changed").await;
    let told = serde_json::to_string(&seen).unwrap();
    assert!(
        told.contains("mcphub-test"),
        "the event was checked: {told}"
    );
    assert!(
        !told.contains("hunter2"),
        "the config_changed event leaks a secret"
    );
    hub.wait_connected(&a).await;
    let client = hub.mcp().await;
    // The server did get its env.
    assert_eq!(
        client
            .call_text(&format!("{a}__env"), json!({"name": "SUPER_SECRET_TOKEN"}))
            .await,
        "set"
    );
    for path in [
        "/api/health",
        "/api/servers",
        "/api/metrics",
        "/metrics",
        "/api/workspaces",
    ] {
        let body = hub.get_text(path).await;
        assert!(!body.contains("hunter2"), "{path} leaks the secret");
    }
    let (_, info) = hub
        .post("/api/servers/info", json!({"server_name": a}))
        .await;
    assert!(!info.to_string().contains("hunter2"));
    assert!(!read(&hub.log_file()).contains("hunter2"));
    assert!(!hub.stderr().contains("hunter2"));
}

#[tokio::test]
async fn foreign_origin_and_host_are_refused() {
    let hub = HubBuilder::new().without_config().start().await;
    let r = hub
        .http
        .get(hub.url("/api/health"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = hub
        .http
        .get(hub.url("/api/health"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = hub
        .http
        .post(hub.url("/mcp"))
        .header("Origin", "http://evil.example")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = hub
        .http
        .get(hub.url("/api/health"))
        .header("Origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn bearer_token_is_required_when_set() {
    let hub = HubBuilder::new()
        .without_config()
        .env("MCPHUB_TOKEN", "tok-123")
        .spawn()
        .await;
    let mut hub = hub;
    hub.wait_listening().await;
    let r = hub.http.get(hub.url("/api/health")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = hub
        .http
        .get(hub.url("/api/health"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = hub
        .http
        .get(hub.url("/api/health"))
        .bearer_auth("tok-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body = r.text().await.unwrap();
    assert!(!body.contains("tok-123"));
    // A browser coming back from an authorization server has no token: the OAuth
    // callback answers it (its state authenticates it), and nothing else opens.
    let r = hub
        .http
        .get(hub.url("/api/oauth/callback?code=c&state=s&server_name=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("Authorization failed"));
    let r = hub
        .http
        .post(hub.url("/api/oauth/manual_callback"))
        .json(&json!({"url": "http://localhost/api/oauth/callback?code=c&server_name=nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "the manual callback is an API call"
    );
    assert!(!read(&hub.log_file()).contains("tok-123"));
    assert!(!read(&hub.state_dir.join("workspaces.json")).contains("tok-123"));
    assert!(!hub.stderr().contains("tok-123"));
}

/// Sends headers that announce `len` bytes and reads the status line, without
/// sending the body: what a client sees when the hub refuses early.
async fn status_for_declared_length(port: u16, path: &str, len: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let hub = HubBuilder::new().without_config().start().await;
    let twenty_mb = 20 * 1024 * 1024;
    assert_eq!(
        status_for_declared_length(hub.port, "/mcp", twenty_mb).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    assert_eq!(
        status_for_declared_length(hub.port, "/api/servers/tools", twenty_mb).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    // A chunked body (no declared length) over the limit is refused too.
    let body = reqwest::Body::wrap_stream(futures::stream::iter(
        (0..80).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])),
    ));
    let r = hub
        .http
        .post(hub.url("/api/servers/tools"))
        .body(body)
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 413);
    }
}

#[tokio::test]
async fn garbage_json_rpc_gets_a_client_error() {
    let hub = HubBuilder::new().without_config().start().await;
    let r = hub
        .http
        .post(hub.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body("{this is not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32700);
}

#[tokio::test]
async fn a_non_loopback_bind_without_a_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(HUB)
        .args(["serve", "--host", "0.0.0.0", "--port", "0", "--state-dir"])
        .arg(dir.path())
        .env("HOME", dir.path())
        .env_remove("MCPHUB_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0") && err.contains("--token"),
        "{err}"
    );
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn secrets_stay_out_of_every_report_and_state_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let fake = FakeLlm::start("good").await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/mcp", l.local_addr().unwrap())
    };
    let mut local = fixture("local", &["--vague-tools", "3"]);
    local["env"] = json!({"DB_PASSWORD": "env-secret-0451"});
    let mut llm = fake.llm_config("openai", json!({}));
    llm["apiKey"] = json!("sk-llm-secret-0451");
    let hub = HubBuilder::new()
        .server("local", local)
        .server(
            "remote",
            json!({"url": dead, "headers": {"Authorization": "Bearer header-secret-0451"}}),
        )
        .top("toolFiltering", json!({"llmCategorization": llm}))
        .start()
        .await;
    for i in 0..5 {
        hub.call_rest("local", "echo", json!({"text": i.to_string()}))
            .await;
    }
    eventually("the LLM was asked (with its key)", async || {
        (fake.stats().await["with_key"].as_u64() >= Some(1)).then_some(())
    })
    .await;
    // Every report the toolkit makes, on screen and on disk.
    let crontab_dir = tempfile::tempdir().unwrap();
    let crontab = crontab_dir.path().join("crontab");
    std::fs::write(
        &crontab,
        "#!/bin/sh\n[ \"$1\" = -l ] && echo '# mine'\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&crontab, std::fs::Permissions::from_mode(0o755)).unwrap();
    let runs: [&[&str]; 8] = [
        &["monitor", "--once"],
        &["check-alerts", "--format", "json"],
        &["detect-anomalies", "--window", "5m", "--format", "json"],
        &["validate", "--format", "json"],
        &["measure", "--duration", "1s"],
        &["summary", "--date", "today"],
        &["install-cron", "--yes"],
        &["prune", "--keep", "30d"],
    ];
    for args in runs {
        let out = hub
            .toolkit_command(args)
            .env("MCPHUB_CRONTAB", &crontab)
            .output()
            .await
            .unwrap();
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for secret in ["env-secret", "header-secret", "sk-llm-secret"] {
            assert!(
                !shown.contains(secret),
                "`{}` shows {secret}: {shown}",
                args.join(" ")
            );
        }
    }
    for path in [
        "/api/health",
        "/api/servers",
        "/api/metrics",
        "/api/filtering/stats",
        "/metrics",
    ] {
        let body = hub.get_text(path).await;
        assert!(!body.contains("secret-0451"), "{path} leaks a secret");
    }
    assert!(!hub.stderr().contains("secret-0451"));
    let files = files_under(&hub.state_dir);
    for kind in ["logs/", "monitoring/", "baselines/", "reports/", "backups/"] {
        assert!(
            files.iter().any(|f| f.to_string_lossy().contains(kind)),
            "no {kind} file written, so none checked: {files:?}"
        );
    }
    for f in &files {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        assert!(
            !text.contains("secret-0451"),
            "{} holds a secret",
            f.display()
        );
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}, not 0600", f.display());
    }
}
