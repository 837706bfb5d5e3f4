//! Stage 4 beyond its checks (those run in the course suite, `tests/stages.rs`): a client
//! that sends nothing must not hold up the others.

use std::net::TcpStream;

use xtask::checks::tcp::lock_step;
use xtask::checks::wire::Reply;
use xtask::start_ours;

const BIN: &str = env!("CARGO_BIN_EXE_stage04_epoll_server");

#[test]
fn a_client_that_sends_nothing_does_not_hold_up_the_others() {
    let mut run = start_ours("4", BIN);
    let port = run.ports.role(1);
    let silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let result = lock_step(port, Reply::Reverse);
    assert!(result.is_ok(), "{result:?}\n{}", run.server_log());
    drop(silent);
    let result = lock_step(port, Reply::Reverse);
    assert!(
        result.is_ok(),
        "after the silent client left: {result:?}\n{}",
        run.server_log()
    );
    assert!(run.server_exit().is_none(), "{}", run.server_log());
}
