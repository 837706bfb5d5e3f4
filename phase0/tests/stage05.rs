//! Stage 5 beyond its checks (those run in the course suite, `tests/stages.rs`): the ways an
//! upstream lets a proxy down.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use xtask::checks::proxy::{get, upstream_down};
use xtask::ports::{free_tcp_port, Proto};
use xtask::process::Proc;
use xtask::start_ours;
use xtask::upstream::{Behaviour, FakeUpstream};

const BIN: &str = env!("CARGO_BIN_EXE_stage05_proxy");

#[test]
fn with_the_upstream_down_clients_are_closed_and_the_proxy_lives_on() {
    let mut run = start_ours("5", BIN);
    let port = run.ports.role(1);
    let verdict = upstream_down(&mut run, port);
    assert!(verdict.is_ok(), "{verdict:?}\n{}", run.server_log());
    // And again: a proxy that survived once must keep accepting.
    let verdict = upstream_down(&mut run, port);
    assert!(
        verdict.is_ok(),
        "second client: {verdict:?}\n{}",
        run.server_log()
    );
    assert!(run.server_exit().is_none(), "{}", run.server_log());
}

#[test]
fn an_upstream_closing_mid_response_passes_the_part_through_then_closes() {
    // A fake upstream that promises 100 bytes, sends 9, and hangs up; twice.
    const PARTIAL: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nhalf a bo";
    let upstream = FakeUpstream::start(Behaviour::Respond(PARTIAL.to_vec())).unwrap();
    let upstream_port = upstream.port();

    let dir = tempfile::tempdir().unwrap();
    let port = free_tcp_port().unwrap();
    let argv: Vec<String> = [
        BIN,
        "--port",
        &port.to_string(),
        "--upstream",
        &format!("127.0.0.1:{upstream_port}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let log = dir.path().join("proxy.log");
    let mut proxy = Proc::start_server(&argv, dir.path(), &log, &[port], Proto::Tcp).unwrap();

    for round in 0..2 {
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut got = Vec::new();
        client
            .read_to_end(&mut got)
            .expect("the proxy must close the client after the upstream left");
        assert_eq!(got, PARTIAL, "round {round}");
    }
    assert_eq!(
        upstream.requests().len(),
        2,
        "one upstream request per client"
    );
    assert!(proxy.is_running(), "{}", proxy.log_tail(2000));
}

#[test]
fn files_come_through_unchanged() {
    let run = start_ours("5", BIN);
    let response = get(run.ports.role(1), "/cat.jpg").unwrap();
    let expected = std::fs::read(run.layout.public().join("cat.jpg")).unwrap();
    assert!(
        response.status_line.contains("200"),
        "{}",
        response.status_line
    );
    assert!(
        response.body == expected,
        "cat.jpg differs through the proxy"
    );
}
