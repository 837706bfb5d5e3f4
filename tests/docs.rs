//! The course text must not send students to binaries, commands or chapters that do not exist.
//!
//! Every `--bin NAME` in `docs/**/*.md` (as in `cargo run --bin stage05_proxy`) must name a
//! binary of the workspace, every `cargo xtask SUBCOMMAND --flag` in the book and the README must
//! be one the checker's `--help` lists, every link in `docs/src/SUMMARY.md` must point to a file,
//! and every picture a chapter shows must be in the book.

use std::fs;
use std::path::{Path, PathBuf};

use course_tests::repo_root;

/// All markdown files under `dir`.
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            markdown_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// True if the workspace builds a binary called `name`: `*/src/bin/NAME.rs`, `src/bin/NAME.rs`,
/// or a package called `name` with a `src/main.rs`.
fn binary_exists(root: &Path, name: &str) -> bool {
    let file = format!("{name}.rs");
    if root.join("src/bin").join(&file).is_file() {
        return true;
    }
    let Ok(entries) = fs::read_dir(root) else {
        return false;
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.push(root.to_path_buf());
    dirs.iter().any(|dir| {
        if dir.join("src/bin").join(&file).is_file() {
            return true;
        }
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        let named = manifest.lines().any(|l| {
            let l = l.replace(' ', "");
            l == format!("name=\"{name}\"")
        });
        named && (dir.join("src/main.rs").is_file() || manifest.contains("[[bin]]"))
    })
}

/// The word after each `--bin` in `text`.
fn bin_names(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0].trim_start_matches('`') == "--bin")
        .map(|w| {
            w[1].trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .to_string()
        })
        .filter(|name| !name.is_empty() && !name.starts_with('<') && name != "NAME")
        .collect()
}

#[test]
fn every_bin_named_in_the_docs_exists() {
    let root = repo_root();
    let mut files = Vec::new();
    markdown_files(&root.join("docs"), &mut files);
    let mut missing = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for name in bin_names(&text) {
            if !binary_exists(root, &name) {
                missing.push(format!(
                    "{}: --bin {name}",
                    file.strip_prefix(root).unwrap_or(file).display()
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the docs name binaries that do not exist:\n{}",
        missing.join("\n")
    );
}

/// The targets of the markdown links `[text](target)` in `text`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].trim().to_string());
            rest = &rest[end..];
        }
    }
    targets
}

#[test]
fn every_summary_link_points_to_a_file() {
    let src = repo_root().join("docs/src");
    let summary =
        fs::read_to_string(src.join("SUMMARY.md")).expect("docs/src/SUMMARY.md is missing");
    let mut broken = Vec::new();
    for target in link_targets(&summary) {
        if target.starts_with("http://") || target.starts_with("https://") {
            continue;
        }
        let path = target.split('#').next().unwrap_or_default();
        if path.is_empty() || !src.join(path).is_file() {
            broken.push(target);
        }
    }
    assert!(
        broken.is_empty(),
        "SUMMARY.md links to missing files: {broken:?}"
    );
}

#[test]
fn the_helpers_find_what_they_should() {
    assert_eq!(
        bin_names("run `cargo run --bin stage05_proxy` and `--bin stage01_tcp_server`."),
        ["stage05_proxy", "stage01_tcp_server"]
    );
    assert_eq!(
        link_targets("- [Intro](introduction.md)\n- [Stage 1](stage-01.md#top)"),
        ["introduction.md", "stage-01.md#top"]
    );
    assert!(binary_exists(repo_root(), "xtask"));
    assert!(!binary_exists(repo_root(), "no_such_binary"));
}

/// Each `cargo xtask SUBCOMMAND --flag ...` written in the book or the README, as the subcommand
/// and the flags that follow it on that line (up to a closing backtick or a `#` comment).
fn xtask_commands(text: &str) -> Vec<(String, Vec<String>)> {
    let mut commands = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(start) = rest.find("cargo xtask ") {
            rest = &rest[start + "cargo xtask ".len()..];
            let end = rest.find(['`', '#', '|']).unwrap_or(rest.len());
            let mut words = rest[..end].split_whitespace();
            let Some(sub) = words.next() else { continue };
            if !sub.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                continue;
            }
            let flags = words
                .filter(|w| w.starts_with("--") && w.len() > 2)
                .map(|w| {
                    w.split('=')
                        .next()
                        .unwrap_or(w)
                        .trim_end_matches([',', '.', ')', ';', ':'])
                        .to_string()
                })
                .collect();
            commands.push((sub.to_string(), flags));
        }
    }
    commands
}

#[test]
fn every_xtask_command_and_flag_in_the_docs_exists() {
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    markdown_files(&root.join("docs"), &mut files);
    let mut help_of = std::collections::HashMap::new();
    let mut wrong = Vec::new();
    let mut seen = 0;
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for (sub, flags) in xtask_commands(&text) {
            seen += 1;
            let help: &String = help_of.entry(sub.clone()).or_insert_with(|| {
                let out = std::process::Command::new(course_tests::binary("xtask"))
                    .args([sub.as_str(), "--help"])
                    .output()
                    .unwrap();
                if out.status.success() {
                    String::from_utf8_lossy(&out.stdout).into_owned()
                } else {
                    String::new()
                }
            });
            let name = file.strip_prefix(root).unwrap_or(file).display();
            if help.is_empty() {
                wrong.push(format!("{name}: `cargo xtask {sub}` is not a subcommand"));
                continue;
            }
            for flag in flags {
                let listed = help
                    .lines()
                    .any(|l| l.split([' ', ',', '=']).any(|word| word == flag));
                if !listed {
                    wrong.push(format!("{name}: `cargo xtask {sub}` has no flag {flag}"));
                }
            }
        }
    }
    assert!(seen > 10, "only {seen} xtask commands found in the docs");
    assert!(
        wrong.is_empty(),
        "the docs use xtask commands that do not exist:\n{}",
        wrong.join("\n")
    );
}

/// Every picture a chapter shows (`<img src="images/...">` or `![...](images/...)`) is in the book.
#[test]
fn every_image_in_the_book_exists() {
    let src = repo_root().join("docs/src");
    let mut files = Vec::new();
    markdown_files(&src, &mut files);
    let mut missing = Vec::new();
    let mut seen = 0;
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let mut targets = link_targets(&text);
        let mut rest = text.as_str();
        while let Some(start) = rest.find("src=\"") {
            rest = &rest[start + 5..];
            if let Some(end) = rest.find('"') {
                targets.push(rest[..end].to_string());
            }
        }
        for target in targets.iter().filter(|t| t.starts_with("images/")) {
            seen += 1;
            if !file.parent().unwrap().join(target).is_file() {
                missing.push(format!("{}: {target}", file.display()));
            }
        }
    }
    assert!(seen >= 3, "the demo charts are shown in the book");
    assert!(missing.is_empty(), "missing pictures: {missing:?}");
}
