//! The quick way to open a plain file in the served folder: one `openat2` beneath the root.
//!
//! [`resolve`](crate::resolve::resolve) decides containment the obvious way: canonicalise the root
//! and the candidate (`realpath`, which costs a `readlink` per path component) and compare them.
//! That stays the rule. But nearly every request names a regular file reached through plain
//! directories, and for those the kernel can give the same answer in one call: `openat2`,
//! relative to a handle on the root, with
//!
//! - `RESOLVE_BENEATH`: no step of the lookup may leave the root, and
//! - `RESOLVE_NO_SYMLINKS`: no component may be a symbolic link.
//!
//! A [`CleanPath`] has no `..` and no `.`, so with no symlink anywhere on the way the root's
//! canonical path followed by the path's segments *is* the file's canonical path: it lies inside
//! the root by construction, exactly what the slow check would have concluded.
//!
//! Whatever this module is not sure about (a symlink on the way, a directory, a missing or
//! unreadable file, a kernel or sandbox without `openat2`) it declines by returning `None`, and
//! the slow path answers from scratch. Answers therefore never differ; only their cost does. As on
//! the slow path, a FIFO or device is refused without being opened: the entry is looked at first
//! (`fstatat`, not following a final symlink) and opened only if it is a world-readable regular
//! file; the open is non-blocking, and the opened file must be the one looked at.
//!
//! The handle on the root is opened once per thread and root path. Every request still checks,
//! with one `stat` of the root path, that the path names the same directory: when it does not (a
//! deploy that swaps a `public` symlink, a folder moved away) the handle is reopened, so the server
//! follows the change as it did when it resolved the root afresh on every request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, SFlag};

use crate::mime::mime_for;
use crate::resolve::{CleanPath, FoundFile};

/// Others may read the file: the course serves only such files.
const WORLD_READABLE: u32 = 0o004;

/// An open root directory, and which directory it is.
struct Root {
    dir: File,
    /// Its canonical path, for the found file's path.
    canonical: PathBuf,
    dev: u64,
    ino: u64,
}

thread_local! {
    /// The roots this thread has served from, by the path the config gives.
    static ROOTS: RefCell<HashMap<PathBuf, Root>> = RefCell::new(HashMap::new());
}

/// Open `path` under `root` if it is a world-readable regular file reached without any symbolic
/// link; `None` when anything else is the case, for the slow path to decide.
pub(crate) fn open_plain_file(root: &Path, path: &CleanPath) -> Option<FoundFile> {
    let relative = path.as_str().strip_prefix('/')?;
    // The root itself, or a path written as a directory: the slow path's business.
    if relative.is_empty() || relative.ends_with('/') {
        return None;
    }
    ROOTS.with(|roots| {
        let mut roots = roots.borrow_mut();
        let root = current_root(&mut roots, root)?;
        open_in(root, relative)
    })
}

/// The handle on `root`, opened again if the path now names another directory.
fn current_root<'a>(roots: &'a mut HashMap<PathBuf, Root>, path: &Path) -> Option<&'a Root> {
    let now = std::fs::metadata(path).ok()?;
    if !now.is_dir() {
        return None;
    }
    let known = roots
        .get(path)
        .is_some_and(|root| root.dev == now.dev() && root.ino == now.ino());
    if !known {
        roots.remove(path);
        let dir = File::open(path).ok()?;
        let canonical = std::fs::canonicalize(path).ok()?;
        let opened = dir.metadata().ok()?;
        let named = std::fs::metadata(&canonical).ok()?;
        // Swapped while we looked: decline this time, try again on the next request.
        if (opened.dev(), opened.ino()) != (named.dev(), named.ino()) {
            return None;
        }
        let root = Root {
            dir,
            canonical,
            dev: opened.dev(),
            ino: opened.ino(),
        };
        roots.insert(path.to_path_buf(), root);
    }
    roots.get(path)
}

/// Look at `relative` under the root, then open it if it is a world-readable regular file.
fn open_in(root: &Root, relative: &str) -> Option<FoundFile> {
    let dir = root.dir.as_raw_fd();
    let seen = fstatat(Some(dir), relative, AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
    let regular = SFlag::from_bits_truncate(seen.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
    if !regular || seen.st_mode & WORLD_READABLE == 0 {
        return None;
    }
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    let fd = openat2(dir, relative, how).ok()?;
    // SAFETY: `openat2` has just returned this descriptor; nothing else owns or closes it.
    let file = unsafe { File::from_raw_fd(fd) };
    let opened = file.metadata().ok()?;
    let same = opened.dev() == seen.st_dev && opened.ino() == seen.st_ino;
    if !same || !opened.is_file() || opened.mode() & WORLD_READABLE == 0 {
        return None;
    }
    let path = root.canonical.join(relative);
    Some(FoundFile {
        mime: mime_for(&path),
        size: opened.len(),
        file,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn clean(path: &str) -> CleanPath {
        CleanPath::parse(path).unwrap()
    }

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("public");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("a.txt"), b"hello").unwrap();
        fs::write(root.join("sub/b.html"), b"<p>").unwrap();
        fs::write(dir.path().join("secret.txt"), b"secret").unwrap();
        (dir, root)
    }

    #[test]
    fn opens_plain_files_with_their_canonical_path() {
        let (_dir, root) = tree();
        let found = open_plain_file(&root, &clean("/a.txt")).unwrap();
        assert_eq!(found.size, 5);
        assert_eq!(found.mime, "text/plain");
        assert_eq!(found.path, fs::canonicalize(root.join("a.txt")).unwrap());
        let nested = open_plain_file(&root, &clean("/sub/b.html")).unwrap();
        assert_eq!(nested.mime, "text/html");
    }

    #[test]
    fn declines_what_the_slow_path_must_judge() {
        let (dir, root) = tree();
        symlink(dir.path().join("secret.txt"), root.join("out.txt")).unwrap();
        symlink(root.join("a.txt"), root.join("in.txt")).unwrap();
        symlink(root.join("sub"), root.join("subdir")).unwrap();
        fs::write(root.join("private.txt"), b"x").unwrap();
        fs::set_permissions(root.join("private.txt"), fs::Permissions::from_mode(0o640)).unwrap();
        for path in [
            "/",
            "/sub",
            "/sub/",
            "/a.txt/",
            "/missing.txt",
            "/out.txt",
            "/in.txt",
            "/subdir/b.html",
            "/private.txt",
        ] {
            assert!(
                open_plain_file(&root, &clean(path)).is_none(),
                "{path} must be left to the slow path"
            );
        }
    }

    #[test]
    fn follows_a_root_swapped_under_the_same_path() {
        let (dir, _) = tree();
        let first = dir.path().join("v1");
        let second = dir.path().join("v2");
        fs::create_dir(&first).unwrap();
        fs::create_dir(&second).unwrap();
        fs::write(first.join("f.txt"), b"one").unwrap();
        fs::write(second.join("f.txt"), b"two!").unwrap();
        let current = dir.path().join("current");
        symlink(&first, &current).unwrap();
        assert_eq!(open_plain_file(&current, &clean("/f.txt")).unwrap().size, 3);
        // Swap the link atomically, as a deploy would.
        symlink(&second, dir.path().join("next")).unwrap();
        fs::rename(dir.path().join("next"), &current).unwrap();
        let found = open_plain_file(&current, &clean("/f.txt")).unwrap();
        assert_eq!(found.size, 4);
        assert_eq!(found.path, fs::canonicalize(second.join("f.txt")).unwrap());
    }
}
