//! What a user sees when a server cannot start: one line saying why, exit status 1, and no
//! backtrace, even with `RUST_BACKTRACE=1` set (as it often is where Rust developers work).

use std::process::Command;

fn run_with(binary: &str, config: &std::path::Path) -> (Option<i32>, String) {
    let output = Command::new(binary)
        .arg(config)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the binary starts");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_broken_config_is_one_line_without_a_backtrace() {
    let dir = tempfile::tempdir().expect("a folder");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"servers\": 5}").expect("write");
    let missing = dir.path().join("missing.json");
    for binary in [
        env!("CARGO_BIN_EXE_expserver"),
        env!("CARGO_BIN_EXE_stage16_config"),
        env!("CARGO_BIN_EXE_stage17_directory"),
    ] {
        for (config, says) in [(&broken, "broken.json:1:"), (&missing, "missing.json")] {
            let (code, stderr) = run_with(binary, config);
            assert_eq!(code, Some(1), "{binary}: {stderr}");
            assert!(stderr.starts_with("Error: "), "{binary}: {stderr}");
            assert!(stderr.contains(says), "{binary}: {stderr}");
            assert!(
                !stderr.to_lowercase().contains("backtrace"),
                "{binary} printed a backtrace:\n{stderr}"
            );
            assert_eq!(stderr.trim_end().lines().count(), 1, "{binary}: {stderr}");
        }
    }
}

/// The broken configs the book shows live in `docs/examples/broken/`, and each chapter that uses
/// one shows the command and the error line it prints. This runs every such command and compares
/// the error word for word, so the book cannot drift from what a student sees. The book writes the
/// repository's folder as `/home/you/expserver-rs`.
#[test]
fn every_broken_example_fails_as_the_book_says() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let examples = root.join("docs/examples/broken");
    let mut unused: std::collections::BTreeSet<String> = std::fs::read_dir(&examples)
        .expect("docs/examples/broken")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(!unused.is_empty());
    let mut shown = 0;
    for chapter in [
        "stage-16.md",
        "stage-18.md",
        "stage-19.md",
        "stage-21.md",
        "expserver.md",
    ] {
        let text = std::fs::read_to_string(root.join("docs/src").join(chapter)).expect("chapter");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(command) = line.strip_prefix("$ cargo run -q --bin ") else {
                continue;
            };
            let Some((binary, file)) = command.split_once(" -- docs/examples/broken/") else {
                continue;
            };
            let expected = lines
                .get(i + 1)
                .unwrap_or_else(|| panic!("{chapter}: no output after {line}"))
                .replace("/home/you/expserver-rs", &root.display().to_string());
            let path = match binary {
                "stage16_config" => env!("CARGO_BIN_EXE_stage16_config"),
                "stage18_ip_filter" => env!("CARGO_BIN_EXE_stage18_ip_filter"),
                "stage19_gzip" => env!("CARGO_BIN_EXE_stage19_gzip"),
                "stage21_timeouts" => env!("CARGO_BIN_EXE_stage21_timeouts"),
                "expserver" => env!("CARGO_BIN_EXE_expserver"),
                other => panic!("{chapter}: the test does not know the binary {other}"),
            };
            let mut child = Command::new(path)
                .arg(format!("docs/examples/broken/{file}"))
                .current_dir(root)
                .env("RUST_BACKTRACE", "1")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the binary starts");
            // A config that has become valid would start a server that never exits.
            let started = std::time::Instant::now();
            let status = loop {
                if let Some(status) = child.try_wait().expect("wait") {
                    break status;
                }
                if started.elapsed() > std::time::Duration::from_secs(10) {
                    let _ = child.kill();
                    panic!("{chapter}: {line}: still running after 10 s: the config was accepted");
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            };
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
                .expect("read stderr");
            assert_eq!(status.code(), Some(1), "{chapter}: {line}\n{stderr}");
            assert_eq!(stderr.trim_end(), expected, "{chapter}: {line}");
            unused.remove(file);
            shown += 1;
        }
    }
    assert!(shown > 0, "no chapter runs a broken example");
    assert!(unused.is_empty(), "examples no chapter shows: {unused:?}");
}
