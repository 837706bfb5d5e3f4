//! Smoke tests of the stage 6-13 binaries: real processes, free ports, the grader's directory
//! layout (`app/` as working directory, `public/` and `temp/` beside it), every wait bounded.
//! The harness (layout, start, fake upstream) is the checker library's.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use xtask::layout::Layout;
use xtask::ports::{free_tcp_port, free_tcp_ports, Proto};
use xtask::process::Proc;
use xtask::upstream::{Behaviour, FakeUpstream};

const SAMPLE: &[u8] = b"sample file served by stage 12 and 13\n";

/// A stage binary running in the grader's layout (the checker's), with its own sample file.
struct Server {
    proc: Proc,
    ports: Vec<u16>,
    _layout: Layout,
}

impl Server {
    fn start(binary: &str, extra: &[String]) -> Server {
        let layout = Layout::new().unwrap();
        std::fs::write(layout.public().join("sample.txt"), SAMPLE).unwrap();
        let ports = free_tcp_ports(4).unwrap();
        let list = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut argv: Vec<String> = vec![binary.into(), "--ports".into(), list];
        argv.extend_from_slice(extra);
        // Ignored, as the grader passes one.
        argv.push("../public/xps_config.json".into());
        let log = layout.root().join("server.log");
        let proc = Proc::start_server(&argv, &layout.app(), &log, &ports, Proto::Tcp)
            .unwrap_or_else(|e| panic!("{e:#}"));
        Server {
            proc,
            ports,
            _layout: layout,
        }
    }

    fn connect(&self, index: usize) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.ports[index])).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }

    /// SIGINT, then the exit status must be success.
    fn stop(mut self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.proc.pid() as i32, libc::SIGINT) };
        let status = self
            .proc
            .wait_timeout(Duration::from_secs(5))
            .expect("no exit after SIGINT");
        assert!(status.success(), "exit status {status}");
    }
}

fn read_to_close(mut stream: TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    // A reset after the data counts as closed too.
    let _ = stream.read_to_end(&mut got);
    got
}

fn exchange(stream: &mut TcpStream, message: &[u8]) -> Vec<u8> {
    stream.write_all(message).unwrap();
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn stages_6_to_9_reverse_on_every_port() {
    for binary in [
        env!("CARGO_BIN_EXE_stage06_listener"),
        env!("CARGO_BIN_EXE_stage07_core_loop"),
        env!("CARGO_BIN_EXE_stage08_nonblocking"),
        env!("CARGO_BIN_EXE_stage09_edge_triggered"),
    ] {
        let server = Server::start(binary, &[]);
        for port in 0..4 {
            let mut client = server.connect(port);
            assert_eq!(exchange(&mut client, b"abc\n"), b"cba\n", "{binary}");
            assert_eq!(exchange(&mut client, b"\n"), b"\n", "{binary}");
        }
        server.stop();
    }
}

#[test]
fn stage10_echoes_and_answers_a_half_closed_client() {
    let server = Server::start(env!("CARGO_BIN_EXE_stage10_pipe"), &[]);
    let mut client = server.connect(0);
    assert_eq!(exchange(&mut client, b"hello\n"), b"hello\n");
    client.write_all(b"bye\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(client), b"bye\n");
    server.stop();
}

fn dead_upstream() -> String {
    format!("127.0.0.1:{}", free_tcp_port().unwrap())
}

#[test]
fn stage12_serves_the_file_refuses_outside_and_survives_a_dead_upstream() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_stage12_file"),
        &["--upstream".into(), dead_upstream()],
    );
    assert_eq!(read_to_close(server.connect(1)), SAMPLE);
    assert_eq!(
        read_to_close(server.connect(2)),
        b"",
        "refused file: no byte"
    );
    let mut proxied = server.connect(0);
    let _ = proxied.write_all(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(read_to_close(proxied), b"", "dead upstream: no byte");
    let mut echo = server.connect(3);
    assert_eq!(exchange(&mut echo, b"still here\n"), b"still here\n");
    server.stop();
}

#[test]
fn stage11_and_13_proxy_port_1() {
    for binary in [
        env!("CARGO_BIN_EXE_stage11_upstream"),
        env!("CARGO_BIN_EXE_stage13_session"),
    ] {
        let upstream = FakeUpstream::start(Behaviour::Respond(
            b"HTTP/1.0 200 OK\r\n\r\nproxied".to_vec(),
        ))
        .unwrap();
        let address = format!("127.0.0.1:{}", upstream.port());
        let server = Server::start(binary, &["--upstream".into(), address]);
        let mut client = server.connect(0);
        client.write_all(b"GET /x HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(read_to_close(client), b"HTTP/1.0 200 OK\r\n\r\nproxied");
        assert_eq!(upstream.requests(), [b"GET /x HTTP/1.0\r\n\r\n".to_vec()]);
        server.stop();
    }
}

#[test]
fn stage13_file_and_dead_upstream() {
    let server = Server::start(
        env!("CARGO_BIN_EXE_stage13_session"),
        &["--upstream".into(), dead_upstream()],
    );
    assert_eq!(read_to_close(server.connect(1)), SAMPLE);
    assert_eq!(
        read_to_close(server.connect(0)),
        b"",
        "dead upstream: no byte"
    );
    assert_eq!(read_to_close(server.connect(1)), SAMPLE, "still serving");
    server.stop();
}

#[test]
fn help_and_bad_ports() {
    let binary = Path::new(env!("CARGO_BIN_EXE_stage13_session"));
    let help = Command::new(binary).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--ports"));
    let bad = Command::new(binary)
        .args(["--ports", "1,2,3"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
