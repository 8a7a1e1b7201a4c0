//! LLM categorization: one request asks for the categories of several tools; the
//! answer is validated tool by tool; failures are retried with backoff and trip a
//! circuit breaker.
//!
//! - [`LlmClient::categorize`] sends one request (the caller batches) to an
//!   OpenAI-compatible, Anthropic or Gemini endpoint and retries timeouts, connection
//!   failures, HTTP 429 and 5xx with exponential backoff.
//! - [`parse_answer`] is the pure, panic-free validation of a model's text answer:
//!   tolerant of the shapes models produce, strict about ids and categories.
//! - A circuit breaker (closed → open → half-open → closed) stops hammering a
//!   provider that keeps failing; every change is published in the metrics and logged.
//!
//! The API key goes only into request headers (marked sensitive): never into logs,
//! errors or `Debug` output.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod answer;
mod breaker;
pub mod provider;

use crate::api::CircuitState;
use crate::api::events;
use crate::config::filtering::{LlmSettings, Provider};
use crate::telemetry::metrics::{LlmOutcome, Metrics};
use answer::{EXCERPT_CHARS, LlmAnswer, excerpt, parse_answer};
use breaker::{Admit, Breaker};
use provider::{LlmItem, answer_text, path_escape, prompt};

/// Larger response bodies are refused (an answer for a batch is a few KiB).
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Excerpts of HTTP error bodies in errors.
const ERROR_BODY_CHARS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error(
        "the LLM circuit breaker is open after repeated failures: requests are refused \
         until its cool-down ends (the heuristic categories stand meanwhile)"
    )]
    CircuitOpen,
    #[error(
        "the LLM provider did not answer within {0:?}: check that it is reachable, or \
         raise the request timeout"
    )]
    Timeout(Duration),
    #[error("the LLM provider answered HTTP {status}{}: {body}", http_hint(*status))]
    Http { status: u16, body: String },
    #[error("cannot reach the LLM provider: {0}")]
    Connect(String),
    #[error("the LLM's answer could not be used: {0}")]
    Unparseable(String),
}

fn http_hint(status: u16) -> &'static str {
    match status {
        400 => " (the request was refused: check the model name)",
        401 | 403 => " (check the API key)",
        404 => " (check the model name and the base URL)",
        429 => " (rate limited: lower the batch size or the request rate)",
        500..=599 => " (an error on the provider's side)",
        _ => "",
    }
}

impl LlmError {
    /// Worth another attempt: the provider may answer next time.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Timeout(_) | LlmError::Connect(_) => true,
            LlmError::Http { status, .. } => *status == 429 || (500..=599).contains(status),
            LlmError::CircuitOpen | LlmError::Unparseable(_) => false,
        }
    }
}

// ----- the client -----

/// A categorization client for one provider; share it (`Arc`) between callers so that
/// they share its circuit breaker.
pub struct LlmClient {
    settings: LlmSettings,
    base_url: String,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    breaker: Mutex<Breaker>,
}

impl fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The request of one `categorize` call, sent as is by every attempt.
struct Prepared {
    url: String,
    body: Value,
}

impl LlmClient {
    pub fn new(settings: LlmSettings, metrics: Arc<Metrics>) -> Result<LlmClient, String> {
        let provider = settings.provider;
        if settings.model.trim().is_empty() {
            return Err(format!("the {provider} LLM needs a model name"));
        }
        let base_url = settings.effective_base_url();
        match reqwest::Url::parse(&base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(_) => {
                return Err(format!(
                    "the {provider} base URL `{base_url}` must be an http:// or https:// URL"
                ));
            }
            Err(e) => {
                return Err(format!(
                    "the {provider} base URL `{base_url}` is invalid: {e}"
                ));
            }
        }
        if settings.request_timeout.is_zero() {
            return Err("the LLM request timeout must be more than 0".into());
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = settings.api_key.as_deref().filter(|k| !k.is_empty()) {
            let bad = || {
                format!(
                    "the {provider} API key contains characters that cannot be sent in an \
                     HTTP header (a stray newline?)"
                )
            };
            let (name, value) = match provider {
                Provider::OpenAi => ("authorization", format!("Bearer {key}")),
                Provider::Anthropic => ("x-api-key", key.to_owned()),
                Provider::Gemini => ("x-goog-api-key", key.to_owned()),
            };
            let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| bad())?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if provider == Provider::Anthropic {
            headers.insert(
                "anthropic-version",
                reqwest::header::HeaderValue::from_static("2023-06-01"),
            );
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("mcphub/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| format!("cannot build the {provider} HTTP client: {e}"))?;
        metrics.llm_configured(provider.as_str(), &settings.model);
        let breaker = Breaker::new(settings.circuit_threshold, settings.circuit_timeout);
        Ok(LlmClient {
            settings,
            base_url,
            http,
            metrics,
            breaker: Mutex::new(breaker),
        })
    }

    pub fn provider(&self) -> Provider {
        self.settings.provider
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// The breaker's state now (an open circuit whose cool-down has passed is
    /// half-open).
    pub fn circuit_state(&self) -> CircuitState {
        self.with_breaker(|b, now| b.state(now))
    }

    /// One categorization request for `items` (the caller batches), retried per
    /// settings. An empty `items` is answered at once, without a request.
    pub async fn categorize(
        &self,
        items: &[LlmItem],
        categories: &[String],
    ) -> Result<LlmAnswer, LlmError> {
        if items.is_empty() {
            return Ok(LlmAnswer::default());
        }
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        let prepared = self.prepare(items, categories);
        let provider = self.provider().as_str();
        let mut retry = 0u32;
        let mut last: Option<LlmError> = None;
        loop {
            let Some(admit) = self.with_breaker(|b, now| b.admit(now)) else {
                if let Some(e) = last {
                    // The circuit opened (or another caller holds the probe) while
                    // this call waited to retry: its last error stands.
                    return Err(e);
                }
                self.metrics
                    .record_llm_request(LlmOutcome::Rejected, Duration::ZERO);
                tracing::debug!(
                    event = events::LLM_REQUEST,
                    provider,
                    outcome = LlmOutcome::Rejected.as_str(),
                    duration_ms = 0u64,
                    tools = items.len(),
                    "LLM request refused: the circuit is open"
                );
                return Err(LlmError::CircuitOpen);
            };
            let mut attempt = AttemptGuard {
                client: self,
                admit,
                settled: false,
            };
            let start = Instant::now();
            let sent = self.send_once(&prepared).await;
            let elapsed = start.elapsed();
            let duration_ms = elapsed.as_millis() as u64;
            let text = match sent {
                Ok(text) => text,
                Err(LlmError::Unparseable(why)) => {
                    let e = self.wholly_unusable(why, "", elapsed, items.len());
                    attempt.settle(Verdict::Answered);
                    return Err(e);
                }
                Err(e) => {
                    let outcome = match e {
                        LlmError::Timeout(_) => LlmOutcome::Timeout,
                        _ => LlmOutcome::Error,
                    };
                    self.metrics.record_llm_request(outcome, elapsed);
                    tracing::debug!(
                        event = events::LLM_REQUEST,
                        provider,
                        outcome = outcome.as_str(),
                        duration_ms,
                        tools = items.len(),
                        attempt = retry + 1,
                        error = %e,
                        "LLM request failed"
                    );
                    let opened = attempt.settle(Verdict::Failed);
                    if !e.is_retryable() || retry >= self.settings.retry_count || opened {
                        return Err(e);
                    }
                    tokio::time::sleep(backoff_delay(
                        self.settings.backoff_base,
                        self.settings.max_backoff,
                        retry,
                        rand::random_range(0.0..=1.0),
                    ))
                    .await;
                    retry += 1;
                    last = Some(e);
                    continue;
                }
            };
            match parse_answer(&text, &ids, categories) {
                Ok(answer) => {
                    self.metrics
                        .record_llm_request(LlmOutcome::Success, elapsed);
                    tracing::debug!(
                        event = events::LLM_REQUEST,
                        provider,
                        outcome = LlmOutcome::Success.as_str(),
                        duration_ms,
                        tools = items.len(),
                        categorized = answer.guesses.len(),
                        unusable = answer.unusable.len(),
                        "LLM request answered"
                    );
                    if !answer.unusable.is_empty() {
                        self.metrics
                            .record_llm_parse_errors(answer.unusable.len() as u64);
                        tracing::warn!(
                            event = events::LLM_PARSE_ERROR,
                            provider,
                            unusable = ?answer.unusable.iter().take(20).collect::<Vec<_>>(),
                            excerpt = %self.excerpt(&text, EXCERPT_CHARS),
                            "the LLM gave no usable category for {} of {} tools",
                            answer.unusable.len(),
                            items.len()
                        );
                    }
                    attempt.settle(Verdict::Succeeded);
                    return Ok(answer);
                }
                Err(why) => {
                    let e = self.wholly_unusable(why, &text, elapsed, items.len());
                    attempt.settle(Verdict::Answered);
                    return Err(e);
                }
            }
        }
    }

    /// Accounts for an answer that came but could not be used at all.
    fn wholly_unusable(
        &self,
        why: String,
        text: &str,
        elapsed: Duration,
        tools: usize,
    ) -> LlmError {
        let provider = self.provider().as_str();
        self.metrics
            .record_llm_request(LlmOutcome::ParseError, elapsed);
        self.metrics.record_llm_parse_errors(1);
        tracing::debug!(
            event = events::LLM_REQUEST,
            provider,
            outcome = LlmOutcome::ParseError.as_str(),
            duration_ms = elapsed.as_millis() as u64,
            tools,
            "LLM request answered unusably"
        );
        let excerpt = self.excerpt(text, EXCERPT_CHARS);
        tracing::warn!(
            event = events::LLM_PARSE_ERROR,
            provider,
            excerpt = %excerpt,
            "the {provider} answer could not be used: {why}"
        );
        LlmError::Unparseable(format!("{provider}: {why}"))
    }

    fn excerpt(&self, text: &str, chars: usize) -> String {
        self.redact(&excerpt(text, chars))
    }

    /// `text` without the API key, should a provider echo it.
    fn redact(&self, text: &str) -> String {
        match self.settings.api_key.as_deref() {
            Some(key) if key.len() >= 4 && text.contains(key) => text.replace(key, "<redacted>"),
            _ => text.to_owned(),
        }
    }

    fn with_breaker<R>(&self, f: impl FnOnce(&mut Breaker, Instant) -> R) -> R {
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        let r = f(&mut b, Instant::now());
        // Published under the lock, so that the gauge ends on the latest state.
        for change in b.take_changes() {
            self.metrics.set_llm_circuit(change);
            let provider = self.provider().as_str();
            match change {
                CircuitState::Open => tracing::warn!(
                    event = events::CIRCUIT_OPENED,
                    provider,
                    failures = b.failures,
                    cooldown_ms = self.settings.circuit_timeout.as_millis() as u64,
                    "the {provider} LLM keeps failing: circuit opened, requests refused for {:?}",
                    self.settings.circuit_timeout
                ),
                CircuitState::Closed => tracing::info!(
                    event = events::CIRCUIT_CLOSED,
                    provider,
                    "the {provider} LLM answers again: circuit closed"
                ),
                CircuitState::HalfOpen => tracing::debug!(
                    provider,
                    "LLM circuit half-open: the next request is a probe"
                ),
            }
        }
        r
    }

    fn prepare(&self, items: &[LlmItem], categories: &[String]) -> Prepared {
        let (system, user) = prompt(items, categories);
        let model = self.settings.model.trim();
        let base = &self.base_url;
        match self.provider() {
            Provider::OpenAi => Prepared {
                url: format!("{base}/chat/completions"),
                body: json!({
                    "model": model,
                    "temperature": 0,
                    "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                    "response_format": {"type": "json_object"},
                }),
            },
            Provider::Anthropic => Prepared {
                url: if base.ends_with("/v1") {
                    format!("{base}/messages")
                } else {
                    format!("{base}/v1/messages")
                },
                body: json!({
                    "model": model,
                    "max_tokens": (512 + 64 * items.len()).min(8192),
                    "temperature": 0,
                    "system": system,
                    "messages": [{"role": "user", "content": user}],
                }),
            },
            Provider::Gemini => {
                let model = path_escape(model.strip_prefix("models/").unwrap_or(model));
                let url = if base.ends_with("/v1beta") || base.ends_with("/v1") {
                    format!("{base}/models/{model}:generateContent")
                } else {
                    format!("{base}/v1beta/models/{model}:generateContent")
                };
                Prepared {
                    url,
                    body: json!({
                        "systemInstruction": {"parts": [{"text": system}]},
                        "contents": [{"role": "user", "parts": [{"text": user}]}],
                        "generationConfig": {
                            "temperature": 0,
                            "responseMimeType": "application/json",
                        },
                    }),
                }
            }
        }
    }

    /// One attempt: the answer's text, or why there is none.
    async fn send_once(&self, req: &Prepared) -> Result<String, LlmError> {
        let attempt = async {
            let resp = self
                .http
                .post(&req.url)
                .json(&req.body)
                .send()
                .await
                .map_err(|e| self.network_error(&req.url, &e))?;
            let status = resp.status().as_u16();
            let body = read_capped(resp, MAX_BODY_BYTES)
                .await
                .map_err(|e| self.network_error(&req.url, &e))?;
            let Some(body) = body else {
                return Err(LlmError::Unparseable(format!(
                    "the response from {} is larger than {} MiB",
                    req.url,
                    MAX_BODY_BYTES >> 20
                )));
            };
            if status >= 400 {
                let text = String::from_utf8_lossy(&body);
                return Err(LlmError::Http {
                    status,
                    body: self.excerpt(text.trim(), ERROR_BODY_CHARS),
                });
            }
            let v: Value = serde_json::from_slice(&body).map_err(|e| {
                LlmError::Unparseable(format!(
                    "the response from {} is not JSON ({e}): {}",
                    req.url,
                    self.excerpt(&String::from_utf8_lossy(&body), EXCERPT_CHARS)
                ))
            })?;
            answer_text(self.provider(), &v).map_err(LlmError::Unparseable)
        };
        match tokio::time::timeout(self.settings.request_timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(LlmError::Timeout(self.settings.request_timeout)),
        }
    }

    fn network_error(&self, url: &str, e: &reqwest::Error) -> LlmError {
        if e.is_timeout() {
            return LlmError::Timeout(self.settings.request_timeout);
        }
        // reqwest's own message is generic ("error sending request"); the causes
        // below it say what happened ("Connection refused", "dns error", …).
        let causes = crate::telemetry::error_causes(e);
        let cause = causes.last().cloned().unwrap_or_else(|| e.to_string());
        LlmError::Connect(self.redact(&format!(
            "{} at {url}: {cause}; check the base URL and that the provider is reachable",
            self.provider()
        )))
    }
}

/// How an attempt ended, for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// A usable answer: the provider works.
    Succeeded,
    /// An answer came but could not be used: says nothing of availability.
    Answered,
    /// Timeout, connection failure or HTTP error.
    Failed,
}

/// Settles an attempt with the breaker; dropped unsettled (the caller's future was
/// cancelled), it releases a half-open probe so that the circuit cannot stick.
struct AttemptGuard<'a> {
    client: &'a LlmClient,
    admit: Admit,
    settled: bool,
}

impl AttemptGuard<'_> {
    /// Returns whether the circuit is open afterwards.
    fn settle(&mut self, verdict: Verdict) -> bool {
        self.settled = true;
        let admit = self.admit;
        self.client.with_breaker(|b, now| {
            match verdict {
                Verdict::Succeeded => b.on_success(admit),
                Verdict::Answered => b.on_neutral(admit),
                Verdict::Failed => b.on_failure(admit, now),
            }
            b.is_open()
        })
    }
}

impl Drop for AttemptGuard<'_> {
    fn drop(&mut self) {
        if !self.settled {
            let admit = self.admit;
            self.client.with_breaker(|b, _| b.on_neutral(admit));
        }
    }
}

/// Reads a body up to `cap` bytes; `None` if it is larger.
async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// Delay before retry `n` (0-based): min(base · 2ⁿ, max) plus `jitter` (0..=1) times
/// 10% of that.
fn backoff_delay(base: Duration, max: Duration, n: u32, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX));
    let capped = exp.min(max);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    capped.saturating_add(capped.mul_f64(0.1 * jitter))
}

#[cfg(test)]
mod tests {
    use super::answer::*;
    use super::breaker::*;
    use super::provider::*;
    use super::*;
    use crate::hub::filtering::category::ToolBrief;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn cats() -> Vec<String> {
        crate::config::filtering::BUILTIN_CATEGORIES
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn parse(text: &str, sent: &[&str]) -> Result<LlmAnswer, String> {
        parse_answer(text, &ids(sent), &cats())
    }

    fn cat(a: &LlmAnswer, id: &str) -> Option<(String, f32)> {
        a.guesses
            .get(id)
            .map(|g| (g.category.clone(), g.confidence))
    }

    #[test]
    fn bare_object() {
        let a = parse(r#"{"a": "web", "b": "database"}"#, &["a", "b"]).unwrap();
        assert_eq!(cat(&a, "a"), Some(("web".into(), DEFAULT_CONFIDENCE)));
        assert_eq!(cat(&a, "b"), Some(("database".into(), DEFAULT_CONFIDENCE)));
        assert!(a.unusable.is_empty());
    }

    #[test]
    fn object_values_with_confidence() {
        let a = parse(
            r#"{"a": {"category": "Web", "confidence": 0.95},
                "b": {"category": " search ", "confidence": 7},
                "c": {"category": "cloud", "confidence": -1},
                "d": {"category": "docker", "confidence": "high"},
                "e": {"category": "other"}}"#,
            &["a", "b", "c", "d", "e"],
        )
        .unwrap();
        assert_eq!(cat(&a, "a"), Some(("web".into(), 0.95)));
        assert_eq!(cat(&a, "b"), Some(("search".into(), 1.0)));
        assert_eq!(cat(&a, "c"), Some(("cloud".into(), 0.0)));
        assert_eq!(cat(&a, "d"), Some(("docker".into(), DEFAULT_CONFIDENCE)));
        assert_eq!(cat(&a, "e"), Some(("other".into(), DEFAULT_CONFIDENCE)));
    }

    #[test]
    fn wrapper_objects() {
        for key in ["categories", "tools", "results", "answer"] {
            let text = format!(r#"{{"{key}": {{"a": "web", "b": "filesystem"}}}}"#);
            let a = parse(&text, &["a", "b"]).unwrap();
            assert_eq!(a.guesses.len(), 2, "{text}");
        }
        let a = parse(
            r#"{"results": [{"id": "a", "category": "web", "confidence": 0.5},
                            {"name": "b", "category": "git"},
                            {"tool": "c", "category": "DATABASE"},
                            "junk", 3, {"no_id": true}]}"#,
            &["a", "b", "c"],
        )
        .unwrap();
        assert_eq!(cat(&a, "a"), Some(("web".into(), 0.5)));
        assert_eq!(cat(&a, "c"), Some(("database".into(), DEFAULT_CONFIDENCE)));
        assert_eq!(a.unusable, ids(&["b"]));
        // A bare array of entries, and a single entry object.
        let a = parse(r#"[{"id": "a", "category": "web"}]"#, &["a"]).unwrap();
        assert_eq!(cat(&a, "a"), Some(("web".into(), DEFAULT_CONFIDENCE)));
        let a = parse(r#"{"id": "a", "category": "web"}"#, &["a"]).unwrap();
        assert_eq!(cat(&a, "a"), Some(("web".into(), DEFAULT_CONFIDENCE)));
    }

    #[test]
    fn fences_and_prose() {
        let a = parse("```json\n{\"a\": \"web\"}\n```", &["a"]).unwrap();
        assert_eq!(a.guesses.len(), 1);
        let a = parse(
            "Sure! Here are the categories {as asked}:\n```\n{\"a\": \"web\", \"b\": \"cloud\"}\n```\nHope that helps.",
            &["a", "b"],
        )
        .unwrap();
        assert_eq!(a.guesses.len(), 2);
        let a = parse("\"{\\\"a\\\": \\\"web\\\"}\"", &["a"]).unwrap();
        assert_eq!(a.guesses.len(), 1);
    }

    #[test]
    fn wholly_unusable_answers() {
        for bad in [
            "",
            "   \n",
            "null",
            "42",
            "\"web\"",
            "I cannot help with that.",
            "{",
            r#"{"a": "web", "b": "sea"#,
            r#"{"a": {"category": "web"}, "b": {"categ"#,
            r#"{"results": [{"id": "a", "category": "web"}, {"id": "b""#,
            "[1, 2, \"x\", null]",
            "[]",
            "{}",
            r#"{"zzz": "web"}"#,
            r#"{"x": {"category": "web", "confidence": 0.9}}"#,
            "```json\n```",
        ] {
            assert!(parse(bad, &["a", "b"]).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn unknown_category_and_missing_ids_are_unusable() {
        let a = parse(
            r#"{"a": "banana", "b": "web", "zzz": "web", "d": 5, "e": null}"#,
            &["a", "b", "c", "d", "e"],
        )
        .unwrap();
        assert_eq!(a.guesses.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(a.unusable, ids(&["a", "c", "d", "e"]));
    }

    #[test]
    fn ids_are_exact_and_unsent_ones_ignored() {
        let a = parse(r#"{"A": "web", "a": "cloud", " b ": "web"}"#, &["a", "b"]).unwrap();
        assert_eq!(cat(&a, "a"), Some(("cloud".into(), DEFAULT_CONFIDENCE)));
        assert_eq!(cat(&a, "b"), Some(("web".into(), DEFAULT_CONFIDENCE)));
        assert!(!a.guesses.contains_key("A"));
    }

    #[test]
    fn categories_come_from_the_argument() {
        let custom = ids(&["Payments", "other"]);
        let a = parse_answer(
            r#"{"a": "payments", "b": "web"}"#,
            &ids(&["a", "b"]),
            &custom,
        )
        .unwrap();
        assert_eq!(a.guesses["a"].category, "Payments");
        assert_eq!(a.unusable, ids(&["b"]));
    }

    #[test]
    fn huge_and_hostile_inputs_do_not_panic() {
        let many: Vec<String> = (0..5000).map(|i| format!("tool-{i}")).collect();
        let body: Vec<String> = many.iter().map(|id| format!("\"{id}\": \"web\"")).collect();
        let text = format!("{{{}}}", body.join(","));
        let a = parse_answer(&text, &many, &cats()).unwrap();
        assert_eq!(a.guesses.len(), 5000);
        // Too large to be looked at.
        let huge = "x".repeat(MAX_ANSWER_BYTES + 1);
        assert!(parse_answer(&huge, &ids(&["a"]), &cats()).is_err());
        // Deep nesting hits serde_json's recursion limit, not the stack.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&deep, &["a"]).is_err());
        let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        assert!(parse(&deep, &["a"]).is_err());
        // Many braces of prose.
        let braces = "{ ".repeat(100_000);
        assert!(parse(&braces, &["a"]).is_err());
        // Multi-byte text around and inside.
        let a = parse("ünïcödé → {\"a\": \"wéb\", \"b\": \"web\"} ✓", &["a", "b"]).unwrap();
        assert_eq!(a.unusable, ids(&["a"]));
        assert!(parse(&"é".repeat(1000), &["a"]).is_err());
    }

    #[test]
    fn no_ids_sent() {
        let a = parse_answer("{}", &[], &cats()).unwrap();
        assert_eq!(a, LlmAnswer::default());
    }

    #[test]
    fn provider_names() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>().unwrap(), p);
            assert_eq!(p.as_str().to_uppercase().parse::<Provider>().unwrap(), p);
        }
        assert!("mistral".parse::<Provider>().is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let mut s = LlmSettings::new(Provider::OpenAi, "gpt");
        s.api_key = Some("sk-very-secret".into());
        assert!(!format!("{s:?}").contains("sk-very-secret"));
        let client = LlmClient::new(s, Arc::new(Metrics::new(None))).unwrap();
        assert!(!format!("{client:?}").contains("sk-very-secret"));
    }

    #[test]
    fn bad_settings_are_refused() {
        let m = Arc::new(Metrics::new(None));
        let mut s = LlmSettings::new(Provider::Anthropic, "claude");
        s.api_key = Some("line\nbreak".into());
        let e = LlmClient::new(s, m.clone()).unwrap_err();
        assert!(!e.contains("line\nbreak"), "{e}");
        let mut s = LlmSettings::new(Provider::Gemini, "");
        assert!(LlmClient::new(s.clone(), m.clone()).is_err());
        s.model = "gemini".into();
        s.base_url = Some("ftp://example.com".into());
        assert!(LlmClient::new(s.clone(), m.clone()).is_err());
        s.base_url = Some("not a url".into());
        assert!(LlmClient::new(s, m).is_err());
    }

    #[test]
    fn request_shapes() {
        let m = Arc::new(Metrics::new(None));
        let item = LlmItem {
            id: "srv__read".into(),
            tool: ToolBrief {
                server: "srv".into(),
                name: "read".into(),
                description: "d".repeat(1000),
                input_schema: json!({"properties": {"path": {}, "mode": {}}}),
            },
        };
        let cats = cats();
        let mut s = LlmSettings::new(Provider::OpenAi, "m");
        s.base_url = Some("http://h/v1/".into());
        let p = LlmClient::new(s.clone(), m.clone())
            .unwrap()
            .prepare(std::slice::from_ref(&item), &cats);
        assert_eq!(p.url, "http://h/v1/chat/completions");
        assert_eq!(p.body["response_format"]["type"], "json_object");
        let user = p.body["messages"][1]["content"].as_str().unwrap();
        let line = user.lines().find(|l| l.starts_with('[')).unwrap();
        let tools: Vec<Value> = serde_json::from_str(line).unwrap();
        assert_eq!(tools[0]["id"], "srv__read");
        assert_eq!(tools[0]["parameters"], json!(["path", "mode"]));
        assert!(tools[0]["description"].as_str().unwrap().chars().count() <= 301);
        let system = p.body["messages"][0]["content"].as_str().unwrap();
        assert!(system.contains("version-control") && system.contains("JSON"));

        s.provider = Provider::Anthropic;
        s.base_url = None;
        let p = LlmClient::new(s.clone(), m.clone())
            .unwrap()
            .prepare(std::slice::from_ref(&item), &cats);
        assert_eq!(p.url, "https://api.anthropic.com/v1/messages");
        assert!(p.body["max_tokens"].as_u64().unwrap() > 0);

        s.provider = Provider::Gemini;
        s.model = "models/gemini-x".into();
        let p = LlmClient::new(s, m)
            .unwrap()
            .prepare(std::slice::from_ref(&item), &cats);
        assert_eq!(
            p.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-x:generateContent"
        );
        assert_eq!(
            p.body["generationConfig"]["responseMimeType"],
            "application/json"
        );
    }

    #[test]
    fn provider_text_extraction() {
        let ok = |p, v: Value| answer_text(p, &v);
        assert_eq!(
            ok(
                Provider::OpenAi,
                json!({"choices": [{"message": {"content": "{}"}}]})
            )
            .unwrap(),
            "{}"
        );
        assert!(
            ok(
                Provider::OpenAi,
                json!({"choices": [{"message": {"content": null}}]})
            )
            .is_err()
        );
        assert!(ok(Provider::OpenAi, json!({"choices": []})).is_err());
        assert!(ok(Provider::OpenAi, json!([1, 2])).is_err());
        assert_eq!(
            ok(
                Provider::Anthropic,
                json!({"content": [{"type": "text", "text": "{\"a\""}, {"type": "tool_use"}, {"type": "text", "text": ": 1}"}]})
            )
            .unwrap(),
            "{\"a\": 1}"
        );
        assert!(ok(Provider::Anthropic, json!({"content": []})).is_err());
        assert!(ok(Provider::Anthropic, json!({"content": "x"})).is_err());
        assert_eq!(
            ok(
                Provider::Gemini,
                json!({"candidates": [{"content": {"parts": [{"text": "{"}, {"text": "}"}]}}]})
            )
            .unwrap(),
            "{}"
        );
        assert!(
            ok(
                Provider::Gemini,
                json!({"promptFeedback": {"blockReason": "SAFETY"}})
            )
            .is_err()
        );
        assert!(ok(Provider::Gemini, json!(null)).is_err());
    }

    #[test]
    fn backoff_doubles_to_a_cap_with_bounded_jitter() {
        let (b, m) = (Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff_delay(b, m, 0, 0.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(b, m, 1, 0.0), Duration::from_millis(200));
        assert_eq!(backoff_delay(b, m, 3, 0.0), Duration::from_millis(800));
        assert_eq!(backoff_delay(b, m, 4, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(b, m, 1000, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(b, m, 0, 1.0), Duration::from_millis(110));
        assert_eq!(backoff_delay(b, m, 9, 1.0), Duration::from_millis(1100));
        assert_eq!(backoff_delay(b, m, 0, f64::NAN), Duration::from_millis(100));
        assert_eq!(
            backoff_delay(Duration::MAX, Duration::MAX, 40, 1.0),
            Duration::MAX
        );
    }

    // ----- breaker -----

    const COOL: Duration = Duration::from_secs(10);

    fn tripped(t0: Instant) -> Breaker {
        let mut b = Breaker::new(3, COOL);
        for _ in 0..3 {
            let a = b.admit(t0).unwrap();
            b.on_failure(a, t0);
        }
        assert_eq!(b.take_changes(), [CircuitState::Open]);
        b
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, COOL);
        for _ in 0..2 {
            let a = b.admit(t0).unwrap();
            b.on_failure(a, t0);
        }
        // A success resets the count.
        let a = b.admit(t0).unwrap();
        b.on_success(a);
        for _ in 0..2 {
            let a = b.admit(t0).unwrap();
            b.on_failure(a, t0);
        }
        // Unusable answers neither count nor reset.
        let a = b.admit(t0).unwrap();
        b.on_neutral(a);
        assert_eq!(b.state(t0), CircuitState::Closed);
        assert!(b.take_changes().is_empty());
        let a = b.admit(t0).unwrap();
        b.on_failure(a, t0);
        assert_eq!(b.state(t0), CircuitState::Open);
        assert_eq!(b.take_changes(), [CircuitState::Open]);
        assert_eq!(b.admit(t0 + COOL / 2), None);
    }

    #[test]
    fn half_open_after_cooldown_lets_one_probe_through() {
        let t0 = Instant::now();
        let mut b = tripped(t0);
        assert_eq!(b.admit(t0 + COOL - Duration::from_millis(1)), None);
        let t1 = t0 + COOL;
        assert_eq!(b.state(t1), CircuitState::HalfOpen);
        assert_eq!(b.admit(t1), Some(Admit::Probe));
        // Others are refused while the probe is out.
        assert_eq!(b.admit(t1), None);
        assert_eq!(b.admit(t1 + COOL), None);
        b.on_success(Admit::Probe);
        assert_eq!(b.state(t1), CircuitState::Closed);
        assert_eq!(
            b.take_changes(),
            [CircuitState::HalfOpen, CircuitState::Closed]
        );
        assert_eq!(b.failures, 0);
        assert_eq!(b.admit(t1), Some(Admit::Normal));
    }

    #[test]
    fn failed_probe_reopens_for_another_cooldown() {
        let t0 = Instant::now();
        let mut b = tripped(t0);
        let t1 = t0 + COOL;
        let probe = b.admit(t1).unwrap();
        b.on_failure(probe, t1);
        assert_eq!(b.state(t1), CircuitState::Open);
        assert_eq!(
            b.take_changes(),
            [CircuitState::HalfOpen, CircuitState::Open]
        );
        assert_eq!(b.admit(t1 + COOL - Duration::from_millis(1)), None);
        assert_eq!(b.admit(t1 + COOL), Some(Admit::Probe));
    }

    #[test]
    fn unusable_or_cancelled_probe_is_given_back() {
        let t0 = Instant::now();
        let mut b = tripped(t0);
        let t1 = t0 + COOL;
        let probe = b.admit(t1).unwrap();
        b.on_neutral(probe);
        assert_eq!(b.state(t1), CircuitState::HalfOpen);
        assert_eq!(b.admit(t1), Some(Admit::Probe));
    }

    #[test]
    fn late_answers_of_normal_requests_do_not_decide() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOL);
        let early = b.admit(t0).unwrap();
        let a = b.admit(t0).unwrap();
        b.on_failure(a, t0);
        assert_eq!(b.state(t0), CircuitState::Open);
        // A request sent before the circuit opened answers late: still open.
        b.on_success(early);
        assert_eq!(b.state(t0), CircuitState::Open);
        let t1 = t0 + COOL;
        let probe = b.admit(t1).unwrap();
        b.on_failure(early, t1);
        assert_eq!(b.state(t1), CircuitState::HalfOpen);
        b.on_success(probe);
        assert_eq!(b.state(t1), CircuitState::Closed);
    }

    #[test]
    fn zero_threshold_is_one() {
        let t0 = Instant::now();
        let mut b = Breaker::new(0, Duration::MAX);
        let a = b.admit(t0).unwrap();
        b.on_failure(a, t0);
        assert_eq!(b.state(t0), CircuitState::Open);
        assert_eq!(b.admit(t0 + Duration::from_secs(3600)), None);
    }

    #[test]
    fn client_publishes_changes_to_metrics() {
        let m = Arc::new(Metrics::new(None));
        let mut s = LlmSettings::new(Provider::OpenAi, "gpt");
        s.circuit_threshold = 1;
        s.circuit_timeout = Duration::ZERO;
        let client = LlmClient::new(s, m.clone()).unwrap();
        assert_eq!(m.llm_report().unwrap().circuit_state, "closed");
        let a = client.with_breaker(|b, now| b.admit(now)).unwrap();
        client.with_breaker(|b, now| b.on_failure(a, now));
        assert_eq!(m.llm_report().unwrap().circuit_state, "open");
        assert_eq!(client.circuit_state(), CircuitState::HalfOpen);
        assert_eq!(m.llm_report().unwrap().circuit_state, "half-open");
    }
}
