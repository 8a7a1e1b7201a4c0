//! The layer check (ARCHITECTURE.md): every `crate::` and `super::` path in `src/`
//! points down, never up or sideways. It reads the source as text, so it needs no
//! tool beyond the test itself, and it names each offending line.

use std::path::{Path, PathBuf};

/// The library's top-level modules, bottom first: each may use those before it.
const LAYERS: &[&str] = &[
    "util",
    "api",
    "state",
    "telemetry",
    "config",
    "mcp",
    "hub",
    "front",
];

/// Beside the hub: the toolkit reads a hub through its API, never through its code.
const TOOLKIT_MAY_USE: &[&str] = &["util", "api", "state", "telemetry", "config"];

/// Inside a module, its children bottom first (children of one rank share a slot). A
/// module's own file may use its children; a child may not use its parent's items.
const INNER: &[(&str, &[&[&str]])] = &[
    (
        "mcp",
        &[
            &["model", "oversize", "stdio"],
            &["rounds", "offer"],
            &["sessions", "legacy_sse_client", "oauth"],
            &["polling"],
            &["client"],
            &["server", "legacy_sse"],
        ],
    ),
    (
        "hub",
        &[
            &["backends", "catalog", "error"],
            &["filtering", "marketplace"],
            &["lifecycle"],
            &["calls", "watch"],
        ],
    ),
    (
        "hub::filtering",
        &[
            &["category", "search"],
            &["heuristic", "cache", "listing"],
            &["llm", "meta"],
            &["engine"],
        ],
    ),
    (
        "hub::filtering::llm",
        &[&["answer", "breaker"], &["provider"]],
    ),
    ("hub::filtering::heuristic", &[&["vocabulary"], &["table"]]),
    ("front", &[&["mcp", "rest"], &["http"], &["serve"]]),
];

fn rank(list: &[&[&str]], name: &str) -> Option<usize> {
    list.iter().position(|slot| slot.contains(&name))
}

/// The module path of a source file: `src/hub/filtering/llm.rs` is `hub::filtering::llm`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [only] if only == "lib" => vec![],
        _ => parts,
    }
}

/// Every module path a line names: `crate::a::b`, or `super::…` resolved from `module`.
fn paths_in(line: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < line.len() {
        let rest = &line[i..];
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let (base, after) = if starts_word && rest.starts_with("crate::") {
            (Vec::new(), &rest["crate::".len()..])
        } else if starts_word && rest.starts_with("super::") {
            let mut base = module.to_vec();
            let mut after = rest;
            while let Some(r) = after.strip_prefix("super::") {
                base.pop();
                after = r;
            }
            (base, after)
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let mut path = base;
        path.extend(
            after
                .split("::")
                .map(|seg| {
                    seg.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .take_while(|seg| !seg.is_empty() && seg.chars().next().unwrap().is_lowercase())
                .filter(|seg| seg != "self"),
        );
        out.push(path);
        i += rest.len() - after.len();
    }
    out
}

/// Why `from` may not use `to`, or `None` when it may.
fn violation(from: &[String], to: &[String]) -> Option<String> {
    let (Some(f), Some(t)) = (from.first(), to.first()) else {
        return None;
    };
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common > 0 {
        let parent = from[..common].join("::");
        let (_, inner) = INNER.iter().find(|(m, _)| *m == parent)?;
        let (Some(fi), Some(ti)) = (from.get(common), to.get(common)) else {
            // The module's own file using its children is how it ties them together.
            return (from.len() > common)
                .then(|| format!("`{}` may not use items of its parent `{parent}`: move them into a child below it", from.join("::")));
        };
        return match (rank(inner, fi), rank(inner, ti)) {
            (Some(a), Some(b)) if b < a => None,
            (Some(_), Some(_)) => Some(format!(
                "`{parent}::{fi}` may not use `{parent}::{ti}`, which is not below it in {parent}"
            )),
            _ => Some(format!(
                "`{parent}::{fi}` or `{parent}::{ti}` has no place in {parent}'s inner layers: add it to INNER"
            )),
        };
    }
    if f == "toolkit" {
        return (!TOOLKIT_MAY_USE.contains(&t.as_str()))
            .then(|| format!("the toolkit may not use `{t}` (only {TOOLKIT_MAY_USE:?})"));
    }
    let pos = |m: &str| LAYERS.iter().position(|l| *l == m);
    match (pos(f), pos(t)) {
        (Some(a), Some(b)) if b < a => None,
        (Some(_), Some(_)) => Some(format!("`{f}` may not use `{t}`, which is not below it")),
        (Some(_), None) if t == "toolkit" => Some(format!("`{f}` may not use the toolkit")),
        _ => Some(format!("`{f}` or `{t}` has no layer: add it to LAYERS")),
    }
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every upward or sideways use in `src`, as `file:line: why`.
fn upward_uses(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let module = module_of(src, &file);
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            // Unit tests sit below the code they test; what they import is theirs.
            if line.trim_start().starts_with("mod tests") {
                break;
            }
            if line.trim_start().starts_with("//") {
                continue;
            }
            for to in paths_in(line, &module) {
                if let Some(why) = violation(&module, &to) {
                    found.push(format!("{}:{}: {why}", file.display(), n + 1));
                }
            }
        }
    }
    found
}

#[test]
fn imports_point_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = upward_uses(&src);
    assert!(
        found.is_empty(),
        "imports that go up or sideways (see ARCHITECTURE.md):\n{}",
        found.join("\n")
    );
}

#[test]
fn a_planted_upward_import_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("hub")).unwrap();
    std::fs::create_dir_all(src.join("toolkit")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod config;\n").unwrap();
    std::fs::write(src.join("config.rs"), "use crate::hub::lifecycle::Hub;\n").unwrap();
    std::fs::write(
        src.join("hub/catalog.rs"),
        "fn f() { super::lifecycle::start(); }\n// crate::front::rest is only named here\n",
    )
    .unwrap();
    std::fs::write(
        src.join("toolkit/observe.rs"),
        "use crate::mcp::client::Handle;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("hub/lifecycle.rs"),
        "use crate::mcp::client::Handle;\n",
    )
    .unwrap();
    let found = upward_uses(src);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].contains("config.rs:1: `config` may not use `hub`"),
        "{found:#?}"
    );
    assert!(
        found[1].contains("catalog.rs:1: `hub::catalog` may not use `hub::lifecycle`"),
        "{found:#?}"
    );
    assert!(
        found[2].contains("observe.rs:1: the toolkit may not use `mcp`"),
        "{found:#?}"
    );
}
