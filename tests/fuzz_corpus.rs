//! Replays every committed fuzz input — the corpora in `fuzz/corpus/<target>/` and the
//! crashes once found in `fuzz/regressions/<target>/` — through the same harness
//! functions the cargo-fuzz targets call (`fuzz/harness.rs`), on the stable toolchain,
//! so a crash once found stays fixed. The fuzzing itself is `fuzz/run`.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        for entry in dir.flatten() {
            let path = entry.path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn replay(target: &str, run: Target) {
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "no inputs for the `{target}` fuzz target under fuzz/corpus or fuzz/regressions"
    );
    let mut failed = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} `{target}` inputs panicked (messages above): {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn config_corpus() {
    replay("config", harness::config);
}

#[test]
fn log_line_corpus() {
    replay("log_line", harness::log_line);
}

#[test]
fn llm_answer_corpus() {
    replay("llm_answer", harness::llm_answer);
}

#[test]
fn crontab_corpus() {
    replay("crontab", harness::crontab);
}

#[test]
fn jsonrpc_corpus() {
    replay("jsonrpc", harness::jsonrpc);
}

#[test]
fn http_front_corpus() {
    replay("http_front", harness::http_front);
}
