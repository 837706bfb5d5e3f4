//! Smoke tests of the stage 6-13 binaries: real processes, free ports, the grader's directory
//! layout (`app/` as working directory, `public/` and `temp/` beside it), every wait bounded.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SAMPLE: &[u8] = b"sample file served by stage 12 and 13\n";

struct Server {
    child: Child,
    ports: [u16; 4],
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(binary: &str, extra: &[String]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["app", "public", "temp"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("public/sample.txt"), SAMPLE).unwrap();
        std::fs::write(dir.path().join("temp/file.txt"), b"Some sample data\n").unwrap();
        let ports = [free_port(), free_port(), free_port(), free_port()];
        let list = ports.map(|p| p.to_string()).join(",");
        let child = Command::new(binary)
            .current_dir(dir.path().join("app"))
            .args(["--ports", &list])
            .args(extra)
            .arg("../public/xps_config.json") // ignored, as the grader passes one
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            ports,
            _dir: dir,
        };
        server.wait_listening();
        server
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let hex = format!(":{:04X} ", self.ports[3]);
        while Instant::now() < deadline {
            let tables = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
            if tables
                .lines()
                .any(|l| l.contains(&hex) && l.contains(" 0A "))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("server never listened");
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
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit status {status}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit after SIGINT");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    format!("127.0.0.1:{}", free_port())
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

/// A one-shot upstream: reads a request head, answers, closes.
fn spawn_upstream(response: &'static [u8]) -> (String, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        stream.write_all(response).unwrap();
        request
    });
    (addr, handle)
}

#[test]
fn stage11_and_13_proxy_port_1() {
    for binary in [
        env!("CARGO_BIN_EXE_stage11_upstream"),
        env!("CARGO_BIN_EXE_stage13_session"),
    ] {
        let (upstream, handle) = spawn_upstream(b"HTTP/1.0 200 OK\r\n\r\nproxied");
        let server = Server::start(binary, &["--upstream".into(), upstream]);
        let mut client = server.connect(0);
        client.write_all(b"GET /x HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(read_to_close(client), b"HTTP/1.0 200 OK\r\n\r\nproxied");
        assert_eq!(handle.join().unwrap(), b"GET /x HTTP/1.0\r\n\r\n");
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
