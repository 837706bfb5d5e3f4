//! Turning a URL path into a file inside the served folder, safely.
//!
//! This is the server's front door on the open internet, so it follows two rules:
//! 1. Decode first, then judge. A path is percent-decoded (`%2e%2e` is `..`) before anything looks
//!    at it, and the same cleaned path ([`CleanPath`]) is used for route lookup and for the file
//!    system, so `/%61dmin` cannot slip past a rule written for `/admin`.
//! 2. Trust the file system's answer, not string tricks. After `..` segments are applied the
//!    candidate is canonicalised (`realpath`: every symlink followed) and must still lie inside the
//!    canonical root, compared by whole path components (`/srv/pub` does not contain `/srv/public2`).
//!    A symlink that points out of the root is refused with 403 even though its name looks innocent.
//!
//! Errors map onto statuses as in the course's file module: missing → 404, outside the root or not
//! world-readable or `EACCES` → 403, anything else → 500; a NUL byte or undecodable path → 400.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;

use crate::http::StatusCode;
use crate::mime::mime_for;

/// Why a path could not be served.
#[derive(Debug, PartialEq, Eq)]
pub enum ResolveError {
    /// The path contains a NUL byte or does not decode to UTF-8.
    BadPath,
    /// The path leaves the root (`..`, a symlink out), or the file is not readable by others.
    Forbidden,
    /// Nothing there.
    NotFound,
    /// Any other file-system failure.
    Internal(io::ErrorKind),
}

impl ResolveError {
    pub fn status(&self) -> StatusCode {
        match self {
            ResolveError::BadPath => StatusCode::BAD_REQUEST,
            ResolveError::Forbidden => StatusCode::FORBIDDEN,
            ResolveError::NotFound => StatusCode::NOT_FOUND,
            ResolveError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::BadPath => f.write_str("undecodable path"),
            ResolveError::Forbidden => f.write_str("forbidden"),
            ResolveError::NotFound => f.write_str("not found"),
            ResolveError::Internal(kind) => write!(f, "file system error: {kind}"),
        }
    }
}

impl std::error::Error for ResolveError {}

/// A URL path after percent-decoding and applying `.` and `..` segments, with repeated slashes
/// collapsed: always starts with `/`, never contains `//`, `/./` or `/../`. It keeps a trailing
/// `/` if the request had one (`/test/` stays a directory-looking path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanPath(String);

impl CleanPath {
    /// Clean the pathname of a request (still percent-encoded, without the query).
    /// A `..` that would climb above `/` is refused with [`ResolveError::Forbidden`].
    pub fn parse(pathname: &str) -> Result<CleanPath, ResolveError> {
        let decoded = percent_decode_str(pathname)
            .decode_utf8()
            .map_err(|_| ResolveError::BadPath)?;
        if decoded.contains('\0') {
            return Err(ResolveError::BadPath);
        }
        let mut segments: Vec<&str> = Vec::new();
        for segment in decoded.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop().ok_or(ResolveError::Forbidden)?;
                }
                name => segments.push(name),
            }
        }
        let mut clean = String::with_capacity(decoded.len());
        for segment in &segments {
            clean.push('/');
            clean.push_str(segment);
        }
        let last = decoded.rsplit('/').next().unwrap_or("");
        let dir_like = decoded.ends_with('/') || last == "." || last == "..";
        if clean.is_empty() || dir_like {
            clean.push('/');
        }
        Ok(CleanPath(clean))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The decoded segments, e.g. `["test", "cat.jpg"]` for `/test/cat.jpg`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }
}

/// What a path names inside the root.
#[derive(Debug)]
pub enum Resolved {
    /// A regular file, already opened (so it cannot be swapped between check and use).
    File(FoundFile),
    /// A directory without any of the index files (stage 17 lists it, stage 16 answers 404).
    Directory(PathBuf),
}

/// An opened regular file and what the response needs to know about it.
#[derive(Debug)]
pub struct FoundFile {
    pub file: File,
    /// The canonical path (for the log).
    pub path: PathBuf,
    pub size: u64,
    /// The `Content-Type`, from the file's extension.
    pub mime: &'static str,
}

/// Find what `path` names under `root`, trying `index` names (in order) for a directory.
///
/// The route's request path is *not* stripped (nginx `root` semantics): `/docs/a.txt` under root
/// `/srv` is `/srv/docs/a.txt`.
///
/// A regular file reached without any symbolic link is opened by [`crate::beneath`] in one
/// `openat2`; everything else (links, directories, errors) takes the canonicalising path below,
/// which gives the same answer for those files too, only with a dozen more system calls.
pub fn resolve(root: &Path, path: &CleanPath, index: &[String]) -> Result<Resolved, ResolveError> {
    if let Some(found) = crate::beneath::open_plain_file(root, path) {
        return Ok(Resolved::File(found));
    }
    let root = fs::canonicalize(root).map_err(io_error)?;
    let mut candidate = root.clone();
    for segment in path.segments() {
        candidate.push(segment);
    }
    let target = contained(&root, &candidate)?;
    let metadata = fs::metadata(&target).map_err(io_error)?;
    if metadata.is_file() {
        return open_file(target);
    }
    if !metadata.is_dir() {
        // A FIFO, socket or device: opening it could block the server or worse.
        return Err(ResolveError::Forbidden);
    }
    for name in index {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            continue;
        }
        let Ok(index_path) = contained(&root, &target.join(name)) else {
            continue;
        };
        if fs::metadata(&index_path).is_ok_and(|m| m.is_file()) {
            return open_file(index_path);
        }
    }
    Ok(Resolved::Directory(target))
}

/// Canonicalise `candidate` and require it to be `root` or inside it.
fn contained(root: &Path, candidate: &Path) -> Result<PathBuf, ResolveError> {
    let real = fs::canonicalize(candidate).map_err(io_error)?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(ResolveError::Forbidden)
    }
}

/// Open a regular file the way the course's file module does: it must be readable by "others"
/// (files are served to anyone), and `open` itself may still say no.
fn open_file(path: PathBuf) -> Result<Resolved, ResolveError> {
    let metadata = fs::metadata(&path).map_err(io_error)?;
    if metadata.permissions().mode() & 0o004 == 0 {
        return Err(ResolveError::Forbidden);
    }
    let file = File::open(&path).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    let mime = mime_for(&path);
    Ok(Resolved::File(FoundFile {
        file,
        path,
        size,
        mime,
    }))
}

fn io_error(error: io::Error) -> ResolveError {
    match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename => {
            ResolveError::NotFound
        }
        io::ErrorKind::PermissionDenied => ResolveError::Forbidden,
        kind => ResolveError::Internal(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn clean(p: &str) -> Result<String, ResolveError> {
        CleanPath::parse(p).map(|c| c.as_str().to_string())
    }

    #[test]
    fn cleaning_paths() {
        assert_eq!(clean("/").unwrap(), "/");
        assert_eq!(clean("").unwrap(), "/");
        assert_eq!(clean("//").unwrap(), "/");
        assert_eq!(clean("//sample.pdf").unwrap(), "/sample.pdf");
        assert_eq!(clean("/a//b///c").unwrap(), "/a/b/c");
        assert_eq!(clean("/test/").unwrap(), "/test/");
        assert_eq!(clean("/a/./b/../c").unwrap(), "/a/c");
        assert_eq!(clean("/a/b/..").unwrap(), "/a/");
        assert_eq!(clean("/a/.").unwrap(), "/a/");
        assert_eq!(clean("/a/..").unwrap(), "/");
        assert_eq!(clean("/my%20file.txt").unwrap(), "/my file.txt");
        assert_eq!(clean("/%61dmin").unwrap(), "/admin");
        assert_eq!(clean("/a/%2e%2e/b").unwrap(), "/b");
        assert_eq!(clean("/a/%2E%2e/b").unwrap(), "/b");
        assert_eq!(clean("/a%2fb").unwrap(), "/a/b");
        assert_eq!(clean("/100%").unwrap(), "/100%");
        assert_eq!(clean("/caf%C3%A9").unwrap(), "/caf\u{e9}");
        assert_eq!(clean("/..a/b..").unwrap(), "/..a/b..");
    }

    #[test]
    fn cleaning_refuses_escapes_and_bad_bytes() {
        assert_eq!(clean("/.."), Err(ResolveError::Forbidden));
        assert_eq!(clean("/../etc/passwd"), Err(ResolveError::Forbidden));
        assert_eq!(clean("/a/../../x"), Err(ResolveError::Forbidden));
        assert_eq!(clean("/%2e%2e/etc/passwd"), Err(ResolveError::Forbidden));
        assert_eq!(clean("/%2e%2e%2fetc"), Err(ResolveError::Forbidden));
        assert_eq!(clean("/..%2f..%2fetc"), Err(ResolveError::Forbidden));
        assert_eq!(clean("/a%00.txt"), Err(ResolveError::BadPath));
        assert_eq!(clean("/%ff"), Err(ResolveError::BadPath));
        assert_eq!(ResolveError::BadPath.status().as_u16(), 400);
        assert_eq!(ResolveError::Forbidden.status().as_u16(), 403);
        assert_eq!(ResolveError::NotFound.status().as_u16(), 404);
        assert_eq!(
            ResolveError::Internal(io::ErrorKind::Other)
                .status()
                .as_u16(),
            500
        );
    }

    /// A root with a few files, a sub-directory, a secret next to the root and links.
    struct Tree {
        _dir: tempfile::TempDir,
        root: PathBuf,
        outside: PathBuf,
    }

    fn tree() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("public");
        let outside = dir.path().join("public2");
        fs::create_dir_all(root.join("test")).unwrap();
        fs::create_dir_all(root.join("site")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(root.join("sample.txt"), b"hello").unwrap();
        fs::write(root.join("CAT.JPG"), b"jpeg").unwrap();
        fs::write(root.join("test/inner.pdf"), b"pdf").unwrap();
        fs::write(root.join("site/index.html"), b"<p>").unwrap();
        fs::write(root.join("site/home.htm"), b"<p>home").unwrap();
        fs::write(outside.join("secret.txt"), b"secret").unwrap();
        fs::write(dir.path().join("secret.txt"), b"secret").unwrap();
        symlink(outside.join("secret.txt"), root.join("leak.txt")).unwrap();
        symlink(&outside, root.join("leakdir")).unwrap();
        symlink(root.join("sample.txt"), root.join("alias.txt")).unwrap();
        symlink(root.join("missing"), root.join("dangling")).unwrap();
        Tree {
            _dir: dir,
            root,
            outside,
        }
    }

    fn get(t: &Tree, path: &str, index: &[&str]) -> Result<Resolved, ResolveError> {
        let index: Vec<String> = index.iter().map(|s| s.to_string()).collect();
        resolve(&t.root, &CleanPath::parse(path)?, &index)
    }

    fn file(t: &Tree, path: &str) -> FoundFile {
        match get(t, path, &[]) {
            Ok(Resolved::File(f)) => f,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn serves_files_inside_the_root() {
        let t = tree();
        let f = file(&t, "/sample.txt");
        assert_eq!(f.size, 5);
        assert_eq!(f.mime, "text/plain");
        assert_eq!(f.path, fs::canonicalize(t.root.join("sample.txt")).unwrap());
        assert_eq!(file(&t, "/CAT.JPG").mime, "image/jpeg");
        assert_eq!(file(&t, "//test//inner.pdf").mime, "application/pdf");
        assert_eq!(file(&t, "/test/../sample.txt").size, 5);
        assert_eq!(file(&t, "/test/%2e%2e/sample.txt").size, 5);
        assert_eq!(file(&t, "/%73ample.txt").size, 5);
        // A symlink that stays inside the root is fine.
        assert_eq!(file(&t, "/alias.txt").size, 5);
    }

    #[test]
    fn missing_is_404() {
        let t = tree();
        assert_eq!(
            get(&t, "/nope.txt", &[]).unwrap_err(),
            ResolveError::NotFound
        );
        assert_eq!(
            get(&t, "/test/nope/x", &[]).unwrap_err(),
            ResolveError::NotFound
        );
        // A file used as a directory.
        assert_eq!(
            get(&t, "/sample.txt/x", &[]).unwrap_err(),
            ResolveError::NotFound
        );
        assert_eq!(
            get(&t, "/dangling", &[]).unwrap_err(),
            ResolveError::NotFound
        );
        let long = format!("/{}", "a".repeat(300));
        assert_eq!(get(&t, &long, &[]).unwrap_err(), ResolveError::NotFound);
    }

    #[test]
    fn escapes_are_403() {
        let t = tree();
        for path in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/test/../../secret.txt",
            "/..%2fsecret.txt",
            "/%2E%2E/public2/secret.txt",
            "/leak.txt",
            "/leakdir/secret.txt",
            "/leakdir",
        ] {
            assert_eq!(
                get(&t, path, &[]).unwrap_err(),
                ResolveError::Forbidden,
                "{path}"
            );
        }
        // The sibling folder whose name starts with the root's name is not "inside".
        assert!(t
            .outside
            .to_string_lossy()
            .starts_with(&*t.root.to_string_lossy()));
    }

    #[test]
    fn not_world_readable_is_403() {
        let t = tree();
        let path = t.root.join("private.txt");
        fs::write(&path, b"x").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            get(&t, "/private.txt", &[]).unwrap_err(),
            ResolveError::Forbidden
        );
    }

    #[test]
    fn special_files_are_403() {
        let t = tree();
        let socket = t.root.join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        assert_eq!(
            get(&t, "/s.sock", &[]).unwrap_err(),
            ResolveError::Forbidden
        );
    }

    #[test]
    fn directories_try_index_files_in_order() {
        let t = tree();
        match get(&t, "/site", &["index.html"]).unwrap() {
            Resolved::File(f) => assert_eq!(f.mime, "text/html"),
            other => panic!("{other:?}"),
        }
        match get(&t, "/site/", &["missing.html", "home.htm", "index.html"]).unwrap() {
            Resolved::File(f) => assert_eq!(f.size, 7),
            other => panic!("{other:?}"),
        }
        // Index names cannot climb out.
        match get(&t, "/test", &["../sample.txt", "/etc/passwd", ".."]).unwrap() {
            Resolved::Directory(d) => assert_eq!(d, fs::canonicalize(t.root.join("test")).unwrap()),
            other => panic!("{other:?}"),
        }
        // Without an index the directory itself comes back, root included.
        for path in ["/", "//", "/test/", "/test/.."] {
            assert!(
                matches!(get(&t, path, &["index.html"]), Ok(Resolved::Directory(_))),
                "{path}"
            );
        }
    }

    #[test]
    fn a_missing_root_is_404() {
        let index: Vec<String> = Vec::new();
        let err = resolve(
            Path::new("/nonexistent/expserver/root"),
            &CleanPath::parse("/x").unwrap(),
            &index,
        )
        .unwrap_err();
        assert_eq!(err, ResolveError::NotFound);
    }

    #[test]
    fn relative_roots_work() {
        // `../public` style roots are resolved against the current directory.
        let t = tree();
        let cwd = std::env::current_dir().unwrap();
        let relative = pathdiff(&t.root, &cwd);
        let index: Vec<String> = Vec::new();
        let found = resolve(&relative, &CleanPath::parse("/sample.txt").unwrap(), &index);
        assert!(
            matches!(found, Ok(Resolved::File(_))),
            "{relative:?}: {found:?}"
        );
    }

    /// `target` relative to `base` using `..` (both absolute).
    fn pathdiff(target: &Path, base: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for _ in base.components().skip(1) {
            out.push("..");
        }
        for c in target.components().skip(1) {
            out.push(c);
        }
        out
    }
}
