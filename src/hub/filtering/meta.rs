//! The hub's own tools. Search mode (`toolExposure: "search"`) shows `search_tools`,
//! `describe_tool` and `call_tool` instead of hundreds of tools; prompt-based mode
//! starts each session with `hub__analyze_prompt`.

use serde_json::{Value, json};

use super::listing::Listing;
use super::search::{Doc, Index};
use crate::hub::catalog::ExposedTool;
use crate::mcp::model::Tool;

pub const SEARCH_TOOLS: &str = "search_tools";
pub const DESCRIBE_TOOL: &str = "describe_tool";
pub const CALL_TOOL: &str = "call_tool";
pub const ANALYZE_PROMPT: &str = "hub__analyze_prompt";

/// Results `search_tools` returns unless asked for another number.
pub const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 50;

fn tool(name: &str, description: &str, schema: Value) -> Tool {
    serde_json::from_value(json!({"name": name, "description": description, "inputSchema": schema}))
        .unwrap_or_else(|e| unreachable!("a literal tool definition is valid: {e}"))
}

pub fn search_mode_tools(categories: &[String]) -> Vec<Tool> {
    vec![
        tool(
            SEARCH_TOOLS,
            "Find tools among every tool this hub can reach. Give words describing the task (and/or a category); get the best-matching tool names with one-line descriptions. Then use describe_tool for a tool's parameters and call_tool to run it.",
            json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Words describing what you want to do, e.g. \"read a file\""},
                    "category": {"type": "string", "enum": categories, "description": "Only tools of this category"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "How many results (default 10)"}
                }
            }),
        ),
        tool(
            DESCRIBE_TOOL,
            "The full definition of one tool found with search_tools: its description and input schema.",
            json!({
                "type": "object",
                "properties": {"name": {"type": "string", "description": "The tool's name as search_tools returned it"}},
                "required": ["name"]
            }),
        ),
        tool(
            CALL_TOOL,
            "Run a tool found with search_tools, with arguments matching its input schema (see describe_tool).",
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "The tool's name as search_tools returned it"},
                    "arguments": {"type": "object", "description": "The tool's arguments"}
                },
                "required": ["name"]
            }),
        ),
    ]
}

pub fn analyze_prompt_tool() -> Tool {
    tool(
        ANALYZE_PROMPT,
        "Describe the task you are working on; the hub then shows this session the tools of the categories the task needs (and says which and why).",
        json!({
            "type": "object",
            "properties": {"prompt": {"type": "string", "description": "The user's request or the task at hand, in plain words"}},
            "required": ["prompt"]
        }),
    )
}

/// First sentence (or 120 characters) of a description.
pub fn one_line(description: &str) -> String {
    let first = description
        .split_terminator(['\n', '.'])
        .next()
        .unwrap_or_default()
        .trim();
    if first.chars().count() > 120 {
        let cut: String = first.chars().take(117).collect();
        format!("{cut}...")
    } else {
        first.to_owned()
    }
}

/// `search_tools`: ranked tools among those `visible` lets through.
pub fn search(
    listing: &Listing,
    visible: impl Fn(&str) -> bool,
    query: &str,
    category: Option<&str>,
    limit: Option<usize>,
) -> Value {
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let candidates: Vec<&ExposedTool> = listing
        .catalog
        .tools
        .iter()
        .filter(|t| visible(&t.name))
        .filter(|t| {
            category.is_none_or(|c| {
                listing
                    .category(&t.name)
                    .is_some_and(|x| x.eq_ignore_ascii_case(c))
            })
        })
        .collect();
    let category_of = |t: &ExposedTool| listing.category(&t.name).unwrap_or("other").to_owned();
    let ranked: Vec<(usize, f64)> = if query.trim().is_empty() {
        (0..candidates.len()).map(|i| (i, 0.0)).collect()
    } else {
        let docs: Vec<Doc> = candidates
            .iter()
            .map(|t| Doc {
                name: t.name.to_string(),
                description: t.description().to_owned(),
                category: category_of(t),
            })
            .collect();
        Index::build(&docs)
            .search(query)
            .into_iter()
            .map(|h| (h.index, h.score))
            .collect()
    };
    let total = ranked.len();
    let results: Vec<Value> = ranked
        .into_iter()
        .take(limit)
        .map(|(i, score)| {
            let t = candidates[i];
            json!({
                "name": t.name,
                "description": one_line(t.description()),
                "category": category_of(t),
                "server": t.server(),
                "score": (score * 1000.0).round() / 1000.0,
            })
        })
        .collect();
    json!({"query": query, "category": category, "matches": total, "results": results})
}

/// `describe_tool`: the full definition, if `visible` lets the tool through.
pub fn describe(
    listing: &Listing,
    visible: impl Fn(&str) -> bool,
    name: &str,
) -> Result<Value, String> {
    let t = visible(name)
        .then(|| listing.listed_named(name))
        .flatten()
        .ok_or_else(|| {
            format!("no tool `{name}` is available to this session: search_tools lists the ones that are")
        })?;
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("category".into(), json!(listing.category(name)));
        o.insert(
            "server".into(),
            json!(listing.catalog.tool(name).map(|r| r.server)),
        );
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_takes_the_first_sentence() {
        assert_eq!(one_line("Reads a file. Then more."), "Reads a file");
        assert_eq!(one_line(""), "");
        assert!(one_line(&"x".repeat(500)).ends_with("..."));
    }

    #[test]
    fn meta_tools_are_valid_definitions() {
        let names: Vec<String> = search_mode_tools(&["web".into()])
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        assert_eq!(names, [SEARCH_TOOLS, DESCRIBE_TOOL, CALL_TOOL]);
        assert_eq!(analyze_prompt_tool().name, ANALYZE_PROMPT);
    }
}
