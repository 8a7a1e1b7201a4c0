//! Tool filtering, categorization and search through the running hub: real servers
//! (server-filesystem, server-memory, server-everything), real MCP sessions, and the
//! fake LLM provider for the categorizer's good and bad days.

use serde_json::{Value, json};

use crate::deps::deps;
use crate::support::*;

/// server-filesystem (rooted in `root`), server-memory and server-everything.
fn real_servers(b: HubBuilder, root: &std::path::Path) -> HubBuilder {
    let d = deps();
    b.server(
        "filesystem",
        json!({"command": d.npm_bin("mcp-server-filesystem"), "args": [root]}),
    )
    .server(
        "memory",
        json!({"command": d.npm_bin("mcp-server-memory"), "env": {"MEMORY_FILE_PATH": root.join("memory.jsonl")}}),
    )
    .server(
        "everything",
        json!({"command": d.npm_bin("mcp-server-everything"), "args": ["stdio"]}),
    )
}

async fn all_connected(hub: &RunningHub, names: &[&str]) {
    for n in names {
        hub.wait_connected(n).await;
    }
}

type Names = std::collections::BTreeSet<String>;

/// The tools `/api/filtering/stats` lists whose (server, category) satisfy `pick`.
async fn tools_where(hub: &RunningHub, pick: impl Fn(&str, &str) -> bool) -> Names {
    let (_, stats) = hub.get("/api/filtering/stats").await;
    stats["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            pick(
                t["server"].as_str().unwrap(),
                t["category"].as_str().unwrap(),
            )
        })
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn tool_set(client: &McpClient) -> Names {
    client.tool_names().await.into_iter().collect()
}

#[tokio::test]
async fn each_mode_exposes_exactly_the_expected_tools_of_real_servers() {
    let root = tempfile::tempdir().unwrap();
    let hub = real_servers(HubBuilder::new(), root.path())
        .top(
            "toolFiltering",
            json!({
                "enabled": true, "mode": "category",
                "serverFilter": {"mode": "allowlist", "servers": ["memory"]},
                "categoryFilter": {"categories": ["filesystem"]},
            }),
        )
        .start()
        .await;
    all_connected(&hub, &["filesystem", "memory", "everything"]).await;
    let mut client = hub.mcp().await;

    // category ["filesystem"]: server-filesystem's tools, not memory's graph tools.
    let listed = client.tool_names().await;
    assert!(
        listed.contains(&"filesystem__read_text_file".to_owned()),
        "{listed:?}"
    );
    assert!(
        listed.contains(&"filesystem__list_directory".to_owned()),
        "{listed:?}"
    );
    assert!(
        !listed.iter().any(|n| n.starts_with("memory__")),
        "{listed:?}"
    );
    let (_, stats) = hub.get("/api/filtering/stats").await;
    let fs_tools: Vec<&Value> = stats["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["server"] == "filesystem")
        .collect();
    let fs_filesystem = fs_tools
        .iter()
        .filter(|t| t["category"] == "filesystem")
        .count();
    assert!(
        fs_filesystem * 10 >= fs_tools.len() * 9,
        "nearly every server-filesystem tool is categorized filesystem: {fs_tools:#?}"
    );
    for t in stats["tools"].as_array().unwrap() {
        assert!(
            t["category"].is_string(),
            "every tool keeps a category: {t}"
        );
        assert_eq!(
            t["exposed"].as_bool().unwrap(),
            t["category"] == "filesystem",
            "{t}"
        );
    }
    assert_eq!(
        stats["exposedTools"].as_u64().unwrap() as usize,
        listed.len()
    );

    // A filtered tool cannot be called, and the error says why.
    let err = client
        .call("memory__read_graph", json!({}))
        .await
        .expect_err("a filtered tool is refused");
    let msg = err.to_string();
    assert!(
        msg.contains("filtered") && msg.contains("toolFiltering"),
        "{msg}"
    );
    let (status, body) = hub.call_rest("memory", "read_graph", json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("TOOL_FILTERED")),
        "{body}"
    );
    assert_eq!(
        body["data"],
        json!({"server": "memory", "tool": "read_graph"}),
        "names the tool as the request did: {body}"
    );
    // An exposed one works, through the real server.
    let dirs = client
        .call_text("filesystem__list_allowed_directories", json!({}))
        .await;
    assert!(
        dirs.contains(&*root.path().file_name().unwrap().to_string_lossy()),
        "{dirs}"
    );

    let health = hub.health().await;
    let total = health["tools"]["total"].as_u64().unwrap();
    let exposed = health["tools"]["exposed"].as_u64().unwrap();
    assert_eq!(exposed as usize, listed.len());
    assert_eq!(
        health["tools"]["summary"],
        format!(
            "{exposed}/{total} ({:.1}% filtered)",
            (total - exposed) as f64 * 100.0 / total as f64
        )
    );
    let metrics = hub.metrics_text().await;
    assert!(
        metrics.contains(&format!("mcphub_tools_exposed {exposed}")),
        "{metrics}"
    );

    assert_eq!(
        listed.iter().cloned().collect::<Names>(),
        tools_where(&hub, |_, c| c == "filesystem").await
    );
    let memory_as_files = tools_where(&hub, |s, c| s == "memory" && c == "filesystem").await;
    assert!(
        memory_as_files.is_empty(),
        "memory's graph tools are not files: {memory_as_files:?}"
    );

    // hybrid: the allowlisted server's tools or the category's.
    let (status, _) = hub
        .post("/api/filtering/mode", json!({"mode": "hybrid"}))
        .await;
    assert_eq!(status, 200);
    client
        .tools_list_changed("clients are told the list changed")
        .await;
    let hybrid = tool_set(&client).await;
    assert_eq!(
        hybrid,
        tools_where(&hub, |s, c| s == "memory" || c == "filesystem").await
    );
    assert!(hybrid.contains("memory__read_graph") && hybrid.contains("filesystem__read_text_file"));

    // server-allowlist: the allowlisted server only.
    hub.post("/api/filtering/mode", json!({"mode": "server-allowlist"}))
        .await;
    client.tools_list_changed("after the change").await;
    assert_eq!(
        tool_set(&client).await,
        tools_where(&hub, |s, _| s == "memory").await
    );
    assert!(
        client
            .call_text("memory__read_graph", json!({}))
            .await
            .contains("entities")
    );

    // Off: everything.
    hub.post("/api/filtering/status", json!({"enabled": false}))
        .await;
    client.tools_list_changed("after the change").await;
    assert_eq!(tool_set(&client).await.len() as u64, total);
    let (status, body) = hub
        .post("/api/filtering/mode", json!({"mode": "smart"}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("prompt-based"),
        "{body}"
    );
}

#[tokio::test]
async fn custom_mappings_match_namespaced_names() {
    let hub = HubBuilder::new()
        .fixture("alpha")
        .fixture("beta")
        .top(
            "toolFiltering",
            json!({"enabled": true, "mode": "category", "categoryFilter": {
                "categories": ["reporting"], "customMappings": {"alpha__*": "reporting", "beta__echo": "reporting"}}}),
        )
        .start()
        .await;
    let client = hub.mcp().await;
    let listed = client.tool_names().await;
    assert!(
        listed.iter().filter(|n| n.starts_with("alpha__")).count() >= 8,
        "{listed:?}"
    );
    assert_eq!(
        listed
            .iter()
            .filter(|n| n.starts_with("beta__"))
            .collect::<Vec<_>>(),
        ["beta__echo"],
        "a pattern names one server's tool; the same tool name on the other server is not it"
    );
}

#[tokio::test]
async fn search_mode_lists_three_tools_and_call_tool_reaches_a_real_server() {
    let root = tempfile::tempdir().unwrap();
    let hub = real_servers(HubBuilder::new(), root.path())
        .top("toolExposure", json!("search"))
        .start()
        .await;
    all_connected(&hub, &["filesystem", "memory", "everything"]).await;
    let client = hub.mcp().await;
    assert_eq!(
        client.tool_names().await,
        ["call_tool", "describe_tool", "search_tools"]
    );
    let found = client
        .call("search_tools", json!({"query": "echo a message back"}))
        .await
        .unwrap();
    let found = found.structured_content.clone().unwrap();
    assert_eq!(found["results"][0]["name"], "everything__echo", "{found:#}");
    assert!(found["results"][0]["description"].as_str().unwrap().len() <= 120);

    let by_category = client
        .call(
            "search_tools",
            json!({"category": "filesystem", "limit": 50}),
        )
        .await
        .unwrap()
        .structured_content
        .unwrap();
    let results = by_category["results"].as_array().unwrap();
    assert!(!results.is_empty());
    assert!(
        results.iter().all(|r| r["category"] == "filesystem"),
        "{by_category:#}"
    );

    let described = client
        .call("describe_tool", json!({"name": "everything__echo"}))
        .await
        .unwrap()
        .structured_content
        .unwrap();
    assert!(
        described["inputSchema"]["properties"]["message"].is_object(),
        "{described}"
    );

    // Switched back to the full list by a reload: connected clients are told.
    let mut client = client;
    let text = std::fs::read_to_string(&hub.config_path).unwrap();
    let mut cfg: Value = serde_json::from_str(&text).unwrap();
    cfg["toolExposure"] = json!("all");
    std::fs::write(&hub.config_path, cfg.to_string()).unwrap();
    let (status, _) = hub.post("/api/restart", json!({})).await;
    assert_eq!(status, 200);
    client.tools_list_changed("told of the new exposure").await;
    assert!(
        client
            .tool_names()
            .await
            .contains(&"everything__echo".to_owned())
    );
    cfg["toolExposure"] = json!("search");
    std::fs::write(&hub.config_path, cfg.to_string()).unwrap();
    hub.post("/api/restart", json!({})).await;
    client.tools_list_changed("after the change").await;
    assert_eq!(client.tool_names().await.len(), 3);

    let echoed = client
        .call_text(
            "call_tool",
            json!({"name": "everything__echo", "arguments": {"message": "through search"}}),
        )
        .await;
    assert!(echoed.contains("through search"), "{echoed}");
    let err = client
        .call("call_tool", json!({"name": "nope__nothing"}))
        .await
        .expect_err("unknown tool");
    assert!(err.to_string().contains("unknown tool"), "{err}");
}

#[tokio::test]
async fn filtering_applies_when_no_server_ever_connects() {
    let filtering = json!({"enabled": true, "mode": "prompt-based",
                           "promptBasedFiltering": {"defaultExposure": "meta-only", "enableMetaTools": true}});
    let none = HubBuilder::new()
        .top("toolFiltering", filtering.clone())
        .start()
        .await;
    let failing = HubBuilder::new()
        .server("gone", json!({"command": "/nonexistent/mcp-server"}))
        .top("toolFiltering", filtering)
        .start()
        .await;
    for hub in [&none, &failing] {
        let health = hub.health().await;
        assert_eq!(health["tools"]["filtering"], true, "{health:#}");
        assert_eq!(hub.mcp().await.tool_names().await, ["hub__analyze_prompt"]);
    }
}

#[tokio::test]
async fn prompt_based_mode_narrows_one_session_and_tells_it_alone() {
    let root = tempfile::tempdir().unwrap();
    let hub = real_servers(HubBuilder::new(), root.path())
        .top(
            "toolFiltering",
            json!({"enabled": true, "mode": "prompt-based",
                   "promptBasedFiltering": {"defaultExposure": "meta-only", "enableMetaTools": true}}),
        )
        .start()
        .await;
    all_connected(&hub, &["filesystem", "memory", "everything"]).await;
    let mut a = hub.mcp().await;
    let mut b = hub.mcp().await;
    assert_eq!(a.tool_names().await, ["hub__analyze_prompt"]);
    assert_eq!(b.tool_names().await, ["hub__analyze_prompt"]);

    let r = a
        .call(
            "hub__analyze_prompt",
            json!({"prompt": "read the config file in my project directory and list the folder"}),
        )
        .await
        .unwrap()
        .structured_content
        .unwrap();
    let categories: Vec<&str> = r["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["category"].as_str().unwrap())
        .collect();
    assert_eq!(categories.first(), Some(&"filesystem"), "{r:#}");
    assert!(
        r["categories"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("file"),
        "{r:#}"
    );
    a.tools_list_changed("this session is told its list changed")
        .await;
    let seen = a.tool_names().await;
    assert!(
        seen.contains(&"filesystem__read_text_file".to_owned()),
        "{seen:?}"
    );
    assert!(seen.contains(&"hub__analyze_prompt".to_owned()));
    assert!(!seen.iter().any(|n| n.starts_with("memory__")), "{seen:?}");
    let listing = a
        .call_text("filesystem__list_directory", json!({"path": root.path()}))
        .await;
    assert!(!listing.contains("filtered"), "{listing}");
    let err = a.call("memory__read_graph", json!({})).await.unwrap_err();
    assert!(err.to_string().contains("hub__analyze_prompt"), "{err}");

    // The other session is untouched, and was not told anything.
    assert_eq!(b.tool_names().await, ["hub__analyze_prompt"]);
    assert!(b.tools_changed.try_recv().is_err());
}

/// Tools the fake LLM must categorize: `n` vague fixture tools.
fn vague(b: HubBuilder, server: &str, n: usize) -> HubBuilder {
    b.server(server, fixture(server, &["--vague-tools", &n.to_string()]))
}

/// A hub over `n` vague tools, with `filtering` as its `toolFiltering` and `fake` as
/// its categorizer, whose circuit stays closed however often the provider fails.
async fn with_patient_llm(fake: &FakeLlm, n: usize, mut filtering: Value) -> RunningHub {
    filtering["llmCategorization"] = fake.llm_config(
        "openai",
        json!({"circuitBreakerThreshold": 1000, "circuitBreakerTimeout": 300}),
    );
    vague(HubBuilder::new(), "vague", n)
        .top("toolFiltering", filtering)
        .env("FAKE_LLM_KEY", "k")
        .start()
        .await
}

async fn llm(hub: &RunningHub) -> Value {
    hub.get("/api/metrics").await.1["llm"].clone()
}

/// The number of tools whose category came from the LLM (answer or cache).
async fn llm_categorized(hub: &RunningHub) -> usize {
    let (_, stats) = hub.get("/api/filtering/stats").await;
    stats["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["source"] == "llm")
        .count()
}

#[tokio::test]
async fn answers_are_cached_so_a_second_start_asks_nothing_and_garbage_is_survived() {
    let fake = FakeLlm::start("good").await;
    let state = tempfile::tempdir().unwrap();
    // A hub with `tools` vague tools, sharing one state directory (and so the cache).
    let start = async |tools: usize, batch: u64| {
        let llm = fake.llm_config("openai", json!({"batchSize": batch}));
        vague(HubBuilder::new(), "vague", tools)
            .top(
                "toolFiltering",
                json!({"enabled": false, "llmCategorization": llm}),
            )
            .env("FAKE_LLM_KEY", "sk-test-not-logged")
            .state_dir(state.path())
            .start()
            .await
    };
    let hub = start(24, 5).await;
    eventually("the LLM categorizes the 24 vague tools", async || {
        (llm_categorized(&hub).await >= 24).then_some(())
    })
    .await;
    // The vague tools, plus any fixture tool the heuristic was unsure of.
    let unsure = llm_categorized(&hub).await as u64;
    let first = llm(&hub).await;
    assert_eq!(first["cache"]["misses"].as_u64(), Some(unsure), "{first:#}");
    assert_eq!(first["cache"]["hits"].as_u64(), Some(0), "{first:#}");
    let sent = fake.stats().await["requests"].as_u64().unwrap();
    assert!(sent >= 5, "24 tools in batches of 5: {sent}");
    let (_, stats) = hub.get("/api/filtering/stats").await;
    assert!(
        stats["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["source"] == "llm")
            .all(|t| t["category"] == "development"),
        "the LLM's answers stand: {stats:#}"
    );
    assert!(
        !std::fs::read_to_string(hub.log_file())
            .unwrap()
            .contains("sk-test-not-logged")
    );
    drop(hub);

    // Same servers, same state: every answer comes from the cache.
    let hub = start(24, 5).await;
    eventually("cached categories are applied", async || {
        (llm_categorized(&hub).await as u64 >= unsure).then_some(())
    })
    .await;
    let second = llm(&hub).await;
    assert_eq!(second["requests"].as_u64(), Some(0), "{second:#}");
    assert_eq!(second["cache"]["hits"].as_u64(), Some(unsure), "{second:#}");
    assert_eq!(second["cache"]["misses"].as_u64(), Some(0), "{second:#}");
    assert_eq!(fake.stats().await["requests"].as_u64().unwrap(), sent);
    drop(hub);

    // Six new tools meet an LLM that answers garbage: the hub stays ready, counts the
    // parse errors, and those tools keep their heuristic category.
    fake.control(json!({"mode": "garbage"})).await;
    let hub = start(30, 3).await;
    let third = eventually("parse errors are counted", async || {
        let l = llm(&hub).await;
        (l["parse_errors"].as_u64() >= Some(2)).then_some(l)
    })
    .await;
    assert_eq!(third["cache"]["hits"].as_u64(), Some(unsure), "{third:#}");
    assert_eq!(hub.health().await["state"], "ready");
    let (_, stats) = hub.get("/api/filtering/stats").await;
    for t in stats["tools"].as_array().unwrap() {
        assert!(t["category"].is_string(), "{t}");
    }
    let log = std::fs::read_to_string(hub.log_file()).unwrap();
    assert!(
        log.contains("\"llm_parse_error\""),
        "parse errors are logged"
    );
}

#[tokio::test]
async fn the_circuit_opens_on_a_failing_provider_and_closes_when_it_recovers() {
    let fake = FakeLlm::start("error500").await;
    let hub = vague(HubBuilder::new(), "vague", 20)
        .top(
            "toolFiltering",
            json!({"llmCategorization": fake.llm_config("openai", json!({
                "batchSize": 4, "maxConcurrent": 3, "circuitBreakerThreshold": 2, "circuitBreakerTimeout": 1500}))}),
        )
        .env("FAKE_LLM_KEY", "k")
        .start()
        .await;
    eventually("the circuit opens", async || {
        (llm(&hub).await["circuit_state"] == "open").then_some(())
    })
    .await;
    let metrics = hub.metrics_text().await;
    assert!(
        metrics.contains("mcphub_llm_circuit_state{provider=\"openai\"} 2"),
        "{metrics}"
    );
    // While open, nothing reaches the provider, and the hub stays ready.
    let (code, out, _) = hub.toolkit(&["check-alerts", "--format", "nagios"]);
    assert_eq!(code, 2, "an open circuit is critical: {out}");
    assert!(out.contains("circuit"), "{out}");
    assert_eq!(hub.health().await["state"], "ready");

    fake.control(json!({"mode": "good"})).await;
    eventually("the circuit closes after a good probe", async || {
        (llm(&hub).await["circuit_state"] == "closed").then_some(())
    })
    .await;
    eventually("the tools get their answers", async || {
        (llm_categorized(&hub).await >= 20).then_some(())
    })
    .await;
    let log = std::fs::read_to_string(hub.log_file()).unwrap();
    assert!(log.contains("\"circuit_opened\"") && log.contains("\"circuit_closed\""));

    // The LLM removed by a reload: its figures go with it (no stale circuit or queue).
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&hub.config_path).unwrap()).unwrap();
    cfg["toolFiltering"] = json!({});
    std::fs::write(&hub.config_path, cfg.to_string()).unwrap();
    assert_eq!(hub.post("/api/restart", json!({})).await.0, 200);
    assert_eq!(llm(&hub).await, Value::Null);
    let metrics = hub.metrics_text().await;
    assert!(!metrics.contains("mcphub_llm_circuit_state{"), "{metrics}");
}

#[tokio::test]
async fn the_queue_never_exceeds_its_bound_nor_the_provider_its_concurrency() {
    let fake = FakeLlm::start("slow").await;
    fake.control(json!({"delay_ms": 150})).await;
    let hub = vague(HubBuilder::new(), "vague", 40)
        .top(
            "toolFiltering",
            json!({"llmCategorization": fake.llm_config("anthropic", json!({
                "batchSize": 2, "maxConcurrent": 2, "maxQueueSize": 6}))}),
        )
        .env("FAKE_LLM_KEY", "k")
        .start()
        .await;
    let mut max_depth = 0;
    let mut samples = 0;
    eventually("the 40 tools are categorized", async || {
        let depth = llm(&hub).await["queue_depth"].as_u64().unwrap_or(0);
        max_depth = max_depth.max(depth);
        samples += 1;
        (llm_categorized(&hub).await >= 40).then_some(())
    })
    .await;
    assert!(
        max_depth > 0,
        "the queue was seen in use ({samples} samples)"
    );
    assert!(max_depth <= 6, "queue depth {max_depth} > its bound 6");
    let stats = fake.stats().await;
    assert!(stats["max_concurrent"].as_u64().unwrap() <= 2, "{stats}");
    assert_eq!(
        stats["by_provider"]["anthropic"].as_u64(),
        stats["requests"].as_u64()
    );
}

#[tokio::test]
async fn gemini_answers_categorize_too() {
    let fake = FakeLlm::start("good").await;
    fake.control(json!({"category": "cloud"})).await;
    let hub = vague(HubBuilder::new(), "vague", 6)
        .top(
            "toolFiltering",
            json!({"llmCategorization": fake.llm_config("gemini", json!({}))}),
        )
        .env("FAKE_LLM_KEY", "k")
        .start()
        .await;
    eventually("gemini's answers are applied", async || {
        (llm_categorized(&hub).await >= 6).then_some(())
    })
    .await;
    let (_, stats) = hub.get("/api/filtering/stats").await;
    let from_llm = llm_categorized(&hub).await as u64;
    assert_eq!(
        stats["categories"]["cloud"].as_u64(),
        Some(from_llm),
        "{stats:#}"
    );
    assert!(fake.stats().await["by_provider"]["gemini"].as_u64() >= Some(1));
}

#[test]
fn a_bad_filtering_block_is_refused_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("servers.json");
    std::fs::write(
        &cfg,
        json!({"mcpServers": {"a": fixture("a", &[])}, "toolFiltering": {"enabled": true, "mode": "clever"}}).to_string(),
    )
    .unwrap();
    let out = serve_to_exit(&cfg, &dir.path().join("state"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&cfg.display().to_string()), "{err}");
    assert!(
        err.contains("toolFiltering.mode") && err.contains("prompt-based"),
        "{err}"
    );
}

#[tokio::test]
async fn every_llm_fault_leaves_the_hub_ready_with_every_tool_categorized() {
    let fake = FakeLlm::start("good").await;
    let closed_port = free_port();
    for mode in [
        "null",
        "garbage",
        "truncated",
        "unknown",
        "mixed",
        "slow",
        "refused",
    ] {
        let mut extra = json!({"batchSize": 4, "timeout": 300});
        if mode == "refused" {
            extra["baseURL"] = json!(format!("http://127.0.0.1:{closed_port}/v1"));
        } else {
            let delay = if mode == "slow" { 3000 } else { 0 };
            fake.control(json!({"mode": mode, "delay_ms": delay})).await;
        }
        let hub = vague(HubBuilder::new(), "vague", 8)
            .top(
                "toolFiltering",
                json!({"llmCategorization": fake.llm_config("openai", extra)}),
            )
            .env("FAKE_LLM_KEY", "k")
            .start()
            .await;
        // Bad answers are given up on (queue drained); an unavailable provider leaves
        // the tools waiting for the next attempt.
        let unavailable = matches!(mode, "slow" | "refused");
        let l = eventually(&format!("the LLM is asked ({mode})"), async || {
            let l = llm(&hub).await;
            let done = if unavailable {
                l["requests"].as_u64() >= Some(1)
            } else {
                l["parse_errors"].as_u64() >= Some(1)
                    && l["queue_depth"] == 0
                    && hub.get("/api/filtering/stats").await.1["queue"]["in_flight"] == 0
            };
            done.then_some(l)
        })
        .await;
        if unavailable {
            assert!(l["success"] == 0 && l["parse_errors"] == 0, "{mode}: {l:#}");
        }
        if mode == "mixed" {
            assert!(
                llm_categorized(&hub).await > 0,
                "half of a mixed answer is used"
            );
        }
        assert_eq!(hub.health().await["state"], "ready", "{mode}");
        let (_, stats) = hub.get("/api/filtering/stats").await;
        for t in stats["tools"].as_array().unwrap() {
            assert!(t["category"].is_string(), "{mode}: {t}");
        }
        let log = std::fs::read_to_string(hub.log_file()).unwrap();
        assert!(!log.contains("panicked"), "{mode}");
    }
}

#[tokio::test]
async fn llm_answers_update_the_exposed_list_and_notify_clients() {
    // The provider fails at first (the tools wait, paused, without opening the
    // circuit); once it answers, the vague tools become `development` and appear.
    let fake = FakeLlm::start("error500").await;
    let hub = with_patient_llm(
        &fake,
        5,
        json!({"enabled": true, "mode": "category", "categoryFilter": {"categories": ["development"]}}),
    )
    .await;
    let mut client = hub.mcp().await;
    let before = client.tool_names().await;
    assert!(
        !before.iter().any(|n| n.starts_with("vague__thing_")),
        "{before:?}"
    );
    fake.control(json!({"mode": "good"})).await;
    client.tools_list_changed("the client is told").await;
    let after = eventually("the refined tools are listed", async || {
        let names = client.tool_names().await;
        (names
            .iter()
            .filter(|n| n.starts_with("vague__thing_"))
            .count()
            == 5)
            .then_some(names)
    })
    .await;
    assert!(after.len() > before.len());
}

/// Each tool's category is in its `_meta` on `tools/list`; when the LLM's answer changes a category and nothing else, clients are told the
/// list changed and see the new category.
#[tokio::test]
async fn a_changed_category_alone_is_listed_and_told() {
    let fake = FakeLlm::start("error500").await;
    let hub = with_patient_llm(
        &fake,
        2,
        json!({"enabled": true, "mode": "category",
               // Every category: what the filter lets through cannot change.
               "categoryFilter": {"categories": ["filesystem", "web", "search", "database", "version-control", "docker", "cloud", "development", "communication", "other"]}}),
    )
    .await;
    let mut client = hub.mcp().await;
    let category = async |client: &McpClient| {
        let tools = client.service.peer().list_all_tools().await.unwrap();
        let tool = tools
            .iter()
            .find(|t| t.name == "vague__thing_0")
            .unwrap_or_else(|| panic!("vague__thing_0 listed: {tools:?}"));
        tool.meta
            .as_ref()
            .and_then(|m| m.get("mcphub/category"))
            .cloned()
    };
    assert_eq!(category(&client).await, Some(json!("other")));
    fake.control(json!({"mode": "good"})).await;
    client
        .tools_list_changed("a category changed, the exposed names did not")
        .await;
    eventually("the LLM's category is listed", async || {
        (category(&client).await == Some(json!("development"))).then_some(())
    })
    .await;
}
