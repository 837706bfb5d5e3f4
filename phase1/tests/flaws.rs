//! The flaws the course asks students to observe must really be there (DESIGN.md §3): an early
//! stage that quietly behaves like the final server fails the course. The bounds are generous
//! on purpose; each flaw is a difference of orders of magnitude, not of percentages.

use std::time::Duration;

use xtask::flaws::{freeze, idle_cpu, rss_growth, FREEZE_FLOOD};
use xtask::procstat::mb;
use xtask::start_ours;

/// Bytes the memory flaws send without reading.
const FLOOD: u64 = 300_000_000;

#[test]
fn stage07_freezes_while_a_client_does_not_read() {
    let run = start_ours("7", env!("CARGO_BIN_EXE_stage07_core_loop"));
    let probe = freeze(run.ports.role(1), Duration::from_secs(2)).unwrap();
    assert!(
        probe.flooded < FREEZE_FLOOD,
        "the server took all {} without blocking",
        mb(probe.flooded)
    );
    assert!(
        probe.answer.is_err(),
        "a second client was answered during the flood: the blocking send is gone ({:?})",
        probe.answer
    );
}

#[test]
fn stage08_burns_a_core_on_an_idle_connection() {
    let run = start_ours("8", env!("CARGO_BIN_EXE_stage08_nonblocking"));
    let pid = run.server_pid().unwrap();
    let percent = idle_cpu(pid, run.ports.role(1), Duration::from_secs(3)).unwrap();
    // A busy loop takes a whole core when it has one; the other tests in this file run floods
    // at the same time on a 2-core CI machine, so ask only for a quarter (stage 9 stays < 1 %).
    assert!(
        percent > 25.0,
        "stage 8 used only {percent:.1} % of a core with an idle client"
    );
}

fn memory_grows(stage: &str, binary: &str) {
    let run = start_ours(stage, binary);
    let growth = rss_growth(run.server_pid().unwrap(), run.ports.role(1), FLOOD, false).unwrap();
    assert!(
        growth.grown() > 100_000_000,
        "stage {stage} took {} but grew only {}",
        mb(growth.flooded),
        mb(growth.grown())
    );
}

#[test]
fn stage08_memory_grows_without_bound_for_a_client_that_does_not_read() {
    memory_grows("8", env!("CARGO_BIN_EXE_stage08_nonblocking"));
}

#[test]
fn stage09_memory_still_grows_for_a_client_that_does_not_read() {
    memory_grows("9", env!("CARGO_BIN_EXE_stage09_edge_triggered"));
}

#[test]
fn stage10_memory_stays_bounded_for_a_client_that_does_not_read() {
    let run = start_ours("10", env!("CARGO_BIN_EXE_stage10_pipe"));
    let growth = rss_growth(run.server_pid().unwrap(), run.ports.role(1), FLOOD, false).unwrap();
    assert!(
        growth.grown() < 50_000_000,
        "stage 10 grew by {} while a client did not read",
        mb(growth.grown())
    );
    assert!(
        growth.flooded < FLOOD,
        "stage 10 took all {} from a client that never read: no backpressure",
        mb(growth.flooded)
    );
}
