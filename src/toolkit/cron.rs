//! The monitoring schedule as one marked block in the user's crontab, merged without
//! touching anything else in it.

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Local};

pub const BEGIN: &str = "# BEGIN mcphub";
pub const END: &str = "# END mcphub";

/// One scheduled toolkit run.
#[derive(Debug, Clone)]
pub struct Job {
    pub schedule: &'static str,
    pub args: &'static [&'static str],
    pub what: &'static str,
}

/// The report's schedule. Every command named here exists (`prune` included).
pub const DEFAULT_JOBS: &[Job] = &[
    Job {
        schedule: "0 9-18 * * 1-5",
        args: &["detect-anomalies", "--window", "1h"],
        what: "hourly anomaly detection, weekdays 9-18",
    },
    Job {
        schedule: "59 23 * * *",
        args: &["measure", "--duration", "60s"],
        what: "nightly 60 s performance baseline",
    },
    Job {
        schedule: "0 0 * * *",
        args: &["summary", "--date", "yesterday"],
        what: "daily summary report",
    },
    Job {
        schedule: "0 2 * * 0",
        args: &["validate"],
        what: "weekly validation",
    },
    Job {
        schedule: "0 3 * * 0",
        args: &["prune"],
        what: "weekly pruning of monitoring history and old logs",
    },
];

/// Parses crontab's five fields (minute hour day-of-month month day-of-week).
pub fn parse_schedule(expr: &str) -> Result<croner::Cron, String> {
    if expr.split_whitespace().count() != 5 {
        return Err(format!("`{expr}` must have crontab's five fields"));
    }
    croner::Cron::from_str(expr).map_err(|e| format!("`{expr}`: {e}"))
}

pub fn next_run(expr: &str, after: DateTime<Local>) -> Result<DateTime<Local>, String> {
    parse_schedule(expr)?
        .find_next_occurrence(&after, false)
        .map_err(|e| format!("`{expr}`: {e}"))
}

/// Single-quotes a word for the `/bin/sh` that cron runs lines with.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// In a crontab command, an unescaped `%` is a newline; escape every one.
pub fn escape_percent(s: &str) -> String {
    s.replace('%', r"\%")
}

/// The block for `binary` (absolute), with the toolkit's output appended to `log`.
/// `state_dir` is passed to every run when the user chose a non-default one.
pub fn render_block(
    binary: &Path,
    log: &Path,
    state_dir: Option<&Path>,
    jobs: &[Job],
) -> Result<String, String> {
    if !binary.is_absolute() {
        return Err(format!(
            "{} is not an absolute path: cron runs with another PATH",
            binary.display()
        ));
    }
    let mut out = format!("{BEGIN} (managed by `mcphub install-cron`; remove with --uninstall)\n");
    for job in jobs {
        parse_schedule(job.schedule)?;
        let env = state_dir
            .map(|d| {
                format!(
                    "MCPHUB_STATE_DIR={} ",
                    shell_quote(&d.display().to_string())
                )
            })
            .unwrap_or_default();
        let args: Vec<String> = job.args.iter().map(|a| shell_quote(a)).collect();
        let command = format!(
            "{env}{} {} >> {} 2>&1",
            shell_quote(&binary.display().to_string()),
            args.join(" "),
            shell_quote(&log.display().to_string())
        );
        out.push_str(&format!("# {}\n", job.what));
        out.push_str(&format!("{} {}\n", job.schedule, escape_percent(&command)));
    }
    out.push_str(END);
    out.push('\n');
    Ok(out)
}

/// Where our block is among a crontab's `lines`, if it has exactly one whole block.
fn find_block(lines: &[&str]) -> Result<Option<(usize, usize)>, String> {
    let begins: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].trim_start().starts_with(BEGIN))
        .collect();
    let ends: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].trim() == END)
        .collect();
    match (begins.as_slice(), ends.as_slice()) {
        ([], []) => Ok(None),
        ([b], [e]) if b < e => Ok(Some((*b, *e))),
        _ => Err(format!(
            "the crontab has {} `{BEGIN}` and {} `{END}` lines, not one whole block: \
             fix it by hand with `crontab -e` (a backup was taken), then run install-cron again",
            begins.len(),
            ends.len()
        )),
    }
}

/// `crontab` with our block set to `block` (or removed when `None`), every other line
/// kept as it was. Errors on a half-present block rather than guessing.
pub fn merge(crontab: &str, block: Option<&str>) -> Result<String, String> {
    // Lines as cron counts them (split at \n only): a CRLF line keeps its \r, so
    // foreign entries are written back exactly as they were.
    let lines: Vec<&str> = crontab.split_terminator('\n').collect();
    let mut out = String::new();
    match find_block(&lines)? {
        Some((b, e)) => {
            for l in &lines[..b] {
                out.push_str(l);
                out.push('\n');
            }
            if let Some(block) = block {
                out.push_str(block);
            }
            for l in &lines[e + 1..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        None => {
            for l in &lines {
                out.push_str(l);
                out.push('\n');
            }
            if let Some(block) = block {
                out.push_str(block);
            }
        }
    }
    Ok(out)
}

/// The crontab program: `MCPHUB_CRONTAB` (tests, unusual systems), else `crontab`.
pub fn crontab_program() -> String {
    std::env::var("MCPHUB_CRONTAB")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "crontab".into())
}

/// The current user's crontab; none yet reads as empty.
pub fn read_crontab(program: &str) -> Result<String, String> {
    let out = std::process::Command::new(program)
        .arg("-l")
        .output()
        .map_err(|e| {
            format!("cannot run `{program} -l`: {e} (install cron, or set MCPHUB_CRONTAB)")
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.to_ascii_lowercase().contains("no crontab") {
        return Ok(String::new());
    }
    Err(format!("`{program} -l` failed: {}", err.trim()))
}

pub fn write_crontab(program: &str, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = std::process::Command::new(program)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{program} -`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("writing to `{program} -`: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "`{program} -` refused the new crontab: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn crlf_foreign_lines_are_kept_as_they_were_and_merging_is_idempotent() {
        let crontab = "MAILTO=me\r\n0 0 * * * /usr/bin/backup\r\nlast\r";
        let block = "# BEGIN mcphub\n0 3 * * 0 x\n# END mcphub";
        let once = super::merge(crontab, Some(block)).unwrap();
        assert!(
            once.starts_with("MAILTO=me\r\n0 0 * * * /usr/bin/backup\r\nlast\r\n"),
            "{once:?}"
        );
        assert_eq!(super::merge(&once, Some(block)).unwrap(), once);
    }

    use super::*;

    fn block() -> String {
        render_block(
            Path::new("/opt/my 100% hub/mcphub"),
            Path::new("/var/log/cron.log"),
            None,
            DEFAULT_JOBS,
        )
        .unwrap()
    }

    #[test]
    fn every_default_schedule_is_valid_and_weekdays_are_crontabs() {
        for job in DEFAULT_JOBS {
            parse_schedule(job.schedule).unwrap();
        }
        // 2026-11-21 is a Saturday: the weekday job next runs on Monday 09:00.
        let sat = Local.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        let next = next_run("0 9-18 * * 1-5", sat).unwrap();
        assert_eq!(next.format("%a %H:%M").to_string(), "Mon 09:00");
        assert!(
            parse_schedule("0 0 9 * * 1").is_err(),
            "six fields are not crontab"
        );
        assert!(parse_schedule("61 * * * *").is_err());
    }

    use chrono::TimeZone;

    #[test]
    fn paths_are_quoted_and_percent_escaped() {
        let b = block();
        assert!(b.contains(r"'/opt/my 100\% hub/mcphub' 'validate'"), "{b}");
        assert!(!b.contains(" 100% "), "{b}");
        assert_eq!(b.lines().filter(|l| !l.starts_with('#')).count(), 5);
        assert!(render_block(Path::new("mcphub"), Path::new("/l"), None, DEFAULT_JOBS).is_err());
    }

    #[test]
    fn merge_keeps_foreign_lines_is_idempotent_and_refuses_half_blocks() {
        let foreign = "MAILTO=me\n*/5 * * * * /usr/bin/backup # mine";
        let once = merge(foreign, Some(&block())).unwrap();
        assert!(
            once.starts_with("MAILTO=me\n*/5 * * * * /usr/bin/backup # mine\n# BEGIN mcphub"),
            "{once}"
        );
        assert_eq!(merge(&once, Some(&block())).unwrap(), once);
        let removed = merge(&once, None).unwrap();
        assert_eq!(removed, format!("{foreign}\n"));
        let half = format!("{foreign}\n{BEGIN}\n0 0 * * * x\n");
        assert!(
            merge(&half, Some(&block()))
                .unwrap_err()
                .contains("not one whole block")
        );
        let twice = format!("{once}{once}");
        assert!(merge(&twice, None).is_err());
    }
}
