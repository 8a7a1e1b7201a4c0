//! Lays out the functions a hub runs side by side in the `mcphub` binary.
//!
//! The kernel maps a binary's code in 64 kB runs around each page a process touches.
//! The 1,500 functions an idle hub has run lie spread over 6 MB of its 9.6 MB of code,
//! which made two thirds of its resident size; side by side they take 1 MB (idle RSS
//! 10 → 5.8 MB, BENCHMARKS.md "Code laid out by use"). `link/hot-functions.txt` lists them,
//! first those of an idle hub, then those of a working one; the bench writes it
//! (`cargo bench --bench hub -- --link-order link/hot-functions.txt`).
//!
//! The list goes to the linker as lld's symbol ordering file. Rust links with its own
//! lld on x86_64 Linux from 1.90 on, unless the build names another linker; the other
//! linkers do not take that option, so for them (and for unoptimized builds, whose
//! symbols are not those listed) nothing is added and the binary is laid out as the
//! linker pleases. `MCPHUB_LINK_ORDER=0` turns it off. A name the list has and the
//! binary lacks (a stale list) is skipped without a word: it costs memory, never
//! correctness.

use std::env;
use std::process::Command;

const ORDER: &str = "link/hot-functions.txt";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-env-changed=MCPHUB_LINK_ORDER");
    if let Some(why_not) = why_not_ordered() {
        // Shown with `cargo build -vv`.
        println!("mcphub: the binary's functions are not ordered: {why_not}");
        return;
    }
    let dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    println!("cargo:rustc-link-arg-bin=mcphub=-Wl,--symbol-ordering-file={dir}/{ORDER}");
    println!("cargo:rustc-link-arg-bin=mcphub=-Wl,--no-warn-symbol-ordering");
}

/// Why this build cannot take the ordering file, if it cannot.
fn why_not_ordered() -> Option<String> {
    let var = |name: &str| env::var(name).unwrap_or_default();
    if var("MCPHUB_LINK_ORDER") == "0" {
        return Some("MCPHUB_LINK_ORDER=0".into());
    }
    let target = (
        var("CARGO_CFG_TARGET_ARCH"),
        var("CARGO_CFG_TARGET_OS"),
        var("CARGO_CFG_TARGET_ENV"),
    );
    if target != ("x86_64".into(), "linux".into(), "gnu".into()) {
        return Some(format!("{target:?} is not linked by Rust's own lld"));
    }
    if var("OPT_LEVEL") == "0" {
        return Some("an unoptimized build".into());
    }
    if !env::var_os("RUSTC_LINKER").is_none_or(|l| l.is_empty()) {
        return Some("the build names its own linker".into());
    }
    if !std::path::Path::new(ORDER).exists() {
        return Some(format!("{ORDER} is missing"));
    }
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    if ["linker", "fuse-ld", "link-self-contained"]
        .iter()
        .any(|f| flags.contains(f))
    {
        return Some("the build's flags choose the linker".into());
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    match minor {
        Some(m) if m >= 90 => None,
        _ => Some(format!("{} links with the system's linker", version.trim())),
    }
}
