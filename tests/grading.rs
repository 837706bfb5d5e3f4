//! An instructor grading a class, the way "Grading a class" in `docs/src/introduction.md` tells
//! one to: each student hands in a folder of programs named like ours, and
//! `cargo xtask check-all --cmd-dir FOLDER --format json --junit FILE` checks all of them.
//!
//! This is the one place our binaries are run exactly as the official grader runs a program:
//! with no port flags, as `PROGRAM /path/to/public/xps_config.json`, from the `app/` folder of the
//! grader's layout (`app/`, `public/`, `temp/`), on the course's ports (8080, 8001-8004, the
//! upstream on 3000). Everywhere else the tests move them to free ports. So this run proves that
//! our defaults are the course's: the port, `../public/sample.txt`, the refused
//! `../temp/file.txt`, the config path as the only argument.
//!
//! The class is two students, kept small because `tests/stages.rs` already runs every stage's
//! checks once: alice hands in our stages 1, 12 and 16 (one of each kind of server the checker
//! knows: a phase-0 TCP server, a phase-1 core with its four ports, a config-driven one) and has
//! not done the others; bob hands in stage 2's iterative server as his stage 4, which the course
//! says fails checks 2 and 3 (it serves one client at a time).
//!
//! The course's ports are shared by the whole machine, so the run takes a lock file that other
//! runs of this test (from other clones) wait on, and checks that the ports are free first.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use xtask::stages::STAGES;

/// The course's TCP ports: stage 1-5's port, phase 1's four, and the upstream's.
const COURSE_PORTS: [u16; 6] = [8080, 8001, 8002, 8003, 8004, 3000];

/// Copies our binary `ours` into the student's folder under the name `as_name`.
fn hand_in(folder: &Path, ours: &str, as_name: &str) {
    fs::create_dir_all(folder).unwrap();
    fs::copy(course_tests::binary(ours), folder.join(as_name)).unwrap();
}

/// Runs `cargo xtask check-all --cmd-dir folder` with the test-sized memory and CPU checks, and
/// returns its output and the check results it printed, one JSON object per check.
fn grade(folder: &Path, junit: &Path) -> (Output, Vec<Value>) {
    let output = Command::new(course_tests::binary("xtask"))
        .arg("check-all")
        .arg("--cmd-dir")
        .arg(folder)
        .args(["--format", "json", "--size", "64MB", "--cpu-seconds", "5"])
        .arg("--junit")
        .arg(junit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let checks = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    (output, checks)
}

/// Waits for other runs of this test, then fails clearly if something else holds a course port.
fn take_the_course_ports() -> File {
    let lock = File::create(std::env::temp_dir().join("expserver-course-ports.lock")).unwrap();
    lock.lock().unwrap();
    for port in COURSE_PORTS {
        assert!(
            TcpListener::bind(("0.0.0.0", port)).is_ok(),
            "port {port} is in use: this test runs programs on the course's ports, as the grader \
             does; stop whatever listens there (a server left running?) and run it again"
        );
    }
    lock
}

#[test]
fn a_class_is_graded_in_the_graders_layout() {
    let _ports = take_the_course_ports();
    let class = tempfile::tempdir().unwrap();

    let alice = class.path().join("alice");
    hand_in(&alice, "stage01_tcp_server", "stage01_tcp_server");
    hand_in(&alice, "stage12_file", "stage12_file");
    hand_in(&alice, "stage16_config", "stage16_config");
    let (output, checks) = grade(&alice, &class.path().join("alice.xml"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let graded: Vec<&str> = checks.iter().filter_map(|c| c["stage"].as_str()).collect();
    for stage in ["1", "12", "16"] {
        assert!(
            graded.contains(&stage),
            "stage {stage} was not graded:\n{stderr}"
        );
    }
    let failed: Vec<&Value> = checks.iter().filter(|c| c["pass"] != true).collect();
    assert!(
        failed.is_empty(),
        "our binaries fail when run as the grader runs them:\n{failed:#?}\n{stderr}"
    );
    assert!(graded.iter().all(|s| ["1", "12", "16"].contains(s)));
    // Every other stage with checks is reported as not run, and that fails the run.
    let not_run = STAGES.iter().filter(|s| s.has_checks()).count() - 3;
    assert!(
        stderr.contains(&format!(", {not_run} stages not run")),
        "{stderr}"
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let junit = fs::read_to_string(class.path().join("alice.xml")).unwrap();
    assert!(
        junit.contains(&format!("tests=\"{}\" failures=\"0\"", checks.len())),
        "{junit}"
    );

    let bob = class.path().join("bob");
    hand_in(&bob, "stage02_iterative_server", "stage04_epoll_server");
    let (output, checks) = grade(&bob, &class.path().join("bob.xml"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let verdicts: Vec<(&str, bool)> = checks
        .iter()
        .map(|c| (c["stage"].as_str().unwrap_or("?"), c["pass"] == true))
        .collect();
    assert_eq!(
        verdicts,
        [("4", true), ("4", false), ("4", false)],
        "an iterative server passes stage 4's first check and fails the other two:\n{stderr}"
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let junit = fs::read_to_string(class.path().join("bob.xml")).unwrap();
    assert!(
        junit.contains("<testsuite name=\"stage 4\" tests=\"3\" failures=\"2\""),
        "{junit}"
    );
}
