//! Stage 2 end to end (the grader has no stage-2 checks): the iterative server serves one
//! client at a time and moves on to the next when the first leaves; the client talks to it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use xtask::ports::{free_tcp_port, Proto};
use xtask::process::Proc;

const SERVER: &str = env!("CARGO_BIN_EXE_stage02_iterative_server");
const CLIENT: &str = env!("CARGO_BIN_EXE_stage02_tcp_client");

fn start_server(dir: &Path) -> (Proc, u16) {
    let port = free_tcp_port().unwrap();
    let argv = vec![SERVER.to_string(), "--port".into(), port.to_string()];
    let server =
        Proc::start_server(&argv, dir, &dir.join("server.log"), &[port], Proto::Tcp).unwrap();
    (server, port)
}

fn exchange(stream: &mut TcpStream, line: &[u8]) -> Vec<u8> {
    stream.write_all(line).unwrap();
    let mut reply = vec![0u8; line.len()];
    stream.read_exact(&mut reply).unwrap();
    reply
}

#[test]
fn the_second_client_is_served_after_the_first_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, port) = start_server(dir.path());
    let mut first = TcpStream::connect(("127.0.0.1", port)).unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(exchange(&mut first, b"hello\n"), b"olleh\n");

    // The second client's handshake completes in the backlog, but nobody reads its line yet.
    let mut second = TcpStream::connect(("127.0.0.1", port)).unwrap();
    second.write_all(b"world\n").unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(
        second.read(&mut buf).is_err(),
        "an iterative server cannot answer two clients at once"
    );

    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reply = [0u8; 6];
    second.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"dlrow\n");
    assert!(server.is_running(), "{}", server.log_tail(2000));
}

#[test]
fn the_client_prints_the_reversed_reply() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = start_server(dir.path());
    let mut client = Command::new(CLIENT)
        .args(["--server", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    client.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    // stdin is now closed: the client sends its line, prints the reply and exits.
    let mut proc_out = String::new();
    let mut stdout = client.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        stdout.read_to_string(&mut proc_out).unwrap();
        proc_out
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = client.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            client.kill().unwrap();
            panic!("the client did not exit after stdin closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = reader.join().unwrap();
    assert!(
        output.contains("olleh"),
        "client {status}, output: {output:?}"
    );
}
