//! Fuzz target `resolve`: no request path may reach a file outside the served folder.
//!
//! The input is a request pathname (as it comes out of the parser: still percent-encoded). It is
//! cleaned ([`CleanPath::parse`]) and resolved against a real folder made once per process:
//!
//! ```text
//! tmp/secret.txt           the secret, next to the root
//! tmp/public2/secret.txt   the secret in a sibling whose name starts with the root's
//! tmp/public/              the root: files, sub-folders, index files, a private file, and
//!   in.txt -> a.txt          a link that stays inside,
//!   out.txt -> ../secret.txt, outdir -> ../public2, abs.txt -> tmp/secret.txt, up -> ..
//!                            links that point outside,
//!   dangling -> missing, loop -> loop
//! ```
//!
//! Every outcome is allowed except one that leaves the root: a found file must be, by its
//! canonical path *and* by the descriptor actually opened, inside the root and not a secret; a
//! found directory must be inside the root. The cleaned path must have no `.`, `..` or empty
//! segment. Half the inputs use the root by a relative path (`public`, as a config's `../public`).

#![no_main]

use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use phase2::resolve::{resolve, CleanPath, Resolved};

const SECRET: &[u8] = b"SECRET: outside the served folder";

struct Tree {
    /// The root as the config would name it, absolute.
    root: PathBuf,
    /// Its canonical path, which everything found must lie inside.
    canonical: PathBuf,
    index: Vec<String>,
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        // Kept for the whole process: the fuzzer runs until it is stopped.
        let top = tempfile::tempdir().expect("temp dir").keep();
        let root = top.join("public");
        let outside = top.join("public2");
        for dir in ["sub", "empty", "deep/x/y", "site"] {
            fs::create_dir_all(root.join(dir)).expect("mkdir");
        }
        fs::create_dir_all(&outside).expect("mkdir");
        fs::write(top.join("secret.txt"), SECRET).expect("write");
        fs::write(outside.join("secret.txt"), SECRET).expect("write");
        for (name, body) in [
            ("a.txt", &b"a"[..]),
            ("index.html", b"<p>root"),
            ("with space.txt", b"space"),
            ("caf\u{e9}.txt", b"cafe"),
            ("100%.txt", b"percent"),
            ("..a", b"dots"),
            ("sub/b.html", b"<p>b"),
            ("sub/index.html", b"<p>sub"),
            ("deep/x/y/z.txt", b"deep"),
            ("site/home.htm", b"<p>home"),
        ] {
            fs::write(root.join(name), body).expect("write");
        }
        fs::write(root.join("private.txt"), b"private").expect("write");
        fs::set_permissions(root.join("private.txt"), fs::Permissions::from_mode(0o640))
            .expect("chmod");
        for (target, link) in [
            (PathBuf::from("a.txt"), "in.txt"),
            (PathBuf::from("sub"), "subin"),
            (PathBuf::from("../secret.txt"), "out.txt"),
            (PathBuf::from("../public2"), "outdir"),
            (top.join("secret.txt"), "abs.txt"),
            (PathBuf::from(".."), "up"),
            (PathBuf::from("missing"), "dangling"),
            (PathBuf::from("loop"), "loop"),
            (PathBuf::from("../secret.txt"), "sub/out.txt"),
        ] {
            symlink(target, root.join(link)).expect("symlink");
        }
        // Relative roots are resolved against the working directory, as the server's are.
        std::env::set_current_dir(&top).expect("chdir");
        let canonical = fs::canonicalize(&root).expect("canonical root");
        let index = [
            "missing.html",
            "../secret.txt",
            "out.txt",
            "index.html",
            "home.htm",
        ]
        .map(String::from)
        .to_vec();
        Tree {
            root,
            canonical,
            index,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(pathname) = std::str::from_utf8(data) else {
        return;
    };
    let tree = tree();
    let Ok(clean) = CleanPath::parse(pathname) else {
        return;
    };
    let text = clean.as_str();
    assert!(text.starts_with('/'), "{text:?}");
    assert!(!text.contains('\0'));
    let inner = text[1..].strip_suffix('/').unwrap_or(&text[1..]);
    if !inner.is_empty() {
        for segment in inner.split('/') {
            assert!(
                !matches!(segment, "" | "." | ".."),
                "segment {segment:?} in {text:?}"
            );
        }
    }

    let relative = Path::new("public");
    let root = if data.len().is_multiple_of(2) {
        tree.root.as_path()
    } else {
        relative
    };
    match resolve(root, &clean, &tree.index) {
        Ok(Resolved::File(mut found)) => {
            assert!(
                found.path.starts_with(&tree.canonical),
                "{pathname:?} resolved to {:?}",
                found.path
            );
            let real = fs::canonicalize(&found.path).expect("the found path exists");
            assert_eq!(
                real, found.path,
                "{pathname:?}: the found path is not canonical"
            );
            // The descriptor opened is the file named, not something swapped in.
            let opened = found.file.metadata().expect("fstat");
            let named = fs::metadata(&found.path).expect("stat");
            assert_eq!((opened.dev(), opened.ino()), (named.dev(), named.ino()));
            let mut body = Vec::new();
            found.file.read_to_end(&mut body).expect("read");
            assert_ne!(body, SECRET, "{pathname:?} read the secret");
            assert_ne!(body, b"private", "{pathname:?} read a private file");
        }
        Ok(Resolved::Directory(dir)) => {
            assert!(
                dir.starts_with(&tree.canonical),
                "{pathname:?} resolved to the directory {dir:?}"
            );
        }
        Err(_) => {}
    }
});
