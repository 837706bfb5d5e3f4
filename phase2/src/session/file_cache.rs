//! The small-file cache (`expserver` only): the bytes of recently served small files, kept for a
//! second.
//!
//! Serving a 1 KiB file the plain way costs, per request, a path resolution (`openat2`), an
//! `fstat`, a `read` and a `close`, about as much as receiving the request and sending the
//! answer together. A site's small files (pages, icons, scripts) are asked for over and over, so
//! nginx keeps recently opened files in its `open_file_cache`. This cache does the same with the
//! bytes themselves, for files up to the inline limit (64 KiB):
//!
//! - an entry is **trusted for [`VALID_FOR`]** (1 s) after it was read or last checked: within
//!   that time a request is answered from memory with no system call at all;
//! - after that, the next request checks the file with one `lstat` of its resolved path: same
//!   inode, size and modification time, and still a regular file (not replaced by a symbolic
//!   link), and the entry is trusted for another second; otherwise it is dropped and the file is
//!   resolved and read again the safe way.
//!
//! So a changed file is served stale for at most a second, the price nginx's cache asks too
//! (its default validity is 60 s). Everything else about safety is unchanged: an entry is only
//! ever made from a file `resolve` opened inside the root.
//!
//! Memory is bounded: at most [`MAX_BYTES`] of file bytes per thread; when a new file would not
//! fit, the whole cache is emptied and starts over (simple, and popular files come back at once).
//! Each worker thread has its own cache, so no lock is ever taken.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an entry is trusted without looking at the file.
pub const VALID_FOR: Duration = Duration::from_secs(1);

/// The most file bytes one thread's cache holds.
pub const MAX_BYTES: usize = 8 << 20;

/// A small file's answer material.
#[derive(Debug, Clone)]
pub struct Cached {
    /// The file's bytes.
    pub body: Arc<Vec<u8>>,
    /// Its `Content-Type`.
    pub mime: &'static str,
}

struct Entry {
    cached: Cached,
    /// The resolved path, checked again once the entry is older than [`VALID_FOR`].
    path: PathBuf,
    identity: Identity,
    checked: Instant,
}

/// What tells a file apart from a changed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Identity {
    fn of(meta: &std::fs::Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

#[derive(Default)]
struct Cache {
    entries: HashMap<String, Entry>,
    bytes: usize,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// The key of a request: the root, the index names and the clean path decide what it resolves
/// to.
pub fn key(root: &Path, index: &[String], path: &str) -> String {
    let mut key = String::with_capacity(root.as_os_str().len() + path.len() + 16);
    key.push_str(&root.to_string_lossy());
    for name in index {
        key.push('\0');
        key.push_str(name);
    }
    key.push('\u{1}');
    key.push_str(path);
    key
}

/// The cached answer for `key`, if there is one still valid (checking the file if the entry is
/// older than [`VALID_FOR`]).
pub fn get(key: &str) -> Option<Cached> {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let now = Instant::now();
        let entry = cache.entries.get_mut(key)?;
        if now.duration_since(entry.checked) < VALID_FOR {
            return Some(entry.cached.clone());
        }
        let unchanged = std::fs::symlink_metadata(&entry.path)
            .is_ok_and(|meta| meta.is_file() && Identity::of(&meta) == entry.identity);
        if unchanged {
            entry.checked = now;
            return Some(entry.cached.clone());
        }
        let gone = cache.entries.remove(key);
        if let Some(gone) = gone {
            cache.bytes -= gone.cached.body.len();
        }
        None
    })
}

/// Remember `body` (read from the open `file`, whose metadata is `meta`, found at `path`) for
/// `key`.
pub fn put(key: String, path: PathBuf, meta: &std::fs::Metadata, cached: Cached) {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let len = cached.body.len();
        if len > MAX_BYTES {
            return;
        }
        if cache.bytes + len > MAX_BYTES {
            cache.entries.clear();
            cache.bytes = 0;
        }
        let entry = Entry {
            cached,
            path,
            identity: Identity::of(meta),
            checked: Instant::now(),
        };
        cache.bytes += len;
        if let Some(old) = cache.entries.insert(key, entry) {
            cache.bytes -= old.cached.body.len();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_noticed_after_the_validity() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"one").expect("write");
        let meta = std::fs::metadata(&path).expect("stat");
        let key = key(dir.path(), &[], "/a.txt");
        put(
            key.clone(),
            path.clone(),
            &meta,
            Cached {
                body: Arc::new(b"one".to_vec()),
                mime: "text/plain",
            },
        );
        assert_eq!(get(&key).expect("fresh").body.as_slice(), b"one");
        // A different length is a different file, once the entry is due for a check.
        std::fs::write(&path, b"three").expect("rewrite");
        CACHE.with(|c| {
            for entry in c.borrow_mut().entries.values_mut() {
                entry.checked -= VALID_FOR;
            }
        });
        assert!(get(&key).is_none(), "the stale entry is dropped");
        assert!(get(&key).is_none());
    }

    #[test]
    fn memory_stays_bounded() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("b.bin");
        std::fs::write(&path, vec![0u8; 64 * 1024]).expect("write");
        let meta = std::fs::metadata(&path).expect("stat");
        for i in 0..1000 {
            put(
                format!("k{i}"),
                path.clone(),
                &meta,
                Cached {
                    body: Arc::new(vec![0u8; 64 * 1024]),
                    mime: "application/octet-stream",
                },
            );
        }
        CACHE.with(|c| assert!(c.borrow().bytes <= MAX_BYTES));
    }
}
