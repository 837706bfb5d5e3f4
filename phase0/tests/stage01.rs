//! Stage 1 beyond its checks (those run in the course suite, `tests/stages.rs`): a client
//! that connects and says nothing.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use xtask::start_ours;

const BIN: &str = env!("CARGO_BIN_EXE_stage01_tcp_server");

#[test]
fn a_silent_client_is_waited_for_then_its_close_ends_the_server() {
    let mut run = start_ours("1", BIN);
    let mut client = TcpStream::connect(("127.0.0.1", run.ports.role(1))).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buf = [0u8; 16];
    let err = client
        .read(&mut buf)
        .expect_err("the server must not send anything unasked");
    assert!(matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    assert!(
        run.server_exit().is_none(),
        "the server exited while the client was still connected"
    );
    drop(client);
    let status = run
        .wait_server_exit(Duration::from_secs(3))
        .expect("the server did not exit");
    assert_eq!(status.code(), Some(1), "{}", run.server_log());
}
