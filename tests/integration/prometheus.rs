//! The emitted Prometheus rules and the hub's /metrics, checked by Debian's promtool.

use std::path::Path;
use std::process::Command;

use crate::support::*;

fn promtool(args: &[&str], dir: &Path, stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus; .ci/run does)");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn emit(extra: &[&str]) -> String {
    let out = Command::new(HUB)
        .args(["check-alerts", "--emit", "prometheus-rules"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn emitted_rules_are_valid_fire_at_their_thresholds_and_stay_silent_at_zero_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), emit(&[])).unwrap();
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/prometheus-rules.test.yml");
    std::fs::copy(&tests, dir.path().join("rules.test.yml")).unwrap();
    let (ok, out) = promtool(&["check", "rules", "rules.yml"], dir.path(), None);
    assert!(ok && out.contains("SUCCESS: 14 rules found"), "{out}");
    let (ok, out) = promtool(&["test", "rules", "rules.test.yml"], dir.path(), None);
    assert!(ok, "{out}");
}

#[test]
fn emitted_rules_follow_the_thresholds_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.json");
    std::fs::write(&file, r#"{"rss_mb": 100, "p95_ms": 1500}"#).unwrap();
    let rules = emit(&["--thresholds", file.to_str().unwrap(), "--job", "hub-a"]);
    assert!(
        rules.contains("process_resident_memory_bytes{job=\"hub-a\"} > 104857600"),
        "{rules}"
    );
    assert!(rules.contains("> 1.5\n"), "{rules}");
}

#[tokio::test]
async fn metrics_pass_promtool_check_metrics() {
    let a = random_name("a");
    let hub = HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    let client = hub.mcp().await;
    client
        .call_text(&format!("{a}__echo"), serde_json::json!({"text": "x"}))
        .await;
    let _ = client
        .call(&format!("{a}__fail"), serde_json::json!({}))
        .await;
    let text = hub.metrics_text().await;
    let (ok, out) = promtool(&["check", "metrics"], hub.state_dir.as_path(), Some(&text));
    assert!(ok, "{out}\n{text}");
    assert!(
        text.contains("# TYPE process_cpu_seconds_total counter"),
        "{text}"
    );
    assert!(text.contains("mcphub_log_file_bytes "), "{text}");
    // The heap's two figures, which tell live data from free heap kept resident.
    let in_use = metric(&hub, "mcphub_heap_in_use_bytes").await;
    assert!(
        (64.0 * 1024.0..1024.0 * 1024.0 * 1024.0).contains(&in_use),
        "a hub with one server holds {in_use} bytes of heap"
    );
    assert!(text.contains("\nmcphub_heap_free_bytes "), "{text}");
    // Prometheus itself asks for OpenMetrics and gets it.
    let om = hub
        .http
        .get(hub.url("/metrics"))
        .header("Accept", "application/openmetrics-text;version=1.0.0")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(om.trim_end().ends_with("# EOF"), "{om}");
}
