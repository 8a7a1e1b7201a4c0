//! The bridge from 2025-era backends to stateless (2026-07-28) clients.
//!
//! A 2025-era server asks its client things in the middle of a call, with requests of
//! its own (sampling, elicitation, roots) that wait for an answer. A 2026-07-28 client
//! cannot be sent requests: the server ends the call with an `input_required` result
//! instead, and the client calls again with the answers and the `requestState` it was
//! given. So the hub keeps such a call running while its client answers: the backend's
//! request is *parked* here under a `requestState` of the hub's own, the client's call
//! ends with the question, and the client's next call with that state hands the answer
//! to the waiting backend request and waits for what the backend does next.
//!
//! Parked calls are bounded in number and expire: a client that never comes back
//! costs a slot for [`PARKED_FOR`] at most, then the backend's request fails.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmcp::model::{
    CreateMessageRequest, ElicitRequest, InputRequest, InputRequests, InputRequiredResult,
    InputResponses, ListRootsRequest,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::model::McpError;

/// How long a parked call waits for its client to come back with the answers.
pub const PARKED_FOR: Duration = Duration::from_secs(600);
/// How many calls may be parked at once; past it the one parked longest goes.
pub const MAX_PARKED: usize = 1024;
/// Prefix of the hub's own `requestState`s: anything else belongs to a backend.
const STATE_PREFIX: &str = "mcphub-round:";

/// What a backend asks during a bridged call, and where its answer goes.
pub struct Ask {
    pub request: InputRequest,
    pub answer: oneshot::Sender<Result<serde_json::Value, McpError>>,
}

impl std::fmt::Debug for Ask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ask")
            .field("request", &self.request)
            .finish()
    }
}

pub type AskSender = mpsc::Sender<Ask>;
pub type AskReceiver = mpsc::Receiver<Ask>;

/// A channel for one bridged call's asks. A call asks one thing at a time in
/// practice; a few more may wait.
pub fn channel() -> (AskSender, AskReceiver) {
    mpsc::channel(8)
}

/// Sends `request` to the bridged caller behind `asks` and waits for its answer.
pub async fn ask(asks: &AskSender, request: InputRequest) -> Result<serde_json::Value, McpError> {
    let (answer, rx) = oneshot::channel();
    let gone = || McpError::internal_error("the client did not answer: its call ended", None);
    asks.send(Ask { request, answer })
        .await
        .map_err(|_| gone())?;
    rx.await.map_err(|_| gone())?
}

pub fn sampling(params: rmcp::model::CreateMessageRequestParams) -> InputRequest {
    InputRequest::CreateMessage(CreateMessageRequest::new(params))
}

pub fn elicitation(params: rmcp::model::ElicitRequestParams) -> InputRequest {
    InputRequest::Elicitation(ElicitRequest::new(params))
}

pub fn roots() -> InputRequest {
    InputRequest::ListRoots(ListRootsRequest {
        method: Default::default(),
        extensions: Default::default(),
    })
}

/// What a bridged call did next.
pub enum Step<T> {
    /// It finished: its answer.
    Done(T),
    /// It asks the client: end the client's call with this.
    Input(InputRequiredResult),
}

/// Why a bridged call cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error(
        "requestState `{state}` is unknown or expired (a call waits {secs} s for its answers): call the tool again without inputResponses",
        secs = PARKED_FOR.as_secs()
    )]
    Expired { state: String },
    #[error("the bridged call failed: {0}")]
    Failed(String),
}

struct Parked<T> {
    call: JoinHandle<T>,
    asks: AskReceiver,
    /// Questions sent to the client, by the key it answers them under.
    waiting: BTreeMap<String, Ask>,
    since: Instant,
}

/// The calls parked while their clients answer.
pub struct Rounds<T> {
    parked: Mutex<HashMap<String, Parked<T>>>,
    next_key: std::sync::atomic::AtomicU64,
}

impl<T> Default for Rounds<T> {
    fn default() -> Self {
        Rounds {
            parked: Mutex::default(),
            next_key: Default::default(),
        }
    }
}

impl<T: Send + 'static> Rounds<T> {
    /// Whether `state` is one of the hub's (else it is a backend's, to pass on).
    pub fn is_ours(state: &str) -> bool {
        state.starts_with(STATE_PREFIX)
    }

    /// Runs `call` (which asks through the sender paired with `asks`) until it
    /// finishes or asks something.
    pub async fn start(
        &self,
        asks: AskReceiver,
        call: impl Future<Output = T> + Send + 'static,
    ) -> Result<Step<T>, RoundError> {
        let parked = Parked {
            call: tokio::spawn(call),
            asks,
            waiting: BTreeMap::new(),
            since: Instant::now(),
        };
        self.next_step(parked).await
    }

    /// The client's next call: `responses` go to the questions parked under `state`,
    /// then the call goes on until it finishes or asks again.
    pub async fn resume(
        &self,
        state: &str,
        responses: InputResponses,
    ) -> Result<Step<T>, RoundError> {
        let mut parked = self
            .parked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(state)
            .ok_or_else(|| RoundError::Expired {
                state: state.to_owned(),
            })?;
        for (key, value) in responses {
            if let Some(ask) = parked.waiting.remove(&key) {
                let _ = ask.answer.send(Ok(value));
            }
        }
        self.next_step(parked).await
    }

    /// Drops the calls parked longer than [`PARKED_FOR`]: their backend requests fail.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.parked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, p| {
                let keep = now.duration_since(p.since) < PARKED_FOR;
                if !keep {
                    p.call.abort();
                }
                keep
            });
    }

    pub fn parked(&self) -> usize {
        self.parked.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    async fn next_step(&self, mut parked: Parked<T>) -> Result<Step<T>, RoundError> {
        // Questions the client left unanswered are asked again, with nothing new.
        if parked.waiting.is_empty() {
            tokio::select! {
                // An answer that is ready wins over a question asked at the same time.
                biased;
                done = &mut parked.call => {
                    return done.map(Step::Done).map_err(|e| RoundError::Failed(e.to_string()));
                }
                ask = parked.asks.recv() => match ask {
                    Some(ask) => self.add_question(&mut parked, ask),
                    // Nothing can ask any more: the call's answer is all that is left.
                    None => {
                        return (&mut parked.call)
                            .await
                            .map(Step::Done)
                            .map_err(|e| RoundError::Failed(e.to_string()));
                    }
                },
            }
            // Asked together, answered together.
            while let Ok(ask) = parked.asks.try_recv() {
                self.add_question(&mut parked, ask);
            }
        }
        let input_requests: InputRequests = parked
            .waiting
            .iter()
            .map(|(k, a)| (k.clone(), a.request.clone()))
            .collect();
        let state = format!(
            "{STATE_PREFIX}{:016x}{:032x}",
            self.next_key
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            rand::random::<u128>()
        );
        parked.since = Instant::now();
        {
            let mut all = self.parked.lock().unwrap_or_else(|p| p.into_inner());
            if all.len() >= MAX_PARKED
                && let Some(oldest) = all
                    .iter()
                    .min_by_key(|(_, p)| p.since)
                    .map(|(k, _)| k.clone())
                && let Some(p) = all.remove(&oldest)
            {
                p.call.abort();
            }
            all.insert(state.clone(), parked);
        }
        Ok(Step::Input(InputRequiredResult::new(
            Some(input_requests),
            Some(state),
        )))
    }

    fn add_question(&self, parked: &mut Parked<T>, ask: Ask) {
        let kind = match &ask.request {
            InputRequest::CreateMessage(_) => "sampling",
            InputRequest::Elicitation(_) => "elicitation",
            InputRequest::ListRoots(_) => "roots",
            _ => "input",
        };
        let key = format!(
            "{kind}-{}",
            self.next_key
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        parked.waiting.insert(key, ask);
    }
}
