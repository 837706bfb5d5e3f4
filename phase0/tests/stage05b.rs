//! Stage 5-b end to end (no grader stage): a file sent by the client arrives byte for byte.

use std::fs;
use std::process::Command;
use std::time::Duration;

use xtask::ports::{free_tcp_port, Proto};
use xtask::process::Proc;

/// Runs one transfer in a fresh folder: `input` as `t1.txt`, the server started on a free port,
/// the client run to completion. Returns the server's exit code, the `t2.txt` it wrote, and the
/// end of its log (for failure messages).
fn transfer(input: &[u8]) -> (Option<i32>, Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("t1.txt"), input).unwrap();
    let port = free_tcp_port().unwrap();
    let argv: Vec<String> = [
        env!("CARGO_BIN_EXE_stage05b_file_server"),
        "--port",
        &port.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let log = dir.path().join("server.log");
    let mut server = Proc::start_server(&argv, dir.path(), &log, &[port], Proto::Tcp).unwrap();

    // The client logs every line it sends: keep that out of the test run's output and show it
    // only if the client fails.
    let client = Command::new(env!("CARGO_BIN_EXE_stage05b_file_client"))
        .args(["--server", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        client.status.success(),
        "the client failed: {}\n{}",
        client.status,
        String::from_utf8_lossy(&client.stdout)
    );

    let exit = server
        .wait_timeout(Duration::from_secs(5))
        .expect("the server did not exit after one transfer");
    let output = fs::read(dir.path().join("t2.txt")).unwrap();
    (exit.code(), output, server.log_tail(2000))
}

#[test]
fn the_file_arrives_identical_and_the_server_exits_0() {
    let input = b"Hello!\nThis is a File Transfer System.\n";
    let (code, output, log) = transfer(input);
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(output, input);
}

#[test]
fn a_file_larger_than_one_buffer_arrives_identical() {
    // Many lines, one of them longer than the 10 000-byte buffer.
    let mut input = Vec::new();
    for i in 0..2_000 {
        input.extend_from_slice(format!("line {i}: {}\n", "x".repeat(i % 97)).as_bytes());
    }
    input.extend_from_slice(&[b'y'; 25_000]);
    input.push(b'\n');
    let (_, output, _) = transfer(&input);
    assert!(output == input, "t2.txt differs from t1.txt");
}
