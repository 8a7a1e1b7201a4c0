//! A tool as the categorizers see it, and the category each of them gives it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// Where a tool's category came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Heuristic,
    Llm,
    /// A `customMappings` pattern.
    Custom,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Categorized {
    pub category: String,
    pub confidence: f32,
    pub source: Source,
}
