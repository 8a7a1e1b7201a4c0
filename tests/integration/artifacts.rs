//! `completions/` and `man/` are generated from the CLI definition and committed; this
//! fails when they are stale. Refresh them with `MCPHUB_BLESS=1 cargo test artifacts`.

use std::path::Path;

use crate::support::HUB;

fn bless() -> bool {
    std::env::var_os("MCPHUB_BLESS").is_some()
}

fn compare(committed: &Path, fresh: &[u8]) {
    if bless() {
        std::fs::create_dir_all(committed.parent().unwrap()).unwrap();
        std::fs::write(committed, fresh).unwrap();
        return;
    }
    let old = std::fs::read(committed).unwrap_or_default();
    assert!(
        old == fresh,
        "{} is stale: run `MCPHUB_BLESS=1 cargo test artifacts` and commit the result",
        committed.display()
    );
}

#[test]
fn completions_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    for (shell, file) in [
        ("bash", "mcphub.bash"),
        ("zsh", "_mcphub"),
        ("fish", "mcphub.fish"),
    ] {
        let out = std::process::Command::new(HUB)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(!out.stdout.is_empty());
        compare(&root.join(file), &out.stdout);
    }
}

#[test]
fn man_pages_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(HUB)
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut fresh: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    fresh.sort();
    for name in &fresh {
        compare(
            &root.join(name),
            &std::fs::read(dir.path().join(name)).unwrap(),
        );
    }
    if !bless() {
        let mut committed: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        committed.sort();
        assert_eq!(
            committed, fresh,
            "man/ has pages the CLI no longer has (or lacks new ones)"
        );
    }
    assert!(fresh.iter().any(|n| n == "mcphub-serve.1"));
}

/// Metric names in a PromQL expression (ours, the process ones, and `up`).
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() || bytes[i] == '_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_') {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            let next = bytes[i..].iter().find(|c| !c.is_whitespace());
            if (word.starts_with("mcphub_") || word.starts_with("process_") || word == "up")
                && matches!(next, Some('{') | Some('['))
            {
                out.push(word);
            }
        } else {
            i += 1;
        }
    }
    out
}

#[tokio::test]
async fn grafana_dashboard_queries_only_metrics_the_hub_exports() {
    let a = crate::support::random_name("a");
    let hub = crate::support::HubBuilder::new().fixture(&a).start().await;
    hub.wait_connected(&a).await;
    hub.mcp()
        .await
        .call_text(&format!("{a}__echo"), serde_json::json!({"text": "x"}))
        .await;
    let live = hub.metrics_text().await;
    // The LLM families carry samples only once an LLM is configured: record one into
    // each, in-process, to see the names the hub then exports.
    let m = mcphub::telemetry::metrics::Metrics::new(None);
    let p = mcphub::telemetry::metrics::ProviderLabels {
        provider: "openai".into(),
    };
    m.llm_requests
        .get_or_create(&mcphub::telemetry::metrics::LlmCallLabels {
            provider: "openai".into(),
            outcome: "success".into(),
        })
        .inc();
    m.llm_request_duration.get_or_create(&p).observe(0.1);
    m.llm_cache_hits.get_or_create(&p).inc();
    m.llm_cache_misses.get_or_create(&p).inc();
    m.llm_queue_depth.get_or_create(&p).set(1);
    m.llm_circuit_state.get_or_create(&p).set(0);
    m.llm_parse_errors.get_or_create(&p).inc();
    let exported = format!("{live}{}", m.encode_text_004());
    let has = |name: &str| {
        let family = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        exported.lines().any(|l| {
            l.starts_with(&format!("# TYPE {name} "))
                || l.starts_with(&format!("# TYPE {family} histogram"))
        })
    };
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/grafana-dashboard.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(
                !names.is_empty(),
                "panel {} queries no metric: {expr}",
                panel["title"]
            );
            for n in names {
                assert!(
                    n == "up" || has(&n),
                    "panel {} queries {n}, which the hub does not export",
                    panel["title"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 14, "{checked}");
}
