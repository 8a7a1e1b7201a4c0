//! Pure, panic-free validation of a model's text answer: tolerant of the shapes models
//! produce, strict about ids and categories.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::hub::filtering::category::Guess;

/// Confidence of a category the model gave without one.
pub const DEFAULT_CONFIDENCE: f32 = 0.8;
/// Larger answers are refused by [`parse_answer`] without being parsed.
pub(super) const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// How many `{` / `[` positions [`parse_answer`] tries before giving up.
const MAX_JSON_STARTS: usize = 64;
/// Excerpts of bad answers in logs and errors.
pub(super) const EXCERPT_CHARS: usize = 200;

/// A validated answer, by id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LlmAnswer {
    pub guesses: BTreeMap<String, Guess>,
    /// Ids sent that got no usable answer (missing, or an unknown category), in the
    /// order they were sent.
    pub unusable: Vec<String>,
}

/// At most `chars` characters of `text`, with `…` when cut.
pub(super) fn excerpt(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Pure validation of a model's text answer (also used by fuzzing later).
///
/// Accepted shapes: `{"id": "category"}`; values `{"category": …, "confidence": …}`;
/// a wrapper object (`categories`, `tools`, `results`, …) holding such a map or an
/// array of `{"id"|"name"|"tool", "category", "confidence"?}`; that array bare; any of
/// these in code fences or with prose around them.
///
/// `Err` when nothing in the answer can be used (null, empty, not JSON, truncated, no
/// sent id in it). Otherwise an id whose category is not in `categories` (compared
/// trimmed and case-insensitively) or that is missing is listed in `unusable`; ids that
/// were not sent are ignored. Confidence defaults to [`DEFAULT_CONFIDENCE`] and is
/// clamped to 0..=1.
pub fn parse_answer(
    text: &str,
    sent_ids: &[String],
    categories: &[String],
) -> Result<LlmAnswer, String> {
    if text.len() > MAX_ANSWER_BYTES {
        return Err(format!(
            "the answer is too large ({} bytes, at most {} accepted)",
            text.len(),
            MAX_ANSWER_BYTES
        ));
    }
    let text = text.trim();
    if text.is_empty() {
        return Err("the answer is empty".into());
    }
    let sent: BTreeSet<&str> = sent_ids.iter().map(String::as_str).collect();
    // A JSON string holding the JSON (double-encoded answers).
    if let Ok(Value::String(inner)) = serde_json::from_str::<Value>(text)
        && inner.trim_start().starts_with(['{', '['])
    {
        return parse_answer(&inner, sent_ids, categories);
    }
    let entries = find_json(text, &sent)?;
    Ok(validate(entries, sent_ids, categories))
}

/// The entries (id → value) of the first JSON value in `text` that holds an answer.
fn find_json(text: &str, sent: &BTreeSet<&str>) -> Result<Vec<(String, Value)>, String> {
    let mut from = 0;
    let mut tried = 0;
    let mut saw_json = false;
    while let Some(off) = text[from..].find(['{', '[']) {
        let at = from + off;
        tried += 1;
        if tried > MAX_JSON_STARTS {
            break;
        }
        let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) => {
                saw_json = true;
                if let Some(entries) = entries_of(&v, sent, 0)
                    && (sent.is_empty() || entries.iter().any(|(id, _)| sent.contains(id.as_str())))
                {
                    return Ok(entries);
                }
                if sent.is_empty() && v.is_object() {
                    return Ok(Vec::new());
                }
                // Skip what was parsed: its insides are not answers either.
                from = at + stream.byte_offset().max(1);
            }
            // The JSON runs to the end of the answer without closing: cut off.
            Some(Err(e)) if e.is_eof() => {
                return Err(format!(
                    "the answer's JSON is cut off (truncated?): {}",
                    excerpt(&text[at..], EXCERPT_CHARS)
                ));
            }
            // Not JSON here (prose with a brace, or a syntax error): look further on.
            _ => from = at + 1,
        }
    }
    Err(if saw_json {
        format!(
            "the answer's JSON names none of the tools sent: {}",
            excerpt(text, EXCERPT_CHARS)
        )
    } else {
        format!(
            "the answer holds no JSON object: {}",
            excerpt(text, EXCERPT_CHARS)
        )
    })
}

/// Keys a tool's id may come under in an array entry.
const ID_KEYS: [&str; 5] = ["id", "name", "tool", "tool_id", "toolId"];

fn entry_id(obj: &Map<String, Value>) -> Option<String> {
    ID_KEYS
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
}

fn is_sent(id: &str, sent: &BTreeSet<&str>) -> bool {
    sent.contains(id) || sent.contains(id.trim())
}

/// The (id, value) pairs a JSON value holds, looking through wrappers.
fn entries_of(v: &Value, sent: &BTreeSet<&str>, depth: usize) -> Option<Vec<(String, Value)>> {
    match v {
        Value::Array(items) => {
            let entries: Vec<(String, Value)> = items
                .iter()
                .filter_map(|item| {
                    let obj = item.as_object()?;
                    Some((entry_id(obj)?, item.clone()))
                })
                .collect();
            (!entries.is_empty()).then_some(entries)
        }
        Value::Object(map) => {
            // The map itself: keys are ids.
            if map.keys().any(|k| is_sent(k, sent)) {
                return Some(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
            }
            // One entry for one tool: {"id": …, "category": …}.
            if let Some(id) = entry_id(map)
                && map.contains_key("category")
                && is_sent(&id, sent)
            {
                return Some(vec![(id, v.clone())]);
            }
            // A wrapper: {"categories": {...}} or {"results": [...]}.
            if depth < 4 {
                for inner in map.values().filter(|v| v.is_object() || v.is_array()) {
                    if let Some(entries) = entries_of(inner, sent, depth + 1)
                        && entries.iter().any(|(id, _)| is_sent(id, sent))
                    {
                        return Some(entries);
                    }
                }
            }
            None
        }
        _ => None,
    }
}

/// Checks every entry against the ids sent and the categories allowed.
fn validate(
    entries: Vec<(String, Value)>,
    sent_ids: &[String],
    categories: &[String],
) -> LlmAnswer {
    let mut guesses: BTreeMap<String, Guess> = BTreeMap::new();
    for (id, value) in entries {
        let id = if sent_ids.contains(&id) {
            id
        } else if sent_ids.iter().any(|s| s == id.trim()) {
            id.trim().to_owned()
        } else {
            continue;
        };
        if guesses.contains_key(&id) {
            continue;
        }
        let (category, confidence) = match &value {
            Value::String(c) => (Some(c.as_str()), None),
            Value::Object(o) => (
                o.get("category").and_then(Value::as_str),
                o.get("confidence"),
            ),
            _ => (None, None),
        };
        let Some(category) = category.and_then(|c| canonical(c, categories)) else {
            continue;
        };
        let confidence = confidence
            .and_then(Value::as_f64)
            .filter(|c| c.is_finite())
            .map(|c| c.clamp(0.0, 1.0) as f32)
            .unwrap_or(DEFAULT_CONFIDENCE);
        guesses.insert(
            id,
            Guess {
                category: category.to_owned(),
                confidence,
            },
        );
    }
    let mut seen = BTreeSet::new();
    let unusable = sent_ids
        .iter()
        .filter(|id| !guesses.contains_key(*id) && seen.insert(id.as_str()))
        .cloned()
        .collect();
    LlmAnswer { guesses, unusable }
}

/// The allowed category `given` names (trimmed, case-insensitive).
fn canonical<'a>(given: &str, categories: &'a [String]) -> Option<&'a str> {
    let given = given.trim();
    categories
        .iter()
        .find(|c| c.trim().eq_ignore_ascii_case(given))
        .map(String::as_str)
}
