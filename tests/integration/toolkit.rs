//! The toolkit commands as processes against a real running hub found by discovery.

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn validate_names_every_server_and_the_real_pid() {
    let good = random_name("good");
    let bad = random_name("bad");
    let hub = HubBuilder::new()
        .fixture(&good)
        .server(&bad, fixture(&bad, &["--exit-at-start"]))
        .start()
        .await;
    hub.wait_connected(&good).await;
    let (code, out, err) = hub.toolkit(&["validate", "--format", "json"]);
    assert_eq!(
        code, 2,
        "a server that cannot start fails validate: {out}{err}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["pid"], hub.child.id().unwrap());
    assert_eq!(v["hub"], format!("http://127.0.0.1:{}", hub.port));
    let checks = v["checks"].as_array().unwrap();
    let verdict = |name: &str| {
        checks
            .iter()
            .find(|c| c["check"] == format!("server {name}"))
            .unwrap_or_else(|| panic!("no check for {name}: {out}"))["verdict"]
            .clone()
    };
    assert_eq!(verdict(&good), "pass");
    assert_eq!(verdict(&bad), "fail");
    // The table names the failing server too.
    let (_, table, _) = hub.toolkit(&["validate"]);
    assert!(
        table.contains(&bad) && table.contains("CRITICAL"),
        "{table}"
    );
}

#[tokio::test]
async fn check_alerts_is_ok_at_zero_load_and_records_its_result() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let (code, out, err) = hub.toolkit(&["check-alerts", "--format", "nagios"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("MCPHUB OK - 1/1 servers connected |"),
        "{out}"
    );
    assert!(
        out.contains("'llm_success_rate'=U;"),
        "no data is U, not 0: {out}"
    );
    let (code, out, _) = hub.toolkit(&["check-alerts", "--format", "json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["alerts"], serde_json::json!([]));
    let history = read(&hub.state_dir.join("monitoring/alerts.jsonl"));
    assert_eq!(history.lines().count(), 2);
    for line in history.lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        assert_eq!(rec["status"], "OK");
    }
}

#[tokio::test]
async fn a_stopped_hub_makes_check_alerts_and_validate_critical() {
    let mut hub = HubBuilder::new().without_config().start().await;
    hub.signal(Signal::SIGKILL);
    hub.wait_exit().await;
    let (code, out, _) = hub.toolkit(&["check-alerts", "--format", "nagios"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.starts_with("MCPHUB CRITICAL - hub process not running"),
        "{out}"
    );
    let (code, out, _) = hub.toolkit(&["validate"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("process found") && out.contains("fail"),
        "{out}"
    );
}

#[tokio::test]
async fn usage_errors_of_check_commands_exit_3_and_bad_thresholds_name_the_file() {
    let hub = HubBuilder::new().without_config().start().await;
    let (code, _, err) = hub.toolkit(&["check-alerts", "--no-such-flag"]);
    assert_eq!(code, 3, "{err}");
    let file = hub.state_dir.join("thresholds.json");
    std::fs::write(&file, r#"{"rss_mb": 1, "p96_ms": 3}"#).unwrap();
    let (code, _, err) = hub.toolkit(&["check-alerts", "--thresholds", file.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("thresholds.json:1:") && err.contains("p96_ms"),
        "{err}"
    );
    // A valid override is applied: 1 MB of RSS is exceeded by any live hub.
    std::fs::write(&file, r#"{"rss_mb": 1}"#).unwrap();
    let (code, out, _) = hub.toolkit(&["check-alerts", "--thresholds", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("HubMemoryHigh"), "{out}");
}

#[tokio::test]
async fn detect_anomalies_is_quiet_at_zero_load() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let (code, out, err) = hub.toolkit(&["detect-anomalies", "--window", "5m"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("PID {}", hub.child.id().unwrap())),
        "the real PID: {out}"
    );
    assert!(out.contains("OK"), "{out}");
}

#[tokio::test]
async fn detect_anomalies_sees_a_flapping_server_by_name() {
    let flappy = random_name("flappy");
    let good = random_name("good");
    let mut entry = fixture(&flappy, &["--exit-at-start"]);
    entry["restart"] = serde_json::json!({"initialDelayMs": 10, "maxDelayMs": 40});
    let hub = HubBuilder::new()
        .fixture(&good)
        .server(&flappy, entry)
        .start()
        .await;
    hub.wait_health("several reconnect attempts", |_| {
        read(&hub.log_file())
            .matches(&format!("\"server\":\"{flappy}\",\"error\""))
            .count()
            > 4
    })
    .await;
    let (code, out, err) = hub.toolkit(&["detect-anomalies", "--format", "json"]);
    assert_eq!(code, 1, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["check"] == "flapping" && f["server"] == flappy.as_str()),
        "{out}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f["check"] == "servers" && f["server"] == flappy.as_str()),
        "{out}"
    );
    assert!(
        !findings.iter().any(|f| f["server"] == good.as_str()),
        "{out}"
    );
}

#[tokio::test]
async fn detect_anomalies_reads_mixed_timestamps_torn_lines_and_rotation() {
    let hub = HubBuilder::new().without_config().start().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hub.log");
    let now = chrono::Utc::now();
    let ago = |s: i64| now - chrono::Duration::seconds(s);
    // Twelve errors in the last two minutes, in every timestamp form, split across a
    // rotation, with torn and foreign lines between them; plus old errors outside the window.
    let forms = |t: chrono::DateTime<chrono::Utc>, i: usize| -> Value {
        match i % 4 {
            0 => Value::from(t.to_rfc3339()),
            1 => Value::from(t.timestamp_millis()),
            2 => Value::from(t.timestamp()),
            _ => Value::from(t.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string()),
        }
    };
    let line = |t, i| {
        serde_json::json!({"timestamp": forms(t, i), "level": "ERROR", "event": "tool_call", "message": "boom"}).to_string()
    };
    let mut rotated = String::new();
    for i in 0..3 {
        rotated.push_str(&line(ago(3600 + i as i64), i));
        rotated.push('\n');
    }
    for i in 0..6 {
        rotated.push_str(&line(ago(110 - i as i64), i));
        rotated.push('\n');
    }
    let mut current = String::from("{\"timestamp\": \"torn\n<html>not a log line</html>\n");
    for i in 6..12 {
        current.push_str(&line(ago(60 - i as i64), i));
        current.push('\n');
    }
    std::fs::write(format!("{}.1", log.display()), rotated).unwrap();
    std::fs::write(&log, current).unwrap();
    let (code, out, err) = hub.toolkit(&[
        "detect-anomalies",
        "--window",
        "2m",
        "--format",
        "json",
        "--log",
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["errors"], 12, "{out}");
    assert_eq!(v["scan"]["bad_lines"], 2, "{out}");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "error_spike"),
        "{out}"
    );
}

#[tokio::test]
async fn measure_at_zero_load_writes_a_baseline_with_na_not_zero() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let (code, out, err) = hub.toolkit(&["measure", "--duration", "1s"]);
    assert_eq!(code, 0, "{out}{err}");
    let dir = hub.state_dir.join("baselines");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let md = names
        .iter()
        .find(|n| n.ends_with(".md"))
        .expect("a markdown baseline");
    assert!(md.starts_with("baseline-") && names.iter().any(|n| n.ends_with(".json")));
    let text = read(&dir.join(md));
    assert!(text.contains("| success rate | N/A |"), "{text}");
    assert!(text.contains("| latency p95 | N/A"), "{text}");
    assert!(text.contains("| cache hit rate | N/A"), "{text}");
    assert!(
        !text.contains("| success rate | 0") && !text.contains("N/Ams"),
        "{text}"
    );
    assert!(text.contains("| servers connected | 1/1 |"), "{text}");
    assert!(text.contains("No previous baseline"), "{text}");
}

#[tokio::test]
async fn measure_counts_only_calls_inside_its_window_and_compares_with_the_last_baseline() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let client = hub.mcp().await;
    // Calls before the window must not count.
    for _ in 0..5 {
        client
            .call_text(&format!("{a}__echo"), serde_json::json!({"text": "before"}))
            .await;
    }
    hub.toolkit(&["measure", "--duration", "1s"]);
    let mut cmd = hub.toolkit_command(&["measure", "--duration", "2s", "--format", "json"]);
    let measuring = tokio::spawn(async move { cmd.output().await.unwrap() });
    // Load while measure runs: every tenth call fails.
    let mut made = 0u64;
    while !measuring.is_finished() {
        made += 1;
        if made.is_multiple_of(10) {
            let _ = client
                .call(&format!("{a}__fail"), serde_json::json!({}))
                .await;
        } else {
            client
                .call_text(&format!("{a}__echo"), serde_json::json!({"text": "in"}))
                .await;
        }
    }
    let out = measuring.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    let calls = m["calls"].as_u64().unwrap();
    assert!(
        calls >= 4 && calls <= made,
        "calls {calls}, made {made}: {m}"
    );
    assert!(m["throughput_per_s"].as_f64().unwrap() > 0.0);
    let rate = m["success_rate_percent"].as_f64().unwrap();
    assert!(rate < 100.0 && rate > 50.0, "{m}");
    assert!(m["p95_ms"].as_f64().unwrap() > 0.0);
    let dir = hub.state_dir.join("baselines");
    let mut mds: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".md"))
        .collect();
    mds.sort();
    assert_eq!(mds.len(), 2);
    let latest = read(&dir.join(&mds[1]));
    assert!(
        latest.contains(&format!(
            "## Compared with {}",
            mds[0].trim_end_matches(".md")
        )),
        "{latest}"
    );
}

#[tokio::test]
async fn summary_writes_the_days_report_naming_the_servers() {
    let good = random_name("good");
    let bad = random_name("bad");
    let hub = HubBuilder::new()
        .fixture(&good)
        .server(&bad, fixture(&bad, &["--exit-at-start"]))
        .start()
        .await;
    hub.wait_connected(&good).await;
    hub.mcp()
        .await
        .call_text(&format!("{good}__echo"), serde_json::json!({"text": "x"}))
        .await;
    let (code, out, err) = hub.toolkit(&["summary"]);
    assert_eq!(code, 0, "{out}{err}");
    let today = chrono::Utc::now().date_naive();
    let report = read(&hub.state_dir.join(format!("reports/summary-{today}.md")));
    assert_eq!(report.trim(), out.trim());
    assert!(
        report.contains(&format!("| {good} | connected |")),
        "{report}"
    );
    assert!(
        report.contains(&format!("Investigate server `{bad}`")),
        "{report}"
    );
    assert!(report.contains("| tool calls | 1 |"), "{report}");
    assert!(report.contains("| availability | 100.00% |"), "{report}");
}

#[tokio::test]
async fn summary_of_yesterday_from_a_log_with_a_failing_server_and_a_custom_template() {
    let hub = HubBuilder::new().without_config().start().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hub.log");
    let day = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    let at = |h: u32, m: u32| day.and_hms_opt(h, m, 0).unwrap().and_utc().to_rfc3339();
    let mut lines = vec![
        // The day before yesterday: the hub was already running.
        serde_json::json!({"timestamp": (day - chrono::Days::new(1)).and_hms_opt(23, 0, 0).unwrap().and_utc().to_rfc3339(), "level": "INFO", "event": "hub_ready"}),
    ];
    for i in 0..4 {
        lines.push(serde_json::json!({"timestamp": at(1 + i, 0), "level": "WARN", "event": "server_disconnected", "server": "serena", "error": "MCP error -32000: Connection closed"}));
    }
    for i in 0..20 {
        lines.push(serde_json::json!({"timestamp": at(10, i), "level": "INFO", "event": "tool_call", "server": "github", "tool": "x", "outcome": "success", "duration_ms": 12.5}));
    }
    // Down from 12:00 to 18:00.
    lines
        .push(serde_json::json!({"timestamp": at(12, 0), "level": "INFO", "event": "hub_stopped"}));
    lines
        .push(serde_json::json!({"timestamp": at(18, 0), "level": "INFO", "event": "hub_started"}));
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    text.push_str("{\"torn\": \n");
    std::fs::write(&log, text).unwrap();
    let template = dir.path().join("mine.md");
    std::fs::write(&template, "avail={{ s.availability_percent | na('%', 0) }} restarts={{ s.restarts }}\n{% for a in s.action_items %}* {{ a }}\n{% endfor %}").unwrap();
    let (code, out, err) = hub.toolkit(&[
        "summary",
        "--date",
        "yesterday",
        "--log",
        log.to_str().unwrap(),
        "--template",
        template.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("avail=75% restarts=1"), "{out}");
    assert!(
        out.contains("Investigate server `serena`: 4 disconnections today; last error: MCP error -32000: Connection closed"),
        "{out}"
    );
    assert!(out.contains("1 log lines could not be read"), "{out}");
    assert!(
        hub.state_dir
            .join(format!("reports/summary-{day}.md"))
            .exists()
    );
    let (code, _, err) = hub.toolkit(&["summary", "--date", "last tuesday"]);
    assert_eq!(code, 2);
    assert!(err.contains("YYYY-MM-DD"), "{err}");
}

/// A stand-in for `crontab` that keeps the table in a file (MCPHUB_CRONTAB points here).
fn fake_crontab(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let table = dir.join("table");
    let program = dir.join("crontab");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  -l) if [ -f '{t}' ]; then cat '{t}'; else echo \"no crontab for $(id -un)\" >&2; exit 1; fi;;\n  -) cat > '{t}';;\n  *) echo \"usage\" >&2; exit 2;;\nesac\n",
            t = table.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    (program, table)
}

fn install_cron(
    hub: &std::path::Path,
    crontab: &std::path::Path,
    state: &std::path::Path,
    args: &[&str],
) -> (i32, String, String) {
    let out = std::process::Command::new(hub)
        .arg("install-cron")
        .args(args)
        .env("MCPHUB_CRONTAB", crontab)
        .env("MCPHUB_STATE_DIR", state)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn install_cron_keeps_foreign_entries_escapes_percent_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let (crontab, table) = fake_crontab(dir.path());
    let state = dir.path().join("state");
    // The binary lives in a path with a space and a percent sign.
    let bindir = dir.path().join("bin 100%");
    std::fs::create_dir_all(&bindir).unwrap();
    let hub = bindir.join("mcphub");
    std::fs::copy(HUB, &hub).unwrap();
    // Foreign entries, no trailing newline.
    let foreign = "MAILTO=ops@example.com\n*/5 * * * * /usr/local/bin/backup.sh # keep me";
    std::fs::write(&table, foreign).unwrap();

    let (code, out, err) = install_cron(&hub, &crontab, &state, &["--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    let quoted = format!("'{}'", hub.display()).replace('%', r"\%");
    let added: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with('+') && l.contains(&quoted))
        .collect();
    assert_eq!(
        added.len(),
        5,
        "five absolute, quoted, %-escaped lines: {out}"
    );
    assert!(
        !out.contains(&format!("{}", hub.display())),
        "no unescaped % in any line: {out}"
    );
    assert!(out.contains("next "), "each line with its next run: {out}");
    assert_eq!(read(&table), foreign, "dry run changes nothing");

    let (code, out, err) = install_cron(&hub, &crontab, &state, &["--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let installed = read(&table);
    assert!(
        installed.starts_with(&format!("{foreign}\n# BEGIN mcphub")),
        "{installed}"
    );
    assert!(installed.trim_end().ends_with("# END mcphub"));
    let backups = || {
        std::fs::read_dir(state.join("backups"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(backups(), 1);
    assert_eq!(
        read(
            &std::fs::read_dir(state.join("backups"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path()
        ),
        foreign
    );

    let (code, out, _) = install_cron(&hub, &crontab, &state, &["--yes"]);
    assert_eq!(code, 0);
    assert!(out.contains("Already installed"), "{out}");
    assert_eq!(read(&table), installed);
    assert_eq!(backups(), 1, "nothing changed, nothing backed up");

    // Without --yes and without a terminal, nothing is applied.
    let (code, _, err) = install_cron(&hub, &crontab, &state, &["--uninstall"]);
    assert_eq!(code, 1);
    assert!(err.contains("--yes"), "{err}");
    let (code, _, _) = install_cron(&hub, &crontab, &state, &["--uninstall", "--yes"]);
    assert_eq!(code, 0);
    assert_eq!(read(&table), format!("{foreign}\n"));
}

#[test]
fn install_cron_refuses_a_half_present_block() {
    let dir = tempfile::tempdir().unwrap();
    let (crontab, table) = fake_crontab(dir.path());
    let half = "0 1 * * * /bin/true\n# BEGIN mcphub\n0 0 * * * '/old/mcphub' 'validate'\n";
    std::fs::write(&table, half).unwrap();
    let (code, _, err) = install_cron(
        std::path::Path::new(HUB),
        &crontab,
        &dir.path().join("s"),
        &["--yes"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("not one whole block") && err.contains("crontab -e"),
        "{err}"
    );
    assert_eq!(read(&table), half);
}

#[test]
fn install_cron_with_debians_real_crontab_for_a_throwaway_user() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root to create a throwaway user (CI runs it)");
        return;
    }
    assert!(
        std::path::Path::new("/usr/bin/crontab").exists(),
        "Debian's crontab is missing: apt-get install cron (.ci/run does)"
    );
    let user = "mcphub-ci";
    if std::process::Command::new("id")
        .arg(user)
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        let ok = std::process::Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                user,
            ])
            .status()
            .unwrap();
        assert!(ok.success(), "useradd {user}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let as_user = |args: &[&str]| {
        let out = std::process::Command::new("runuser")
            .args(["-u", user, "--", HUB, "install-cron"])
            .args(args)
            .env("MCPHUB_STATE_DIR", dir.path().join("state"))
            .env_remove("MCPHUB_CRONTAB")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let list = || {
        let out = std::process::Command::new("crontab")
            .args(["-u", user, "-l"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let _ = std::process::Command::new("crontab")
        .args(["-u", user, "-r"])
        .output();
    let (code, out) = as_user(&["--yes"]);
    assert_eq!(code, 0, "{out}");
    let table = list();
    assert_eq!(
        table
            .lines()
            .filter(|l| l.contains("'install-cron'") || l.contains("'validate'"))
            .count(),
        1,
        "{table}"
    );
    assert!(
        table.contains("# BEGIN mcphub") && table.contains("# END mcphub"),
        "{table}"
    );
    let (code, out) = as_user(&["--yes"]);
    assert_eq!(code, 0);
    assert!(out.contains("Already installed"), "{out}");
    let (code, _) = as_user(&["--uninstall", "--yes"]);
    assert_eq!(code, 0);
    assert!(!list().contains("mcphub"));
    let _ = std::process::Command::new("crontab")
        .args(["-u", user, "-r"])
        .output();
}

#[test]
fn prune_drops_history_and_rotated_logs_past_retention_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    std::fs::create_dir_all(state.join("monitoring")).unwrap();
    std::fs::create_dir_all(state.join("logs")).unwrap();
    let now = chrono::Utc::now();
    let old = (now - chrono::Duration::days(40)).to_rfc3339();
    let new = (now - chrono::Duration::days(1)).to_rfc3339();
    std::fs::write(
        state.join("monitoring/alerts.jsonl"),
        format!("{{\"timestamp\":\"{old}\"}}\n{{\"timestamp\":\"{new}\"}}\n{{\"timest\n"),
    )
    .unwrap();
    std::fs::write(state.join("logs/mcp-hub.log"), "live\n").unwrap();
    let rotated = state.join("logs/mcp-hub.log.3");
    std::fs::write(&rotated, "old\n").unwrap();
    let forty_days = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 86400);
    std::fs::File::options()
        .write(true)
        .open(&rotated)
        .unwrap()
        .set_modified(forty_days)
        .unwrap();
    let out = std::process::Command::new(HUB)
        .args(["prune", "--keep", "30d", "--format", "json", "--state-dir"])
        .arg(state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["history_lines_removed"], 1);
    assert_eq!(v["history_lines_kept"], 1);
    assert_eq!(v["unreadable_lines_removed"], 1);
    assert_eq!(
        read(&state.join("monitoring/alerts.jsonl")),
        format!("{{\"timestamp\":\"{new}\"}}\n")
    );
    assert!(!rotated.exists());
    assert_eq!(read(&state.join("logs/mcp-hub.log")), "live\n");
}

/// Runs `tmux` on a private socket.
fn tmux(socket: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .args(args)
        .output()
        .expect("tmux (apt-get install tmux)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn wait_screen(socket: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let start = std::time::Instant::now();
    loop {
        let screen = tmux(socket, &["capture-pane", "-p", "-t", "mon"]);
        if pred(&screen) {
            return screen;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for {what}; screen:\n{screen}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn monitor_draws_refreshes_and_restores_the_terminal_on_q() {
    let a = random_name("alpha");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let socket = random_name("mcphub-test");
    let cmd = format!(
        "env HOME='{}' MCPHUB_STATE_DIR='{}' '{HUB}' monitor --interval 1s; echo MONITOR_EXIT=$?; sleep 60",
        hub.home.display(),
        hub.state_dir.display()
    );
    tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-s",
            "mon",
            "-x",
            "150",
            "-y",
            "50",
            &cmd,
        ],
    );
    let first = wait_screen(&socket, "the first frame", |s| {
        s.contains(&a) && s.contains("q to quit")
    })
    .await;
    assert!(
        first.contains(&hub.child.id().unwrap().to_string()),
        "the real PID: {first}"
    );
    assert!(first.contains("connected"), "{first}");
    let stamp = |s: &str| s.lines().next().unwrap_or_default().to_owned();
    let first_stamp = stamp(&first);
    wait_screen(&socket, "a refresh", |s| {
        stamp(s) != first_stamp && s.contains("q to quit")
    })
    .await;
    tmux(&socket, &["send-keys", "-t", "mon", "q"]);
    let after = wait_screen(&socket, "the exit", |s| s.contains("MONITOR_EXIT=")).await;
    assert!(after.contains("MONITOR_EXIT=0"), "{after}");
    assert!(
        !after.contains("q to quit"),
        "the alternate screen is gone: {after}"
    );
    tmux(&socket, &["kill-server"]);
}

#[tokio::test]
async fn monitor_once_prints_one_plain_frame() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let (code, out, err) = hub.toolkit(&["monitor", "--once"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("mcphub monitor · "), "{out}");
    assert!(
        out.contains(&format!("| {a} ")) && out.contains("| ready "),
        "{out}"
    );
    assert!(
        !out.contains('\u{1b}'),
        "no escape codes off a terminal: {out:?}"
    );
}

/// A webhook receiver on loopback that hands over each POST body.
async fn webhook_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[tokio::test]
async fn check_alerts_posts_warning_and_critical_results_to_a_webhook_only() {
    let (url, mut rx) = webhook_receiver().await;
    let hub = HubBuilder::new().without_config().start().await;
    // Zero load, healthy: nothing is posted.
    let out = hub
        .toolkit_command(&["check-alerts", "--webhook", &url])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(rx.try_recv().is_err(), "an OK result is not posted");
    // A warning (RSS over a 1 MB limit) is.
    let t = hub.state_dir.join("t.json");
    std::fs::write(&t, r#"{"rss_mb": 1}"#).unwrap();
    let out = hub
        .toolkit_command(&[
            "check-alerts",
            "--webhook",
            &url,
            "--thresholds",
            t.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("mcphub WARNING at http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("HubMemoryHigh"), "{text}");
}

#[tokio::test]
async fn concurrent_toolkit_runs_append_history_without_torn_or_lost_lines() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let mut cmd = hub.toolkit_command(&["check-alerts", "--format", "json"]);
            tokio::spawn(async move { cmd.output().await.unwrap() })
        })
        .collect();
    for r in runs {
        assert!(r.await.unwrap().status.success());
    }
    let history = read(&hub.state_dir.join("monitoring/alerts.jsonl"));
    assert_eq!(history.lines().count(), 8);
    for line in history.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("torn line {line}: {e}"));
    }
}

#[tokio::test]
async fn install_cron_asks_on_a_terminal_and_applies_on_yes() {
    let dir = tempfile::tempdir().unwrap();
    let (crontab, table) = fake_crontab(dir.path());
    let socket = random_name("mcphub-test");
    let cmd = format!(
        "env MCPHUB_CRONTAB='{}' MCPHUB_STATE_DIR='{}' '{HUB}' install-cron; echo CRON_EXIT=$?; sleep 60",
        crontab.display(),
        dir.path().join("state").display()
    );
    tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-s",
            "mon",
            "-x",
            "200",
            "-y",
            "50",
            &cmd,
        ],
    );
    wait_screen(&socket, "the prompt", |s| s.contains("Apply? [y/N]")).await;
    assert!(!table.exists(), "nothing applied before the answer");
    tmux(&socket, &["send-keys", "-t", "mon", "y", "Enter"]);
    let after = wait_screen(&socket, "the exit", |s| s.contains("CRON_EXIT=")).await;
    assert!(
        after.contains("CRON_EXIT=0") && after.contains("mcphub block installed"),
        "{after}"
    );
    assert!(read(&table).contains("# BEGIN mcphub"));
    tmux(&socket, &["kill-server"]);
}
