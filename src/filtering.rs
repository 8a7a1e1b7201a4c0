//! Tool filtering and categorization: every tool gets a category (a fast heuristic,
//! refined by an optional LLM whose answers are cached), and the hub exposes to each
//! client only the tools its `toolFiltering` / `toolExposure` settings allow.
//!
//! - [`heuristic`]: name/description/schema → category with a confidence.
//! - [`llm`]: the provider clients (OpenAI-compatible, Anthropic, Gemini), answer
//!   validation, retries and the circuit breaker.

pub mod heuristic;
pub mod llm;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The categories every hub knows; `customMappings` may add more.
pub const BUILTIN_CATEGORIES: [&str; 10] = [
    "filesystem",
    "web",
    "search",
    "database",
    "version-control",
    "docker",
    "cloud",
    "development",
    "communication",
    "other",
];

/// A tool as the categorizers see it: the server's own name for it, not the
/// namespaced one clients see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolBrief {
    pub server: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, rename = "inputSchema")]
    pub input_schema: Value,
}

/// A category with how sure its source is of it (0.0 to 1.0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guess {
    pub category: String,
    pub confidence: f32,
}

/// The LLM circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CircuitState {
    /// Requests flow.
    Closed,
    /// One probe request is allowed after the cool-down.
    HalfOpen,
    /// Requests are refused until the cool-down ends.
    Open,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::HalfOpen => "half-open",
            CircuitState::Open => "open",
        }
    }

    /// The value of `mcphub_llm_circuit_state`.
    pub fn gauge(self) -> i64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Open => 2,
        }
    }
}

/// How one LLM request ended, as counted in `mcphub_llm_requests_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmOutcome {
    /// An answer that could be used (some tools of it may still have been unusable).
    Success,
    /// HTTP error status or a connection failure.
    Error,
    /// No answer within the request timeout.
    Timeout,
    /// An answer came but none of it could be used (null, empty, not JSON, truncated).
    ParseError,
    /// Not sent: the circuit breaker is open.
    Rejected,
}

impl LlmOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LlmOutcome::Success => "success",
            LlmOutcome::Error => "error",
            LlmOutcome::Timeout => "timeout",
            LlmOutcome::ParseError => "parse_error",
            LlmOutcome::Rejected => "rejected",
        }
    }
}
