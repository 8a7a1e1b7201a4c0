//! `tool-categories-llm.json`: the LLM's answers, keyed by the server and a hash of
//! the tool's definition, so that a restart with unchanged servers asks nothing and a
//! changed tool is asked again. Same tool name on two servers never collides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::category::{Guess, ToolBrief};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub category: String,
    pub confidence: f32,
    pub server: String,
    pub tool: String,
    pub provider: String,
    pub model: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug)]
pub struct Cache {
    path: Option<PathBuf>,
    entries: BTreeMap<String, Entry>,
}

/// `<server>/<tool>#<hash of the definition>`: readable in the file, and a changed
/// description or schema makes a new key.
pub fn key(tool: &ToolBrief) -> String {
    let mut canonical = String::new();
    write_canonical(
        &serde_json::json!({
            "name": tool.name,
            "description": tool.description,
            "inputSchema": tool.input_schema,
        }),
        &mut canonical,
    );
    format!(
        "{}/{}#{:016x}",
        tool.server,
        tool.name,
        crate::hub::catalog::fnv1a(canonical.as_bytes())
    )
}

/// JSON with object keys sorted, so that a server that reorders its schema's keys
/// keeps its cache entries.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

impl Cache {
    /// An empty cache that is never written (tests, no state directory).
    pub fn in_memory() -> Cache {
        Cache {
            path: None,
            entries: BTreeMap::new(),
        }
    }

    /// Loads the file at `path`. A missing file is an empty cache; a garbled one is
    /// moved aside (`.corrupt-<time>`) so that the next write loses nothing of it.
    pub fn load(path: &Path) -> Cache {
        let path = path.to_owned();
        let entries = match std::fs::read(&path) {
            Err(_) => BTreeMap::new(),
            Ok(bytes) => match serde_json::from_slice::<File>(&bytes) {
                Ok(f) => f.entries,
                Err(e) => {
                    let aside = path.with_extension(format!(
                        "json.corrupt-{}",
                        Utc::now().format("%Y%m%d-%H%M%S")
                    ));
                    let moved = std::fs::rename(&path, &aside).is_ok();
                    tracing::warn!(
                        error = %e,
                        "{} is not a category cache ({e}); {}; starting with an empty cache",
                        path.display(),
                        if moved { format!("kept it as {}", aside.display()) } else { "left it in place".into() }
                    );
                    BTreeMap::new()
                }
            },
        };
        Cache {
            path: Some(path),
            entries,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached answer for `key`, unless it is older than `ttl` (0 = never expires).
    pub fn get(&self, key: &str, ttl: Duration) -> Option<Guess> {
        let e = self.entries.get(key)?;
        if !ttl.is_zero() {
            let age = Utc::now().signed_duration_since(e.at);
            if age.to_std().is_ok_and(|a| a > ttl) {
                return None;
            }
        }
        Some(Guess {
            category: e.category.clone(),
            confidence: e.confidence,
        })
    }

    pub fn insert(&mut self, key: String, entry: Entry) {
        self.entries.insert(key, entry);
    }

    /// Writes the file atomically (temp file + rename, mode 0600).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let file = File {
            version: 1,
            entries: self.entries.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
        crate::state::write_atomic(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "tool-categories-llm.json";
    use serde_json::json;

    fn brief(server: &str, description: &str, schema: Value) -> ToolBrief {
        ToolBrief {
            server: server.into(),
            name: "search".into(),
            description: description.into(),
            input_schema: schema,
        }
    }

    #[test]
    fn key_names_the_server_and_changes_with_the_definition_only() {
        let a = brief(
            "github",
            "Search code",
            json!({"type": "object", "properties": {"q": {}, "page": {}}}),
        );
        let reordered = brief(
            "github",
            "Search code",
            json!({"properties": {"page": {}, "q": {}}, "type": "object"}),
        );
        assert_eq!(key(&a), key(&reordered));
        assert!(key(&a).starts_with("github/search#"));
        assert_ne!(
            key(&a),
            key(&brief("gitlab", "Search code", a.input_schema.clone()))
        );
        assert_ne!(
            key(&a),
            key(&brief("github", "Search issues", a.input_schema.clone()))
        );
    }

    #[test]
    fn survives_a_restart_and_sets_a_garbled_file_aside() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cache::load(&dir.path().join(FILE));
        assert!(c.is_empty());
        c.insert(
            "s/t#1".into(),
            Entry {
                category: "web".into(),
                confidence: 0.9,
                server: "s".into(),
                tool: "t".into(),
                provider: "openai".into(),
                model: "m".into(),
                at: Utc::now(),
            },
        );
        c.save().unwrap();
        let again = Cache::load(&dir.path().join(FILE));
        assert_eq!(
            again
                .get("s/t#1", Duration::from_secs(60))
                .unwrap()
                .category,
            "web"
        );
        assert!(again.get("s/t#1", Duration::from_nanos(1)).is_none());

        std::fs::write(dir.path().join(FILE), b"{\"version\":1,\"entr").unwrap();
        let torn = Cache::load(&dir.path().join(FILE));
        assert!(torn.is_empty());
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().contains("corrupt"));
        assert!(aside, "the garbled file is kept beside");
    }
}
