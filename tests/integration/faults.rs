use nix::sys::signal::Signal;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_killed_backend_is_noticed_at_once_and_reconnected() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    let s = hub.wait_connected(&a).await;
    let pid = s["pid"].as_u64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let h = hub
        .wait_health("reconnected with a new process", |h| {
            let s = &h["servers"][0];
            s["status"] == "connected" && s["pid"] != pid && s["reconnects"] == 1
        })
        .await;
    assert_eq!(h["state"], "ready");
    let client = hub.mcp().await;
    assert_eq!(
        client
            .call_text(&format!("{a}__echo"), json!({"text": "back"}))
            .await,
        "back"
    );
    // The crash was visible in the log with the reason, and in the metrics.
    assert!(read(&hub.log_file()).contains("server_disconnected"));
    let text = hub.metrics_text().await;
    assert!(
        text.contains(&format!(
            "mcphub_backend_reconnects_total{{server=\"{a}\"}} 1"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_server_that_exits_at_start_is_reported_and_does_not_hold_the_others_back() {
    let good = random_name("good");
    let bad = random_name("bad");
    let hang = random_name("hang");
    let mut hanging = fixture(&hang, &["--hang-init"]);
    hanging["timeoutMs"] = json!(1);
    // Not `start()`: the hub is `ready` only once the hanging server's initialize
    // has timed out (30 s at least), which is the very wait this test must not need.
    let mut hub = HubBuilder::new()
        .fixture(&good)
        .server(&bad, fixture(&bad, &["--exit-at-start"]))
        .server(&hang, hanging)
        .spawn()
        .await;
    hub.wait_listening().await;
    hub.wait_connected(&good).await;
    let h = hub.wait_reported(&[&bad]).await;
    assert_eq!(RunningHub::server(&h, &good)["status"], "connected");
    let b = RunningHub::server(&h, &bad);
    assert_ne!(b["status"], "connected");
    // Its reconnect attempts are scheduled with backoff and logged.
    hub.wait_health("reconnect scheduled", |_| {
        read(&hub.log_file()).contains("server_reconnect_scheduled")
    })
    .await;
}

#[tokio::test]
async fn garbage_on_stdout_is_survived() {
    let a = random_name("a");
    let hub = HubBuilder::new()
        .server(&a, fixture(&a, &["--garbage"]))
        .start()
        .await;
    let s = hub.wait_connected(&a).await;
    assert_eq!(s["status"], "connected");
    assert_eq!(
        hub.mcp()
            .await
            .call_text(&format!("{a}__echo"), json!({"text": "ok"}))
            .await,
        "ok"
    );
}

#[tokio::test]
async fn a_crash_mid_call_answers_the_caller_promptly_with_an_error() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    let client = hub.mcp().await;
    let r = tokio::time::timeout(DEADLINE, client.call(&format!("{a}__crash"), json!({}))).await;
    let err = r
        .expect("an answer, not a hang")
        .expect_err("a crash is an error");
    assert!(err.to_string().contains(&a), "{err}");
    hub.wait_health("back", |h| {
        h["servers"][0]["reconnects"] == 1 && h["servers"][0]["status"] == "connected"
    })
    .await;
}

#[tokio::test]
async fn a_hanging_call_is_answered_by_the_per_call_timeout() {
    let a = random_name("a");
    let mut entry = fixture(&a, &[]);
    entry["timeoutMs"] = json!(300);
    let hub = HubBuilder::new().server(&a, entry).start().await;
    let client = hub.mcp().await;
    let err = client
        .call(&format!("{a}__hang"), json!({}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("did not answer within 300 ms"),
        "{err}"
    );
    // The connection is still usable afterwards.
    assert_eq!(
        client
            .call_text(&format!("{a}__echo"), json!({"text": "still"}))
            .await,
        "still"
    );
    let text = hub.metrics_text().await;
    assert!(
        text.contains(&format!(
            "mcphub_tool_calls_total{{server=\"{a}\",outcome=\"timeout\"}} 1"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn sigterm_exits_zero_and_leaves_no_child_behind() {
    let a = random_name("a");
    let b = random_name("b");
    let mut hub = HubBuilder::new().fixture(&a).fixture(&b).start().await;
    let pa = hub.wait_connected(&a).await["pid"].as_u64().unwrap() as u32;
    let pb = hub.wait_connected(&b).await["pid"].as_u64().unwrap() as u32;
    hub.signal(Signal::SIGTERM);
    let status = hub.wait_exit().await;
    assert!(status.success(), "{status}");
    assert!(!pid_alive(pa) && !pid_alive(pb), "children left behind");
    assert!(read(&hub.log_file()).contains("hub_stopping"));
}

#[tokio::test]
async fn sigkill_of_the_hub_takes_its_children_down_too() {
    let a = random_name("a");
    let mut hub = HubBuilder::new().fixture(&a).start().await;
    let pa = hub.wait_connected(&a).await["pid"].as_u64().unwrap() as u32;
    hub.signal(Signal::SIGKILL);
    hub.wait_exit().await;
    assert!(wait_pid_gone(pa).await, "backend {pa} orphaned");
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_call_finish() {
    let a = random_name("a");
    let mut hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let mut client = hub.mcp().await;
    let (_keep, unused) = tokio::sync::mpsc::unbounded_channel();
    let mut progress = std::mem::replace(&mut client.progress, unused);
    let name = format!("{a}__slow");
    let call = tokio::spawn(async move {
        let r = client.call(&name, json!({"ms": 1500, "steps": 3})).await;
        (r, client)
    });
    // The first progress notification: the call is in the backend now.
    tokio::time::timeout(DEADLINE, progress.recv())
        .await
        .unwrap()
        .unwrap();
    hub.signal(Signal::SIGTERM);
    let (r, _client) = tokio::time::timeout(DEADLINE, call)
        .await
        .unwrap_or_else(|_| panic!("the call was never answered; hub stderr:\n{}", hub.stderr()))
        .unwrap();
    let r = r.expect("the in-flight call is answered, not dropped");
    assert_eq!(text_of(&r), "waited 1500 ms");
    assert!(hub.wait_exit().await.success());
}

#[tokio::test]
async fn a_remote_server_that_wants_credentials_is_unauthorized_and_others_are_untouched() {
    // A streamable HTTP endpoint that answers every request with 401 and a challenge.
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            [("WWW-Authenticate", "Bearer realm=\"test\"")],
            "no token",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let locked = random_name("locked");
    let good = random_name("good");
    let hub = HubBuilder::new()
        .fixture(&good)
        .server(&locked, json!({"url": url}))
        .start()
        .await;
    hub.wait_connected(&good).await;
    let s = hub
        .wait_health("unauthorized", |h| {
            RunningHub::server(h, &locked)["status"] == "unauthorized"
        })
        .await;
    let s = RunningHub::server(&s, &locked);
    assert!(
        s["error"].as_str().unwrap().contains("401")
            || s["error"].as_str().unwrap().to_lowercase().contains("auth"),
        "{s}"
    );
}

#[tokio::test]
async fn a_read_only_state_dir_is_reported_and_the_hub_keeps_serving() {
    use std::os::unix::fs::PermissionsExt;
    // A state path under a regular file cannot be created, even by root (who writes
    // through permission bits).
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    std::fs::set_permissions(&blocker, std::fs::Permissions::from_mode(0o400)).unwrap();
    let a = random_name("a");
    let hub = HubBuilder::new()
        .fixture(&a)
        .state_dir(&blocker.join("state"))
        .start()
        .await;
    hub.wait_connected(&a).await;
    let err = hub.stderr();
    assert!(
        err.contains("not writable") || err.contains("cannot open the log file"),
        "a clear error: {err}"
    );
    assert_eq!(
        hub.mcp()
            .await
            .call_text(&format!("{a}__echo"), json!({"text": "still"}))
            .await,
        "still"
    );
}

#[tokio::test]
async fn after_a_hub_is_killed_its_stale_entry_is_pruned_and_only_the_live_hub_is_registered() {
    let mut first = HubBuilder::new().fixture("busy").start().await;
    let state = first.state_dir.clone();
    let dead_port = first.port;
    // Killed under load: eight clients calling as fast as they can.
    let url = first.url("/api/servers/tools");
    let mut load = tokio::task::JoinSet::new();
    for i in 0..8 {
        let url = url.clone();
        load.spawn(async move {
            let http = reqwest::Client::new();
            let mut answered = 0u32;
            loop {
                let body = json!({"server_name": "busy", "tool": "echo", "arguments": {"text": i.to_string()}});
                match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => answered += 1,
                    _ => return answered,
                }
            }
        });
    }
    eventually("calls are flowing", async || {
        read(&first.log_file())
            .matches("\"tool_call\"")
            .nth(50)
            .map(|_| ())
    })
    .await;
    first.signal(Signal::SIGKILL);
    first.wait_exit().await;
    let answered: u32 = load.join_all().await.into_iter().sum();
    assert!(answered > 50, "{answered}");
    // What the killed hub left is valid: workspaces.json still names it, and the log
    // is whole lines (at most the last one cut off), which the toolkit reads.
    let ws: serde_json::Value =
        serde_json::from_str(&read(&state.join("workspaces.json"))).unwrap();
    assert!(ws.get(dead_port.to_string()).is_some());
    let log = read(&first.log_file());
    let lines: Vec<&str> = log.lines().collect();
    let broken: Vec<usize> = (0..lines.len())
        .filter(|i| serde_json::from_str::<serde_json::Value>(lines[*i]).is_err())
        .collect();
    assert!(
        broken.iter().all(|i| *i == lines.len() - 1),
        "torn lines {broken:?}"
    );
    // The toolkit tells the truth about the gap.
    let (code, out, _) = first.toolkit(&["check-alerts", "--format", "nagios"]);
    assert_eq!(code, 2, "{out}");
    let second = HubBuilder::new()
        .without_config()
        .state_dir(&state)
        .start()
        .await;
    let ws: serde_json::Value =
        serde_json::from_str(&read(&state.join("workspaces.json"))).unwrap();
    let ports: Vec<&String> = ws.as_object().unwrap().keys().collect();
    assert_eq!(ports, vec![&second.port.to_string()], "{ws}");
    let (code, out, _) = second.toolkit(&["validate", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["pid"], second.child.id().unwrap(), "{out}");
    assert!(code <= 1, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_with_backends_killed_at_random_loses_no_request() {
    let a = random_name("a");
    let b = random_name("b");
    let hub = std::sync::Arc::new(HubBuilder::new().fixture(&a).fixture(&b).start().await);
    hub.wait_connected(&a).await;
    hub.wait_connected(&b).await;
    const SESSIONS: usize = 64;
    const CALLS: usize = 15;
    let mut clients = Vec::new();
    for _ in 0..SESSIONS {
        clients.push(hub.mcp().await);
    }
    let stop = tokio_util::sync::CancellationToken::new();
    // Kill one of the two backends every 150 ms while the load runs.
    let killer = {
        let hub = hub.clone();
        let stop = stop.clone();
        let names = [a.clone(), b.clone()];
        tokio::spawn(async move {
            let mut kills = 0u32;
            while !stop.is_cancelled() {
                let h = hub.health().await;
                let name = &names[kills as usize % 2];
                if let Some(pid) = RunningHub::server(&h, name)["pid"].as_u64() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        Signal::SIGKILL,
                    );
                    kills += 1;
                }
                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            }
            kills
        })
    };
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            let tool = format!("{}__echo", if i % 2 == 0 { &a } else { &b });
            tokio::spawn(async move {
                let (mut ok, mut failed, mut lost) = (0, 0, 0);
                for n in 0..CALLS {
                    match tokio::time::timeout(
                        DEADLINE,
                        client.call(&tool, json!({"text": format!("{i}-{n}")})),
                    )
                    .await
                    {
                        Ok(Ok(r)) => {
                            assert_eq!(
                                text_of(&r),
                                format!("{i}-{n}"),
                                "an answer to another call"
                            );
                            ok += 1
                        }
                        Ok(Err(_)) => failed += 1,
                        Err(_) => lost += 1,
                    }
                }
                (ok, failed, lost)
            })
        })
        .collect();
    let (mut ok, mut failed, mut lost) = (0, 0, 0);
    for t in tasks {
        let (o, f, l) = t.await.unwrap();
        ok += o;
        failed += f;
        lost += l;
    }
    stop.cancel();
    let kills = killer.await.unwrap();
    eprintln!(
        "calls made {}, answered {} ({ok} results, {failed} errors), lost {lost}; {kills} backend kills",
        SESSIONS * CALLS,
        ok + failed
    );
    assert_eq!(lost, 0, "every request gets an answer");
    assert_eq!(ok + failed, SESSIONS * CALLS);
    assert!(kills >= 1 && ok > 0, "kills {kills}, ok {ok}");
    let h = hub.health().await;
    assert_eq!(h["state"], "ready");
    hub.wait_connected(&a).await;
    hub.wait_connected(&b).await;
}

#[tokio::test]
async fn a_flapping_backend_backs_off_up_to_its_cap_with_its_last_error_visible() {
    let flappy = random_name("flappy");
    let mut entry = fixture(&flappy, &["--exit-at-start"]);
    entry["restart"] = json!({"initialDelayMs": 20, "maxDelayMs": 160});
    let hub = HubBuilder::new()
        .fixture("steady")
        .server(&flappy, entry)
        .start()
        .await;
    let needle = format!("\"server\":\"{flappy}\"");
    let delays = eventually("eight reconnects scheduled", async || {
        let delays: Vec<u64> = read(&hub.log_file())
            .lines()
            .filter(|l| l.contains("server_reconnect_scheduled") && l.contains(&needle))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["delay_ms"].as_u64())
            .collect();
        (delays.len() >= 8).then_some(delays)
    })
    .await;
    // Full jitter in the upper half: attempt n waits in [d/2, d], d = min(20·2ⁿ, 160).
    for (n, got) in delays.iter().enumerate() {
        let cap = (20u64 << n.min(10)).min(160);
        assert!(
            (cap / 2..=cap).contains(got),
            "attempt {n}: {got} ms, cap {cap}: {delays:?}"
        );
    }
    assert!(
        delays[5..].iter().all(|d| *d >= 80),
        "at the cap: {delays:?}"
    );
    let h = hub.health().await;
    let s = RunningHub::server(&h, &flappy);
    assert_ne!(s["status"], "connected");
    assert!(s["error"].as_str().is_some_and(|e| !e.is_empty()), "{s}");
    assert!(s["error"].as_str().unwrap().contains("exited"), "{s}");
    assert_eq!(RunningHub::server(&h, "steady")["status"], "connected");
    assert_eq!(h["state"], "ready");
}

/// An HTTP server that answers 500 to everything.
async fn failing_http_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "upstream exploded",
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn remote_backends_that_answer_500_or_refuse_connections_are_reported() {
    let refused = closed_url("/mcp");
    let hub = HubBuilder::new()
        .fixture("local")
        .server("five-hundred", json!({"url": failing_http_server().await}))
        .server("refused", json!({"url": refused}))
        .start()
        .await;
    let h = hub.wait_reported(&["five-hundred", "refused"]).await;
    let five = RunningHub::server(&h, "five-hundred");
    assert_eq!(five["status"], "disconnected", "{five}");
    assert!(five["error"].as_str().unwrap().contains("500"), "{five}");
    let refused = RunningHub::server(&h, "refused");
    assert_eq!(refused["status"], "disconnected", "{refused}");
    let e = refused["error"].as_str().unwrap().to_lowercase();
    assert!(
        e.contains("connection refused"),
        "the cause, not just 'error sending request': {refused}"
    );
    assert_eq!(h["state"], "ready");
    let (status, body) = hub
        .call_rest("local", "echo", json!({"text": "fine"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = hub.call_rest("five-hundred", "x", json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("SERVER_NOT_CONNECTED")),
        "{body}"
    );
}

#[tokio::test]
async fn a_slow_starting_backend_holds_no_other_back() {
    let hub = HubBuilder::new()
        .fixture("quick")
        .server("sluggish", fixture("sluggish", &["--slow-start", "3000"]))
        .spawn()
        .await;
    let mut hub = hub;
    hub.wait_listening().await;
    hub.wait_connected("quick").await;
    // While the slow one still starts, the quick one already serves.
    let h = hub.health().await;
    assert_eq!(
        RunningHub::server(&h, "sluggish")["status"],
        "connecting",
        "{h}"
    );
    let (status, body) = hub
        .call_rest("quick", "echo", json!({"text": "early"}))
        .await;
    assert_eq!(status, 200, "{body}");
    hub.wait_connected("sluggish").await;
    hub.wait_health("ready once every server had its start", |h| {
        h["state"] == "ready"
    })
    .await;
}

/// A tmpfs of `kib` KiB, unmounted on drop: a disk that really fills up.
struct TinyDisk {
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount(kib: u32) -> TinyDisk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill a disk for real (run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TinyDisk { path, _dir: dir }
    }

    /// Fills what is left of the disk; returns the filler to delete later.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = [0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let byte = [0u8; 1];
        while f.write_all(&byte).is_ok() {}
        filler
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[tokio::test]
async fn a_full_state_directory_loses_log_lines_but_not_the_hub() {
    let disk = TinyDisk::mount(512);
    let state = disk.path.join("state");
    let hub = HubBuilder::new()
        .fixture("f")
        .state_dir(&state)
        .start()
        .await;
    let call = async |text: &str| hub.call_rest("f", "echo", json!({"text": text})).await;
    let ws_before = read(&state.join("workspaces.json"));
    let filler = disk.fill();
    for i in 0..20 {
        let (status, body) = call(&format!("while full {i}")).await;
        assert_eq!(status, 200, "the hub keeps serving on a full disk: {body}");
    }
    // A state change wants to rewrite workspaces.json: the old file stays whole.
    assert_eq!(hub.post("/api/restart", json!({})).await.0, 200);
    assert_eq!(read(&state.join("workspaces.json")), ws_before);
    // Toolkit commands still answer, and say what they could not record.
    let (code, out, err) = hub.toolkit(&["check-alerts", "--format", "json"]);
    assert!(code <= 1, "{out}{err}");
    assert!(err.contains("No space left"), "{err}");
    hub.wait_health("the log failure said on stderr", |_| {
        hub.stderr().contains("log lines are dropped")
    })
    .await;

    std::fs::remove_file(filler).unwrap();
    eventually("the loss is recorded once there is room", async || {
        call("after").await;
        read(&hub.log_file())
            .contains("\"log_lines_lost\"")
            .then_some(())
    })
    .await;
    // Every line but cut-off fragments is whole JSON, and the toolkit reads the log.
    let log = read(&hub.log_file());
    let bad = log
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
        .count();
    assert!(
        bad <= 1,
        "at most the one line cut off by the full disk: {bad}"
    );
    let (code, out, err) = hub.toolkit(&["detect-anomalies", "--window", "5m", "--format", "json"]);
    assert!(code <= 1, "{out}{err}");
    drop(hub);
}
