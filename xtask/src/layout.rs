//! The official grader's directory layout, rebuilt in a temporary directory.
//!
//! The grader runs every binary with working directory `/usr/src/app`, the sample files in
//! `/usr/src/public` and, for stage 12, a file in `/usr/src/temp/file.txt` that must be refused.
//! Reproducing that shape (`<tmp>/app`, `<tmp>/public`, `<tmp>/temp`) means relative defaults such
//! as `../public/sample.txt` resolve exactly as they do under the grader, for our binaries and a
//! student's alike.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::TempDir;

/// The text the grader writes into `/usr/src/temp/file.txt`.
pub const REFUSED_FILE_TEXT: &str = "Some sample data\n";

/// The repository root (the workspace that holds `xtask/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A temporary `app/`, `public/`, `temp/` tree, removed when dropped.
pub struct Layout {
    root: TempDir,
}

impl Layout {
    /// Builds the layout, copying the repository's `public/` folder.
    pub fn new() -> Result<Layout> {
        let root = tempfile::Builder::new().prefix("xps-check-").tempdir()?;
        let layout = Layout { root };
        fs::create_dir(layout.app())?;
        fs::create_dir(layout.temp())?;
        copy_dir(&repo_root().join("public"), &layout.public())
            .context("cannot copy the repository's public/ folder")?;
        let refused = layout.temp().join("file.txt");
        fs::write(&refused, REFUSED_FILE_TEXT)?;
        // The grader makes the file readable by others, so only the path rule can refuse it.
        fs::set_permissions(&refused, fs::Permissions::from_mode(0o644))?;
        Ok(layout)
    }

    /// The root of the temporary tree.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The working directory of the program under test (`/usr/src/app` in the grader).
    pub fn app(&self) -> PathBuf {
        self.root.path().join("app")
    }

    /// The sample files (`/usr/src/public`).
    pub fn public(&self) -> PathBuf {
        self.root.path().join("public")
    }

    /// Where the refused file lives (`/usr/src/temp`).
    pub fn temp(&self) -> PathBuf {
        self.root.path().join("temp")
    }

    /// The config path the grader passes as the first argument of every binary.
    pub fn config_path(&self) -> PathBuf {
        self.public().join("xps_config.json")
    }
}

/// Copies a directory tree (files and folders only).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
