//! `completions/` and `man/` are generated from the CLI definition and committed; this
//! fails when they are stale. Refresh them with `MCPHUB_BLESS=1 cargo test artifacts`.

use std::path::Path;

use crate::support::HUB;

fn bless() -> bool {
    std::env::var_os("MCPHUB_BLESS").is_some()
}

fn compare(committed: &Path, fresh: &[u8]) {
    if bless() {
        std::fs::create_dir_all(committed.parent().unwrap()).unwrap();
        std::fs::write(committed, fresh).unwrap();
        return;
    }
    let old = std::fs::read(committed).unwrap_or_default();
    assert!(
        old == fresh,
        "{} is stale: run `MCPHUB_BLESS=1 cargo test artifacts` and commit the result",
        committed.display()
    );
}

#[test]
fn completions_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    for (shell, file) in [
        ("bash", "mcphub.bash"),
        ("zsh", "_mcphub"),
        ("fish", "mcphub.fish"),
    ] {
        let out = std::process::Command::new(HUB)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(!out.stdout.is_empty());
        compare(&root.join(file), &out.stdout);
    }
}

#[test]
fn man_pages_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(HUB)
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut fresh: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    fresh.sort();
    for name in &fresh {
        compare(
            &root.join(name),
            &std::fs::read(dir.path().join(name)).unwrap(),
        );
    }
    if !bless() {
        let mut committed: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        committed.sort();
        assert_eq!(
            committed, fresh,
            "man/ has pages the CLI no longer has (or lacks new ones)"
        );
    }
    assert!(fresh.iter().any(|n| n == "mcphub-serve.1"));
}
