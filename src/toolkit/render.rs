//! Output for people and for machines: tables that fall back to plain ASCII when not
//! on a terminal. (Check commands' forms, the Nagios line among them, are `report`'s.)

use std::io::IsTerminal;

use comfy_table::{ContentArrangement, Table, presets};

/// Output formats of the toolkit's reporting commands (`measure`, `summary`); check
/// commands have [`crate::toolkit::report::CheckFormat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Colour only on a terminal, and never with `NO_COLOR` set.
pub fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    if std::io::stdout().is_terminal() {
        t.load_preset(presets::UTF8_FULL_CONDENSED);
        t.set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        t.load_preset(presets::ASCII_MARKDOWN);
    }
    t.set_header(header.iter().map(|h| h.to_string()));
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
}

/// "N/A" for missing figures: zero load is no data, never 0% or "N/Ams".
pub fn or_na(v: Option<f64>, unit: &str, digits: usize) -> String {
    match v {
        Some(v) => format!("{v:.digits$}{unit}"),
        None => "N/A".into(),
    }
}
