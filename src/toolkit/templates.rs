//! Markdown reports rendered from `templates/` with minijinja. Each template can be
//! overridden by the user (`--template FILE`, or a file of the same name in
//! `$XDG_CONFIG_HOME/mcphub/templates/`).

use std::path::{Path, PathBuf};

use minijinja::{Environment, Value};
use serde::Serialize;

pub const BASELINE: (&str, &str) = ("baseline.md", include_str!("../../templates/baseline.md"));
pub const SUMMARY: (&str, &str) = ("summary.md", include_str!("../../templates/summary.md"));
pub const PROMETHEUS_RULES: (&str, &str) = (
    "prometheus-rules.yml",
    include_str!("../../templates/prometheus-rules.yml"),
);

/// `value` with `unit` and `digits` decimals, or "N/A" when there is no figure: zero
/// load is "no data", never "0%" or "N/Ams".
fn na(v: Value, unit: &str, digits: usize) -> String {
    if v.is_none() || v.is_undefined() {
        return "N/A".into();
    }
    match f64::try_from(v.clone()) {
        Ok(x) => format!("{x:.digits$}{unit}"),
        Err(_) => format!("{v}{unit}"),
    }
}

fn user_template(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let p = base.join("mcphub/templates").join(name);
    p.exists().then_some(p)
}

/// Renders `template` (name, built-in text) with `ctx`, preferring `override_path`,
/// then the user's template directory.
pub fn render(
    template: (&str, &str),
    override_path: Option<&Path>,
    ctx: impl Serialize,
) -> Result<String, String> {
    let (name, builtin) = template;
    let source = match override_path
        .map(PathBuf::from)
        .or_else(|| user_template(name))
    {
        Some(p) => std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => builtin.to_owned(),
    };
    let mut env = Environment::new();
    env.add_filter("na", na);
    env.add_template_owned(name.to_owned(), source)
        .map_err(|e| format!("template {name}: {e}"))?;
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| format!("template {name}: {e}"))
}
