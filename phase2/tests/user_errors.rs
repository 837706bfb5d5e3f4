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
