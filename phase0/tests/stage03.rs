//! Stage 3 end to end: the grader's UDP checks.

#[test]
fn passes_the_grader_checks() {
    let report = xtask::check_ours("3", env!("CARGO_BIN_EXE_stage03_udp_server"));
    assert!(report.all_passed(), "{}", report.render());
}
