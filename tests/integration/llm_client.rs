//! The LLM client against the fake provider (`mcphub-fake-llm`), for each provider's
//! API: answers, unusable answers, retries, the circuit breaker, connection failures
//! and timeouts. Every wait is on a condition with a deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcphub::api::CircuitState;
use mcphub::config::filtering::{BUILTIN_CATEGORIES, LlmSettings, Provider};
use mcphub::hub::filtering::category::ToolBrief;
use mcphub::hub::filtering::llm::provider::LlmItem;
use mcphub::hub::filtering::llm::{LlmClient, LlmError};
use mcphub::telemetry::metrics::{LlmCallLabels, Metrics};
use serde_json::{Value, json};

use crate::support::{DEADLINE, FakeLlm};

const KEY: &str = "sk-test-not-for-logs-0123456789";

/// Small durations: nothing here waits for long, and a high threshold keeps the
/// circuit closed unless a test lowers it.
fn settings(provider: Provider, base_url: String) -> LlmSettings {
    LlmSettings {
        provider,
        api_key: Some(KEY.into()),
        model: "fake-model".into(),
        base_url: Some(base_url),
        request_timeout: Duration::from_secs(10),
        retry_count: 2,
        backoff_base: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        circuit_threshold: 100,
        circuit_timeout: Duration::from_millis(200),
    }
}

fn client(settings: LlmSettings) -> (Arc<LlmClient>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new(None));
    let client = LlmClient::new(settings, metrics.clone()).expect("valid settings");
    (Arc::new(client), metrics)
}

fn items(n: usize) -> Vec<LlmItem> {
    (0..n)
        .map(|i| LlmItem {
            id: format!("srv{i}__tool_{i}"),
            tool: ToolBrief {
                server: format!("srv{i}"),
                name: format!("tool_{i}"),
                description: format!("Does thing number {i} with \"quotes\"\nand lines"),
                input_schema: json!({"type": "object", "properties": {"path": {}, "n": {}}}),
            },
        })
        .collect()
}

fn ids(items: &[LlmItem]) -> Vec<String> {
    items.iter().map(|i| i.id.clone()).collect()
}

fn cats() -> Vec<String> {
    BUILTIN_CATEGORIES.iter().map(|c| c.to_string()).collect()
}

fn requests_with(metrics: &Metrics, provider: Provider, outcome: &str) -> u64 {
    metrics
        .llm_requests
        .get_or_create(&LlmCallLabels {
            provider: provider.as_str().into(),
            outcome: outcome.into(),
        })
        .get()
}

async fn wait_state(client: &LlmClient, want: CircuitState) {
    let start = Instant::now();
    loop {
        let state = client.circuit_state();
        if state == want {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "circuit never became {want:?} (still {state:?})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_stats(fake: &FakeLlm, what: &str, pred: impl Fn(&Value) -> bool) {
    let start = Instant::now();
    loop {
        let stats = fake.stats().await;
        if pred(&stats) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for {what}; stats: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn assert_no_key(e: &LlmError) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(KEY), "the API key leaked: {shown}");
}

// ----- good answers -----

async fn good_answer(provider: Provider) {
    let fake = FakeLlm::start("good").await;
    let batch = items(4);
    fake.control(json!({"answers": {batch[1].id.clone(): "web"}}))
        .await;
    let (client, metrics) = client(settings(provider, fake.base_url(provider.as_str())));
    assert_eq!(client.provider(), provider);
    let answer = client.categorize(&batch, &cats()).await.unwrap();
    assert!(answer.unusable.is_empty(), "{answer:?}");
    assert_eq!(answer.guesses.len(), 4, "{answer:?}");
    for (i, item) in batch.iter().enumerate() {
        let want = if i == 1 { "web" } else { "development" };
        assert_eq!(answer.guesses[&item.id].category, want, "{answer:?}");
    }
    let stats = fake.stats().await;
    assert_eq!(stats["requests"], 1, "{stats}");
    assert_eq!(stats["tools"], 4, "the fake read every id: {stats}");
    assert_eq!(
        stats["with_key"], 1,
        "the key went in the right header: {stats}"
    );
    assert_eq!(stats["by_provider"][provider.as_str()], 1, "{stats}");
    let m = llm_json(&metrics);
    assert_eq!(m["provider"], provider.as_str(), "{m}");
    assert_eq!(m["model"], "fake-model", "{m}");
    assert_eq!(m["requests"], 1, "{m}");
    assert_eq!(m["success"], 1, "{m}");
    assert_eq!(m["parse_errors"], 0, "{m}");
    assert_eq!(m["circuit_state"], "closed", "{m}");
    // Nothing to ask, nothing sent.
    let empty = client.categorize(&[], &cats()).await.unwrap();
    assert!(empty.guesses.is_empty() && empty.unusable.is_empty());
    assert_eq!(fake.requests().await, 1);
    fake.stop().await;
}

#[tokio::test]
async fn good_answer_openai() {
    good_answer(Provider::OpenAi).await;
}

#[tokio::test]
async fn good_answer_anthropic() {
    good_answer(Provider::Anthropic).await;
}

#[tokio::test]
async fn good_answer_gemini() {
    good_answer(Provider::Gemini).await;
}

#[tokio::test]
async fn openai_answers_on_the_unversioned_path_too() {
    let fake = FakeLlm::start("good").await;
    let (client, _) = client(settings(Provider::OpenAi, fake.url("")));
    let answer = client.categorize(&items(2), &cats()).await.unwrap();
    assert_eq!(answer.guesses.len(), 2);
    fake.stop().await;
}

// ----- unusable answers -----

async fn bad_answers(provider: Provider) {
    let fake = FakeLlm::start("good").await;
    let mut s = settings(provider, fake.base_url(provider.as_str()));
    // Unusable answers do not count against the provider: a low threshold stays closed.
    s.circuit_threshold = 2;
    let (client, metrics) = client(s);
    let batch = items(4);
    let mut parse_errors = 0;
    let mut requests = 0;
    for mode in ["null", "garbage", "truncated"] {
        fake.control(json!({"mode": mode})).await;
        let r = client.categorize(&batch, &cats()).await;
        let Err(e @ LlmError::Unparseable(_)) = &r else {
            panic!("{provider} {mode}: expected Unparseable, got {r:?}");
        };
        assert_no_key(e);
        parse_errors += 1;
        requests += 1;
        let m = llm_json(&metrics);
        assert_eq!(m["parse_errors"], parse_errors, "{mode}: {m}");
        assert_eq!(fake.requests().await, requests, "{mode} is not retried");
    }
    assert_eq!(requests_with(&metrics, provider, "parse_error"), 3);

    fake.control(json!({"mode": "unknown"})).await;
    let answer = client.categorize(&batch, &cats()).await.unwrap();
    assert!(answer.guesses.is_empty(), "{answer:?}");
    assert_eq!(answer.unusable, ids(&batch));
    parse_errors += 4;

    fake.control(json!({"mode": "mixed"})).await;
    let answer = client.categorize(&batch, &cats()).await.unwrap();
    assert_eq!(
        answer.guesses.keys().cloned().collect::<Vec<_>>(),
        [batch[0].id.clone(), batch[2].id.clone()],
        "{answer:?}"
    );
    assert_eq!(answer.unusable, [batch[1].id.clone(), batch[3].id.clone()]);
    parse_errors += 2;

    let m = llm_json(&metrics);
    assert_eq!(m["parse_errors"], parse_errors, "{m}");
    assert_eq!(m["requests"], 5, "{m}");
    assert_eq!(m["success"], 2, "{m}");
    assert_eq!(m["circuit_state"], "closed", "{m}");
    assert_eq!(client.circuit_state(), CircuitState::Closed);
    assert_eq!(fake.requests().await, 5);

    // And the provider still answers well afterwards.
    fake.control(json!({"mode": "good"})).await;
    let answer = client.categorize(&batch, &cats()).await.unwrap();
    assert_eq!(answer.guesses.len(), 4);
    fake.stop().await;
}

#[tokio::test]
async fn bad_answers_openai() {
    bad_answers(Provider::OpenAi).await;
}

#[tokio::test]
async fn bad_answers_anthropic() {
    bad_answers(Provider::Anthropic).await;
}

#[tokio::test]
async fn bad_answers_gemini() {
    bad_answers(Provider::Gemini).await;
}

// ----- server errors, retries and the circuit breaker -----

async fn server_errors_open_the_circuit(provider: Provider) {
    let fake = FakeLlm::start("error500").await;
    let mut s = settings(provider, fake.base_url(provider.as_str()));
    s.retry_count = 2;
    s.circuit_threshold = 5;
    let (client, metrics) = client(s);
    let batch = items(3);

    // 1 attempt + 2 retries, all failing.
    let r = client.categorize(&batch, &cats()).await;
    let Err(e @ LlmError::Http { status: 500, .. }) = &r else {
        panic!("{provider}: expected HTTP 500, got {r:?}");
    };
    assert_no_key(e);
    assert_eq!(fake.requests().await, 3);
    assert_eq!(client.circuit_state(), CircuitState::Closed);

    // Failures 4 and 5: the circuit opens and the retries stop there. The checks of
    // the open circuit come at once, well inside its cool-down.
    let r = client.categorize(&batch, &cats()).await;
    assert!(
        matches!(r, Err(LlmError::Http { status: 500, .. })),
        "{r:?}"
    );
    assert_eq!(client.circuit_state(), CircuitState::Open);
    let refused = client.categorize(&batch, &cats()).await;
    assert!(matches!(refused, Err(LlmError::CircuitOpen)), "{refused:?}");
    assert_eq!(llm_json(&metrics)["circuit_state"], "open");
    assert_eq!(fake.requests().await, 5, "nothing sent once open");
    assert_eq!(requests_with(&metrics, provider, "error"), 5);
    assert_eq!(requests_with(&metrics, provider, "rejected"), 1);

    // After the cool-down, one probe; it fails, so the circuit opens again.
    wait_state(&client, CircuitState::HalfOpen).await;
    assert_eq!(llm_json(&metrics)["circuit_state"], "half-open");
    let r = client.categorize(&batch, &cats()).await;
    assert!(
        matches!(r, Err(LlmError::Http { status: 500, .. })),
        "{r:?}"
    );
    assert_eq!(client.circuit_state(), CircuitState::Open);
    assert_eq!(fake.requests().await, 6, "the probe is not retried");

    // The provider recovers: the next probe closes the circuit.
    fake.control(json!({"mode": "good"})).await;
    wait_state(&client, CircuitState::HalfOpen).await;
    let answer = client.categorize(&batch, &cats()).await.unwrap();
    assert_eq!(answer.guesses.len(), 3);
    assert_eq!(client.circuit_state(), CircuitState::Closed);
    assert_eq!(llm_json(&metrics)["circuit_state"], "closed");
    assert_eq!(fake.requests().await, 7);
    let m = llm_json(&metrics);
    assert_eq!(
        m["requests"], 7,
        "rejected requests are not in the total: {m}"
    );
    assert_eq!(m["success"], 1, "{m}");
    fake.stop().await;
}

#[tokio::test]
async fn server_errors_open_the_circuit_openai() {
    server_errors_open_the_circuit(Provider::OpenAi).await;
}

#[tokio::test]
async fn server_errors_open_the_circuit_anthropic() {
    server_errors_open_the_circuit(Provider::Anthropic).await;
}

#[tokio::test]
async fn server_errors_open_the_circuit_gemini() {
    server_errors_open_the_circuit(Provider::Gemini).await;
}

#[tokio::test]
async fn client_errors_are_not_retried_and_the_key_stays_secret() {
    let fake = FakeLlm::start("error401").await;
    for provider in Provider::ALL {
        let (client, _) = client(settings(provider, fake.base_url(provider.as_str())));
        let before = fake.requests().await;
        let r = client.categorize(&items(2), &cats()).await;
        let Err(e @ LlmError::Http { status: 401, body }) = &r else {
            panic!("{provider}: expected HTTP 401, got {r:?}");
        };
        // The fake echoes the key it got, as OpenAI does in its 401s.
        assert!(body.contains("<redacted>"), "{body}");
        assert_no_key(e);
        assert!(e.to_string().contains("API key"), "{e}");
        assert_eq!(
            fake.requests().await,
            before + 1,
            "{provider}: a 401 is final"
        );
    }
    // 429 is worth retrying.
    fake.control(json!({"mode": "error429"})).await;
    let (client, _) = client(settings(
        Provider::OpenAi,
        fake.base_url(Provider::OpenAi.as_str()),
    ));
    let before = fake.requests().await;
    let r = client.categorize(&items(2), &cats()).await;
    assert!(
        matches!(r, Err(LlmError::Http { status: 429, .. })),
        "{r:?}"
    );
    assert_eq!(fake.requests().await, before + 3);
    fake.stop().await;
}

#[tokio::test]
async fn concurrent_callers_are_refused_while_the_probe_is_out() {
    let fake = FakeLlm::start("error500").await;
    let mut s = settings(Provider::OpenAi, fake.base_url(Provider::OpenAi.as_str()));
    s.retry_count = 0;
    s.circuit_threshold = 1;
    let (client, _) = client(s);
    let batch = items(2);
    let r = client.categorize(&batch, &cats()).await;
    assert!(
        matches!(r, Err(LlmError::Http { status: 500, .. })),
        "{r:?}"
    );
    assert_eq!(client.circuit_state(), CircuitState::Open);

    // A probe that hangs at the provider.
    fake.control(json!({"mode": "slow", "delay_ms": 60_000}))
        .await;
    wait_state(&client, CircuitState::HalfOpen).await;
    let probe = {
        let (client, batch) = (client.clone(), batch.clone());
        tokio::spawn(async move { client.categorize(&batch, &cats()).await })
    };
    wait_stats(&fake, "the probe to reach the fake", |s| {
        s["in_flight"] == 1
    })
    .await;
    let r = client.categorize(&batch, &cats()).await;
    assert!(matches!(r, Err(LlmError::CircuitOpen)), "{r:?}");
    assert_eq!(client.circuit_state(), CircuitState::HalfOpen);

    // The probe's caller gives up: the probe is given back, not lost.
    probe.abort();
    assert!(probe.await.unwrap_err().is_cancelled());
    assert_eq!(client.circuit_state(), CircuitState::HalfOpen);

    // Probes one at a time: two callers together, one gets through and closes it.
    fake.control(json!({"mode": "slow", "delay_ms": 300})).await;
    let categories = cats();
    let (a, b) = tokio::join!(
        client.categorize(&batch, &categories),
        client.categorize(&batch, &categories)
    );
    let (ok, refused) = if a.is_ok() { (a, b) } else { (b, a) };
    assert_eq!(ok.unwrap().guesses.len(), 2);
    assert!(matches!(refused, Err(LlmError::CircuitOpen)), "{refused:?}");
    assert_eq!(client.circuit_state(), CircuitState::Closed);
    let stats = fake.stats().await;
    assert_eq!(stats["requests"], 3, "{stats}");
    fake.stop().await;
}

// ----- connection failures and timeouts -----

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    // A port that was free a moment ago and that nobody listens on.
    let port = crate::support::free_port();
    for provider in Provider::ALL {
        let mut s = settings(provider, format!("http://127.0.0.1:{port}"));
        s.retry_count = 1;
        let (client, metrics) = client(s);
        let r = client.categorize(&items(2), &cats()).await;
        let Err(e @ LlmError::Connect(msg)) = &r else {
            panic!("{provider}: expected Connect, got {r:?}");
        };
        assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
        assert!(msg.contains(provider.as_str()), "{msg}");
        assert_no_key(e);
        assert_eq!(
            requests_with(&metrics, provider, "error"),
            2,
            "retried once"
        );
        let m = llm_json(&metrics);
        assert_eq!(m["success"], 0, "{m}");
        assert_eq!(m["circuit_state"], "closed", "{m}");
    }
}

#[tokio::test]
async fn slow_answers_time_out() {
    let fake = FakeLlm::start("slow").await;
    fake.control(json!({"delay_ms": 5_000})).await;
    for provider in Provider::ALL {
        let mut s = settings(provider, fake.base_url(provider.as_str()));
        s.request_timeout = Duration::from_millis(300);
        s.retry_count = 1;
        let (client, metrics) = client(s);
        let before = fake.requests().await;
        let r = client.categorize(&items(2), &cats()).await;
        assert!(
            matches!(r, Err(LlmError::Timeout(t)) if t == Duration::from_millis(300)),
            "{provider}: {r:?}"
        );
        assert_eq!(
            requests_with(&metrics, provider, "timeout"),
            2,
            "retried once"
        );
        // Both attempts reached the fake.
        wait_stats(&fake, "both attempts", |s| {
            s["requests"].as_u64().unwrap() >= before + 2
        })
        .await;
    }
    fake.stop().await;
}

// ----- logs -----

#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn events(&self) -> Vec<Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_carry_the_events_and_never_the_key() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || sink.clone())
        .finish();
    // This test's thread only: the runtime is current-thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    // With a single registered dispatcher, tracing computes the interest of a callsite
    // first hit on another test's thread from that thread's (no-op) default, and caches
    // "never" for everyone. A second live dispatcher makes it ask all of them.
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());

    let fake = FakeLlm::start("error401").await;
    let mut s = settings(Provider::OpenAi, fake.base_url(Provider::OpenAi.as_str()));
    s.retry_count = 0;
    s.circuit_threshold = 1;
    let (client, _) = client(s);
    let batch = items(2);
    // A 401 whose body echoes the key; it opens the circuit (threshold 1).
    let r = client.categorize(&batch, &cats()).await;
    assert!(
        matches!(r, Err(LlmError::Http { status: 401, .. })),
        "{r:?}"
    );
    assert!(matches!(
        client.categorize(&batch, &cats()).await,
        Err(LlmError::CircuitOpen)
    ));
    // A garbage answer as the probe: a parse error, the circuit stays half-open.
    fake.control(json!({"mode": "garbage"})).await;
    wait_state(&client, CircuitState::HalfOpen).await;
    let r = client.categorize(&batch, &cats()).await;
    assert!(matches!(r, Err(LlmError::Unparseable(_))), "{r:?}");
    assert_eq!(client.circuit_state(), CircuitState::HalfOpen);
    // A good probe closes it.
    fake.control(json!({"mode": "good"})).await;
    client.categorize(&batch, &cats()).await.unwrap();
    assert_eq!(client.circuit_state(), CircuitState::Closed);
    fake.stop().await;

    let text = captured.text();
    assert!(!text.contains(KEY), "the API key is in the log:\n{text}");
    let events = captured.events();
    let find = |name: &str| {
        events
            .iter()
            .filter(|e| e["event"] == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let requests = find("llm_request");
    let outcomes: Vec<&str> = requests
        .iter()
        .map(|e| e["outcome"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        outcomes,
        ["error", "rejected", "parse_error", "success"],
        "{text}"
    );
    for r in &requests {
        assert_eq!(r["level"], "DEBUG", "{r}");
        assert_eq!(r["provider"], "openai", "{r}");
        assert_eq!(r["tools"], 2, "{r}");
        assert!(r["duration_ms"].is_u64(), "{r}");
    }
    let parse = find("llm_parse_error");
    assert_eq!(parse.len(), 1, "{text}");
    assert_eq!(parse[0]["level"], "WARN");
    let excerpt = parse[0]["excerpt"].as_str().unwrap();
    assert!(
        excerpt.contains("I'm sorry") && excerpt.chars().count() <= 201,
        "{excerpt}"
    );
    let opened = find("circuit_opened");
    assert_eq!(opened.len(), 1, "{text}");
    assert_eq!(opened[0]["level"], "WARN");
    let closed = find("circuit_closed");
    assert_eq!(closed.len(), 1, "{text}");
    assert_eq!(closed[0]["level"], "INFO");
}

/// The `llm` object of `/api/metrics`, as the hub serializes it.
fn llm_json(metrics: &Metrics) -> Value {
    serde_json::to_value(metrics.llm_report()).unwrap()
}
