//! What a check command (`check-alerts`, `detect-anomalies`, `validate`) found, in each
//! form it prints, and the one place that prints it and picks the exit code.
//!
//! The exit code is the Nagios plugin contract: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

use std::process::ExitCode;

use serde::Serialize;

use crate::toolkit::render::table;

/// The exit code contract of check commands (Nagios plugin convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckStatus {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl CheckStatus {
    pub fn word(self) -> &'static str {
        match self {
            CheckStatus::Ok => "OK",
            CheckStatus::Warning => "WARNING",
            CheckStatus::Critical => "CRITICAL",
            CheckStatus::Unknown => "UNKNOWN",
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

/// As its word (`"OK"`, `"WARNING"`, …), the form scripts read in JSON output.
impl Serialize for CheckStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.word())
    }
}

/// How a check command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
    /// One Nagios plugin line: `MCPHUB <STATUS> - <summary> | <perfdata>`.
    Nagios,
}

/// One Nagios perfdata item.
#[derive(Debug, Clone, PartialEq)]
pub struct Perf {
    pub label: &'static str,
    /// `None` prints `U` (no data), never 0.
    pub value: Option<f64>,
    pub unit: &'static str,
    pub warn: Option<f64>,
    pub crit: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Perf {
    pub fn new(label: &'static str, value: Option<f64>, unit: &'static str) -> Perf {
        Perf {
            label,
            value,
            unit,
            warn: None,
            crit: None,
            min: None,
            max: None,
        }
    }

    pub fn warn(mut self, v: f64) -> Perf {
        self.warn = Some(v);
        self
    }

    pub fn crit(mut self, v: f64) -> Perf {
        self.crit = Some(v);
        self
    }

    pub fn range(mut self, min: f64, max: f64) -> Perf {
        self.min = Some(min);
        self.max = Some(max);
        self
    }

    /// `'label'=value[UOM];warn;crit;min;max`.
    fn render(&self) -> String {
        let f = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
        let value = self
            .value
            .map(|v| format!("{v}{}", self.unit))
            .unwrap_or_else(|| "U".into());
        format!(
            "'{}'={value};{};{};{};{}",
            self.label,
            f(self.warn),
            f(self.crit),
            f(self.min),
            f(self.max)
        )
    }
}

/// The table form: a table with a line before or after it, or just lines.
#[derive(Debug, Clone, Default)]
pub struct TableForm {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    /// Printed after the table (or alone when there are no rows).
    pub footer: Vec<String>,
}

/// A check's result in every form it prints.
#[derive(Debug, Clone)]
pub struct CheckReport<J> {
    pub status: CheckStatus,
    /// The JSON form.
    pub json: J,
    pub table: TableForm,
    /// The Nagios form: what is wrong (or the all-clear), and the figures.
    pub summary: String,
    pub perfdata: Vec<Perf>,
}

impl<J: Serialize> CheckReport<J> {
    pub fn render(&self, format: CheckFormat) -> String {
        match format {
            CheckFormat::Json => serde_json::to_string_pretty(&self.json).unwrap_or_default(),
            CheckFormat::Nagios => {
                let perf: Vec<String> = self.perfdata.iter().map(Perf::render).collect();
                format!(
                    "MCPHUB {} - {} | {}",
                    self.status.word(),
                    self.summary,
                    perf.join(" ")
                )
            }
            CheckFormat::Table => {
                let mut out = Vec::new();
                if !self.table.rows.is_empty() {
                    out.push(table(&self.table.header, self.table.rows.clone()));
                }
                out.extend(self.table.footer.iter().cloned());
                out.join("\n")
            }
        }
    }

    /// Prints the report and returns the exit code its status stands for.
    pub fn emit(&self, format: CheckFormat) -> ExitCode {
        println!("{}", self.render(format));
        ExitCode::from(self.status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: CheckStatus) -> CheckReport<serde_json::Value> {
        CheckReport {
            status,
            json: serde_json::json!({"status": status.word()}),
            table: TableForm {
                header: vec!["check", "detail"],
                rows: vec![vec!["a".into(), "fine".into()]],
                footer: vec![status.word().into()],
            },
            summary: "1 check passed".into(),
            perfdata: vec![
                Perf::new("rss_mb", Some(12.5), "MB").warn(500.0),
                Perf::new("llm_p95_ms", None, "ms"),
                Perf::new("checks_passed", Some(1.0), "").range(0.0, 1.0),
            ],
        }
    }

    #[test]
    fn the_nagios_line_has_status_summary_and_perfdata() {
        assert_eq!(
            report(CheckStatus::Warning).render(CheckFormat::Nagios),
            "MCPHUB WARNING - 1 check passed | 'rss_mb'=12.5MB;500;;; 'llm_p95_ms'=U;;;; 'checks_passed'=1;;;0;1"
        );
    }

    #[test]
    fn the_table_ends_with_the_status_and_json_is_the_json_form() {
        let r = report(CheckStatus::Ok);
        let t = r.render(CheckFormat::Table);
        assert!(t.contains("fine") && t.ends_with("OK"), "{t}");
        assert_eq!(r.render(CheckFormat::Json), "{\n  \"status\": \"OK\"\n}");
    }
}
