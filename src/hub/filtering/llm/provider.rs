//! What differs between providers (OpenAI-compatible, Anthropic, Gemini): where the
//! model's text sits in a response, and the prompt every one of them gets.

use serde_json::{Value, json};

use super::answer::{EXCERPT_CHARS, excerpt};
use crate::config::filtering::Provider;
use crate::hub::filtering::category::ToolBrief;

/// Tool descriptions are cut to about this many characters in the prompt.
const DESCRIPTION_CHARS: usize = 300;

/// One tool to categorize; `id` is the name the model must answer with, exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmItem {
    pub id: String,
    pub tool: ToolBrief,
}

/// The model's text in a provider's response; `Err` says what was missing.
pub(super) fn answer_text(provider: Provider, v: &Value) -> Result<String, String> {
    let api_error = || {
        v.get("error").map(|e| {
            let msg = e
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| e.to_string());
            format!(
                "{provider} answered with an error: {}",
                excerpt(&msg, EXCERPT_CHARS)
            )
        })
    };
    let joined = |parts: &[Value], is_text: &dyn Fn(&Value) -> bool| -> String {
        parts
            .iter()
            .filter(|p| is_text(p))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .concat()
    };
    let text = match provider {
        Provider::OpenAi => {
            let message = &v["choices"][0]["message"];
            match &message["content"] {
                Value::String(s) => Some(s.clone()),
                // Some compatible servers send content parts.
                Value::Array(parts) => Some(joined(parts, &|p| {
                    p.get("type").is_none_or(|t| t == "text")
                })),
                _ => None,
            }
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                api_error().unwrap_or_else(|| {
                    if v["choices"].as_array().is_none_or(|c| c.is_empty()) {
                        "openai answered with no choices".into()
                    } else if let Some(r) = message["refusal"].as_str() {
                        format!("openai refused: {}", excerpt(r, EXCERPT_CHARS))
                    } else {
                        "openai answered with no content (choices[0].message.content is null \
                         or empty)"
                            .into()
                    }
                })
            })?
        }
        Provider::Anthropic => v["content"]
            .as_array()
            .map(|parts| joined(parts, &|p| p.get("type").is_some_and(|t| t == "text")))
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                api_error().unwrap_or_else(|| {
                    format!(
                        "anthropic answered with no text content (stop_reason: {})",
                        v["stop_reason"]
                    )
                })
            })?,
        Provider::Gemini => v["candidates"][0]["content"]["parts"]
            .as_array()
            .map(|parts| joined(parts, &|p| !p["thought"].as_bool().unwrap_or(false)))
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                api_error().unwrap_or_else(|| {
                    let block = &v["promptFeedback"]["blockReason"];
                    if v["candidates"].as_array().is_none_or(|c| c.is_empty()) {
                        if block.is_null() {
                            "gemini answered with no candidates".into()
                        } else {
                            format!("gemini answered with no candidates (blocked: {block})")
                        }
                    } else {
                        format!(
                            "gemini answered with no text (finishReason: {})",
                            v["candidates"][0]["finishReason"]
                        )
                    }
                })
            })?,
    };
    Ok(text)
}

/// The system and user messages. The user message ends with the tools as one JSON
/// array on a line of its own (fakes and tests parse it).
pub(super) fn prompt(items: &[LlmItem], categories: &[String]) -> (String, String) {
    let allowed = categories.join(", ");
    let fallback = if categories.iter().any(|c| c == "other") {
        "Use \"other\" when none fits."
    } else {
        "When none fits, use the closest one."
    };
    let example = categories.first().map(String::as_str).unwrap_or("other");
    let system = format!(
        "You categorize the tools of MCP servers by what they are for.\n\
         The allowed categories are: {allowed}.\n\
         Answer with ONE JSON object and nothing else: each key is a tool id, exactly as \
         given, and each value is one of the allowed categories, spelled as above. \
         Give every tool exactly one category. {fallback}\n\
         Example: {{\"some-tool\": \"{example}\"}}"
    );
    let tools: Vec<Value> = items
        .iter()
        .map(|item| {
            let parameters: Vec<&str> = item
                .tool
                .input_schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            json!({
                "id": item.id,
                "description": excerpt(item.tool.description.trim(), DESCRIPTION_CHARS),
                "parameters": parameters,
            })
        })
        .collect();
    let array = serde_json::to_string(&tools).unwrap_or_else(|_| "[]".into());
    let user = format!(
        "Categorize these {} tools (a JSON array of id, description, parameter names):\n{array}\n",
        items.len()
    );
    (system, user)
}

/// A model name made safe for a URL path segment.
pub(super) fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
