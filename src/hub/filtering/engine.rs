//! The LLM queue: tools the heuristic is unsure of and the cache does not know wait
//! here, at most `maxQueueSize` of them; `batchSize` of them go out per request, at
//! most `maxConcurrent` requests at once. The hub never waits for it: a tool keeps its
//! heuristic category until an answer replaces it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Notify, Semaphore};

use super::category::{Guess, ToolBrief};
use super::llm::provider::LlmItem;
use super::llm::{LlmClient, LlmError};
use crate::api::CircuitState;
use crate::config::filtering::LlmConfig;
use crate::telemetry::metrics::Metrics;

/// An answer for one tool, keyed as in the cache.
pub struct Answer {
    pub key: String,
    pub tool: ToolBrief,
    pub guess: Guess,
}

type OnAnswers = Box<dyn Fn(Vec<Answer>) + Send + Sync>;

#[derive(Default)]
struct Queue {
    /// Every tool the catalog last said needs the LLM, by cache key.
    wanted: BTreeMap<String, ToolBrief>,
    /// Keys waiting for a request, oldest first; never longer than `max_queue`.
    queue: VecDeque<String>,
    in_flight: HashSet<String>,
    /// Tools whose answer could not be used: not asked again until the hub restarts
    /// or their definition changes (a new key).
    given_up: HashSet<String>,
    /// Tools answered in this run: a catalog built just before their answer reached
    /// the cache must not queue them again.
    answered: HashSet<String>,
    /// After a failed request, nothing is sent before this (the circuit's cool-down).
    paused_until: Option<Instant>,
}

pub struct Engine {
    pub client: LlmClient,
    pub config: LlmConfig,
    categories: Mutex<Vec<String>>,
    queue: Mutex<Queue>,
    wake: Notify,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    on_answers: OnAnswers,
    stop: tokio_util::sync::CancellationToken,
}

/// Queue figures for `/api/filtering/stats`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueStats {
    pub queued: usize,
    pub in_flight: usize,
    /// Tools that need the LLM but wait for room in the queue.
    pub backlog: usize,
    pub given_up: usize,
    pub max_queue: usize,
    pub max_concurrent: usize,
    pub batch_size: usize,
}

impl Engine {
    /// Starts the dispatcher; it runs until [`Engine::shutdown`].
    pub fn start(
        client: LlmClient,
        config: LlmConfig,
        metrics: Arc<Metrics>,
        on_answers: OnAnswers,
    ) -> Arc<Engine> {
        let engine = Arc::new(Engine {
            permits: Arc::new(Semaphore::new(config.max_concurrent)),
            client,
            config,
            categories: Mutex::new(Vec::new()),
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            metrics,
            on_answers,
            stop: tokio_util::sync::CancellationToken::new(),
        });
        tokio::spawn(dispatch(engine.clone()));
        engine
    }

    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// The tools that need the LLM now (replacing the previous set) and the categories
    /// it may answer with.
    pub fn want(&self, mut wanted: BTreeMap<String, ToolBrief>, categories: Vec<String>) {
        *self.categories.lock().unwrap_or_else(|p| p.into_inner()) = categories;
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        wanted.retain(|k, _| !q.answered.contains(k));
        q.queue.retain(|k| wanted.contains_key(k));
        q.wanted = wanted;
        self.fill(&mut q);
        drop(q);
        self.wake.notify_one();
    }

    pub fn stats(&self) -> QueueStats {
        let q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let backlog = q
            .wanted
            .keys()
            .filter(|k| {
                !q.in_flight.contains(*k) && !q.given_up.contains(*k) && !q.queue.contains(k)
            })
            .count();
        QueueStats {
            queued: q.queue.len(),
            in_flight: q.in_flight.len(),
            backlog,
            given_up: q.given_up.len(),
            max_queue: self.config.max_queue,
            max_concurrent: self.config.max_concurrent,
            batch_size: self.config.batch_size,
        }
    }

    /// Moves wanted tools into the queue while it has room.
    fn fill(&self, q: &mut Queue) {
        let room = self.config.max_queue.saturating_sub(q.queue.len());
        if room > 0 {
            let queued: HashSet<&String> = q.queue.iter().collect();
            let next: Vec<String> = q
                .wanted
                .keys()
                .filter(|k| {
                    !queued.contains(k) && !q.in_flight.contains(*k) && !q.given_up.contains(*k)
                })
                .take(room)
                .cloned()
                .collect();
            q.queue.extend(next);
        }
        self.metrics.set_llm_queue_depth(q.queue.len());
    }

    /// The next batch, unless the queue is empty or paused.
    fn take_batch(&self) -> Result<Vec<(String, ToolBrief)>, Option<Instant>> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        // While a probe decides whether the provider is back, more requests would only
        // be refused by the breaker; the probe's end wakes the dispatcher.
        if !q.in_flight.is_empty() && self.client.circuit_state() != CircuitState::Closed {
            return Err(None);
        }
        if let Some(t) = q.paused_until {
            if Instant::now() < t {
                return Err(Some(t));
            }
            q.paused_until = None;
        }
        let mut batch = Vec::new();
        while batch.len() < self.config.batch_size {
            let Some(key) = q.queue.pop_front() else {
                break;
            };
            if let Some(tool) = q.wanted.get(&key).cloned() {
                q.in_flight.insert(key.clone());
                batch.push((key, tool));
            }
        }
        self.fill(&mut q);
        if batch.is_empty() {
            Err(None)
        } else {
            Ok(batch)
        }
    }

    async fn run_batch(&self, batch: Vec<(String, ToolBrief)>) {
        // The id the model answers with: readable (the server's name helps it) and
        // unique in the batch.
        let items: Vec<LlmItem> = batch
            .iter()
            .map(|(_, t)| LlmItem {
                id: format!("{}__{}", t.server, t.name),
                tool: t.clone(),
            })
            .collect();
        let by_id: HashMap<&str, &(String, ToolBrief)> = items
            .iter()
            .map(|i| i.id.as_str())
            .zip(batch.iter())
            .collect();
        let categories = self
            .categories
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let result = tokio::select! {
            r = self.client.categorize(&items, &categories) => r,
            // A replaced engine's answers are for settings that no longer hold.
            _ = self.stop.cancelled() => return,
        };
        let mut answers = Vec::new();
        {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            for (key, _) in &batch {
                q.in_flight.remove(key);
            }
            match result {
                Ok(answer) => {
                    for (id, guess) in answer.guesses {
                        if let Some((key, tool)) = by_id.get(id.as_str()) {
                            q.wanted.remove(key);
                            q.answered.insert(key.clone());
                            answers.push(Answer {
                                key: key.clone(),
                                tool: tool.clone(),
                                guess,
                            });
                        }
                    }
                    for id in answer.unusable {
                        if let Some((key, _)) = by_id.get(id.as_str()) {
                            q.given_up.insert(key.clone());
                        }
                    }
                }
                Err(LlmError::Unparseable(_)) => {
                    for (key, _) in &batch {
                        q.given_up.insert(key.clone());
                    }
                }
                // The provider is unavailable: the tools stay wanted and are asked
                // again once the circuit may let a probe through.
                Err(_) => {
                    q.paused_until = Some(Instant::now() + self.config.client.circuit_timeout);
                }
            }
            self.fill(&mut q);
        }
        if !answers.is_empty() {
            (self.on_answers)(answers);
        }
        self.wake.notify_one();
    }
}

/// Takes a permit, then the next batch, and sends it; waits on `wake` (new work, a
/// finished request) or the end of a pause. Ends with `Engine::shutdown`.
async fn dispatch(engine: Arc<Engine>) {
    let stop = engine.stop.clone();
    loop {
        let permit = tokio::select! {
            p = engine.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.cancelled() => return,
        };
        loop {
            let wake = engine.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            match engine.take_batch() {
                Ok(batch) => {
                    let e = engine.clone();
                    tokio::spawn(async move {
                        e.run_batch(batch).await;
                        drop(permit);
                    });
                    break;
                }
                Err(paused) => {
                    let pause = async {
                        match paused {
                            Some(t) => tokio::time::sleep_until(t.into()).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = &mut wake => {}
                        _ = pause => {}
                        _ = stop.cancelled() => return,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::filtering::{LlmSettings, Provider};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// An OpenAI-compatible provider on loopback: answers `answer(ids asked)` and
    /// counts the requests.
    async fn provider(
        answer: fn(&[String]) -> String,
        ids: Vec<String>,
    ) -> (String, Arc<AtomicUsize>) {
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        let app = axum::Router::new().route(
            "/chat/completions",
            axum::routing::post(move |body: String| {
                counted.fetch_add(1, Ordering::SeqCst);
                let asked: Vec<String> = ids
                    .iter()
                    .filter(|id| body.contains(id.as_str()))
                    .cloned()
                    .collect();
                let content = answer(&asked);
                async move {
                    axum::Json(serde_json::json!({
                        "choices": [{"message": {"role": "assistant", "content": content}}]
                    }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, requests)
    }

    fn tools(n: usize) -> BTreeMap<String, ToolBrief> {
        (0..n)
            .map(|i| {
                let tool = ToolBrief {
                    server: "srv".into(),
                    name: format!("tool{i}"),
                    description: String::new(),
                    input_schema: serde_json::Value::Null,
                };
                (format!("key{i}"), tool)
            })
            .collect()
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("srv__tool{i}")).collect()
    }

    async fn engine(
        url: String,
    ) -> (
        Arc<Engine>,
        tokio::sync::mpsc::UnboundedReceiver<Vec<Answer>>,
    ) {
        let mut settings = LlmSettings::new(Provider::OpenAi, "m");
        settings.base_url = Some(url);
        settings.retry_count = 0;
        let metrics = Arc::new(Metrics::default());
        let config = LlmConfig {
            client: settings.clone(),
            cache_ttl: Duration::from_secs(60),
            max_concurrent: 1,
            batch_size: 2,
            max_queue: 10,
            confidence_threshold: 0.6,
        };
        let client = LlmClient::new(settings, metrics.clone()).unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let engine = Engine::start(
            client,
            config,
            metrics,
            Box::new(move |a| {
                let _ = tx.send(a);
            }),
        );
        (engine, rx)
    }

    #[tokio::test]
    async fn wanted_tools_go_out_in_batches_and_come_back_categorized() {
        let (url, requests) = provider(
            |asked| {
                let map: serde_json::Map<String, serde_json::Value> =
                    asked.iter().map(|id| (id.clone(), "web".into())).collect();
                serde_json::Value::Object(map).to_string()
            },
            ids(5),
        )
        .await;
        let (engine, mut rx) = engine(url).await;
        engine.want(tools(5), vec!["web".into(), "other".into()]);
        let mut answered = Vec::new();
        while answered.len() < 5 {
            let batch = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("answers within the deadline")
                .unwrap();
            answered.extend(batch);
        }
        let mut keys: Vec<&str> = answered.iter().map(|a| a.key.as_str()).collect();
        keys.sort();
        assert_eq!(keys, ["key0", "key1", "key2", "key3", "key4"]);
        assert!(answered.iter().all(|a| a.guess.category == "web"));
        // Five tools in batches of two.
        assert_eq!(requests.load(Ordering::SeqCst), 3);
        let stats = engine.stats();
        assert_eq!((stats.queued, stats.in_flight, stats.given_up), (0, 0, 0));
        // Answered tools are not asked again when the catalog still lists them.
        engine.want(tools(5), vec!["web".into(), "other".into()]);
        assert_eq!(engine.stats().queued, 0);
        engine.shutdown();
    }

    #[tokio::test]
    async fn a_garbage_answer_gives_the_batch_up_without_answers() {
        let (url, requests) = provider(|_| "I cannot help with that.".into(), ids(2)).await;
        let (engine, mut rx) = engine(url).await;
        engine.want(tools(2), vec!["web".into()]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while engine.stats().given_up < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                engine.stats()
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(requests.load(Ordering::SeqCst), 1);
        assert!(rx.try_recv().is_err(), "no answer for an unusable reply");
        engine.shutdown();
    }
}
