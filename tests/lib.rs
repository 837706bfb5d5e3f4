//! What the course-level tests share: the paths of our binaries.
//!
//! Cargo hands a test the path of its own package's binaries (`CARGO_BIN_EXE_<name>`) and of no
//! other, and this package has none: the stages live in phase0, phase1 and phase2, the checker in
//! xtask. So the first test that asks for a binary runs `cargo build` for the whole workspace's
//! binaries, once per test program, and reads their paths from cargo's JSON messages. Under
//! `cargo test --workspace` they are already built and the call only confirms it (well under a
//! second); `cargo test -p course-tests` alone builds them first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root (this package is its `tests/` folder).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the repository")
}

/// The path of our binary `name` (`stage06_listener`, `expserver`, `xtask`, ...), built with the
/// profile this test was built with.
///
/// Panics with cargo's output if the build fails or no binary has that name.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<HashMap<String, PathBuf>, String>> = OnceLock::new();
    let built = BUILT.get_or_init(build_workspace_binaries);
    match built {
        Ok(paths) => paths
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("the workspace has no binary {name}")),
        Err(why) => panic!("{why}"),
    }
}

/// Builds every binary of the workspace and returns their paths by name.
///
/// `--examples` is there for what it does to features, not for examples (the workspace has
/// none): it makes cargo resolve features as `cargo test` does, dev-dependencies included, so the
/// binaries are the very files `cargo test --workspace` has just built. Without it cargo would
/// resolve some shared crates with fewer features and build every binary a second time.
fn build_workspace_binaries() -> Result<HashMap<String, PathBuf>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command.current_dir(repo_root()).args([
        "build",
        "--workspace",
        "--bins",
        "--examples",
        "--message-format=json",
    ]);
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo build --workspace --bins` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let mut paths = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let name = message["target"]["name"].as_str();
        let executable = message["executable"].as_str();
        if let (Some(name), Some(executable)) = (name, executable) {
            paths.insert(name.to_string(), PathBuf::from(executable));
        }
    }
    if paths.is_empty() {
        return Err("cargo reported no binaries".to_string());
    }
    Ok(paths)
}
