//! Building our stage binaries before checking them.
//!
//! The checker builds in release mode by default: the memory check streams 4 GB through the
//! server, which takes seconds with optimisations and minutes without.

use std::env;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::layout::repo_root;

/// Which cargo profile to build with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Release,
    Debug,
}

/// Builds `binary` with cargo and returns its path.
pub fn build(binary: &str, profile: Profile) -> Result<PathBuf> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .current_dir(repo_root())
        .args(["build", "--quiet", "--bin", binary]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    let status = command.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("`cargo build --bin {binary}` failed");
    }
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let dir = match profile {
        Profile::Release => "release",
        Profile::Debug => "debug",
    };
    Ok(target_dir.join(dir).join(binary))
}
