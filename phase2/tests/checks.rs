//! The checker's checks of stages 14-21 (the official grader's, the stricter ones and our own
//! for the phase-3 stages) against our binaries, on free ports, exactly as
//! `cargo xtask check-stage N` runs them.
//!
//! The finished server takes the same config as stages 16 and 17, so it is held to their checks
//! too: a later feature must never break what the grader tests.

use xtask::check_ours;

fn passes(stage: &str, binary: &str) {
    let report = check_ours(stage, binary);
    assert!(report.all_passed(), "{}", report.render());
}

#[test]
fn stage14_passes_the_checks() {
    passes("14", env!("CARGO_BIN_EXE_stage14_http_request"));
}

#[test]
fn stage15_passes_the_checks() {
    passes("15", env!("CARGO_BIN_EXE_stage15_http_response"));
}

#[test]
fn stage16_passes_the_checks() {
    passes("16", env!("CARGO_BIN_EXE_stage16_config"));
}

#[test]
fn stage17_passes_the_checks() {
    passes("17", env!("CARGO_BIN_EXE_stage17_directory"));
}

#[test]
fn expserver_passes_the_stage16_checks() {
    passes("16", env!("CARGO_BIN_EXE_expserver"));
}

#[test]
fn expserver_passes_the_stage17_checks() {
    passes("17", env!("CARGO_BIN_EXE_expserver"));
}

#[test]
fn stage18_passes_the_checks() {
    passes("18", env!("CARGO_BIN_EXE_stage18_ip_filter"));
}

#[test]
fn stage19_passes_the_checks() {
    passes("19", env!("CARGO_BIN_EXE_stage19_gzip"));
}

#[test]
fn expserver_passes_the_stage18_checks() {
    passes("18", env!("CARGO_BIN_EXE_expserver"));
}

#[test]
fn stage21_passes_the_checks() {
    passes("21", env!("CARGO_BIN_EXE_stage21_timeouts"));
}

#[test]
fn expserver_passes_the_stage21_checks() {
    passes("21", env!("CARGO_BIN_EXE_expserver"));
}

#[test]
fn expserver_passes_the_stage19_checks() {
    passes("19", env!("CARGO_BIN_EXE_expserver"));
}

#[test]
fn stage20_passes_the_checks() {
    passes("20", env!("CARGO_BIN_EXE_stage20_load_balancing"));
}

#[test]
fn expserver_passes_the_stage20_checks() {
    passes("20", env!("CARGO_BIN_EXE_expserver"));
}

#[test]
fn stage22_passes_the_checks() {
    passes("22", env!("CARGO_BIN_EXE_stage22_metrics"));
}

#[test]
fn expserver_passes_the_stage22_checks() {
    passes("22", env!("CARGO_BIN_EXE_expserver"));
}

#[test]
fn stage23_passes_the_checks() {
    passes("23", env!("CARGO_BIN_EXE_stage23_multithreading"));
}

#[test]
fn expserver_passes_the_stage23_checks() {
    passes("23", env!("CARGO_BIN_EXE_expserver"));
}

#[test]
fn stage23_still_passes_the_stage20_checks() {
    passes("20", env!("CARGO_BIN_EXE_stage23_multithreading"));
}

#[test]
fn stage23_still_passes_the_stage21_checks() {
    passes("21", env!("CARGO_BIN_EXE_stage23_multithreading"));
}

#[test]
fn stage23_still_passes_the_stage22_checks() {
    passes("22", env!("CARGO_BIN_EXE_stage23_multithreading"));
}
