//! The checker's own tests: its checks must fail on broken servers, not only pass on good ones.
//! The broken servers here are tiny in-process ones, so each failure mode is exact.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use xtask::checks::http::client::Response;
use xtask::checks::proxy::compare;
use xtask::checks::tcp::{lock_step, ten_clients};
use xtask::checks::wire::{Reply, Rng};
use xtask::checks::Ctx;
use xtask::checks::{file, udp};
use xtask::ports::{free_tcp_ports, is_bound, wait_bound, Proto};
use xtask::process::Proc;
use xtask::procstat::{cpu_time, rss_bytes};
use xtask::runner::Options;
use xtask::stages::{self, Checks, ServerKind, Stage};
use xtask::target::Ports;
use xtask::target::Target;

/// A TCP server on a free port whose per-read reply is `answer(bytes)`.
fn fake_server(answer: fn(&[u8]) -> Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let reply = answer(&buf[..n]);
                    if conn.write_all(&reply).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn the_reversal_rule_is_the_graders() {
    assert_eq!(Reply::Reverse.expected(b"abcd\n"), b"dcba\n");
    assert_eq!(Reply::Reverse.expected(b"\n"), b"\n");
    assert_eq!(Reply::Reverse.expected(b"abc"), b"cba");
    assert_eq!(Reply::Echo.expected(b"abc\n"), b"abc\n");
}

#[test]
fn generated_lines_have_the_graders_shape() {
    let mut rng = Rng::seeded(7);
    for _ in 0..2000 {
        let line = rng.line(100);
        assert!(line.len() <= 100 && line.ends_with(b"\n"));
        assert!(line[..line.len() - 1].iter().all(u8::is_ascii_alphanumeric));
    }
}

#[test]
fn lock_step_passes_a_correct_server_and_fails_a_wrong_one() {
    let good = fake_server(|b| Reply::Reverse.expected(b));
    assert!(lock_step(good, Reply::Reverse).is_ok());
    // An echo server is not a reversing server (a one-character line would pass, a long one not).
    let echo = fake_server(|b| b.to_vec());
    let verdict = lock_step(echo, Reply::Reverse);
    assert!(verdict.is_err());
    assert!(lock_step(echo, Reply::Echo).is_ok());
}

#[test]
fn a_silent_server_fails_within_the_timeout_instead_of_hanging() {
    let silent = fake_server(|_| Vec::new());
    let started = Instant::now();
    let verdict = ten_clients(silent, Reply::Echo);
    assert!(verdict.unwrap_err().contains("timeout"));
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A reversing server that serves one connection at a time, like stage 2's iterative server.
fn iterative_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 || conn.write_all(&Reply::Reverse.expected(&buf[..n])).is_err() {
                    break;
                }
            }
        }
    });
    port
}

#[test]
fn ten_clients_fails_a_server_that_serves_one_client_at_a_time() {
    // The first client is answered; the others wait behind it because it stays connected.
    let verdict = ten_clients(iterative_server(), Reply::Reverse);
    assert!(verdict.unwrap_err().contains("timeout"));
}

#[test]
fn a_server_that_sends_extra_bytes_fails() {
    let chatty = fake_server(|b| [Reply::Reverse.expected(b), b"!".to_vec()].concat());
    assert!(lock_step(chatty, Reply::Reverse).is_err());
}

#[test]
fn udp_checks_fail_on_a_wrong_reply() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..n], from); // echo, not reversal
        }
    });
    assert!(udp::ten_clients(port).is_err());
}

#[test]
fn the_refusal_check_fails_when_data_is_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let _ = conn.write_all(b"Some sample data\n");
        let (conn2, _) = listener.accept().unwrap();
        drop(conn2); // the second client is refused properly
    });
    assert!(file::refuses(port).is_err());
    assert!(file::refuses(port).is_ok());
}

fn response(date: &str, body: &[u8]) -> Response {
    Response {
        status_line: "HTTP/1.0 404 File not found".into(),
        status: 404,
        crlf: true,
        headers: vec![
            ("Server".into(), "SimpleHTTP/0.6".into()),
            ("Date".into(), date.into()),
        ],
        body: body.to_vec(),
        chunked: false,
        gzipped_len: None,
    }
}

#[test]
fn proxy_comparison_allows_one_second_of_date_and_nothing_else() {
    let a = response("Tue, 25 Nov 2025 06:58:00 GMT", b"x");
    assert!(compare(&a, &response("Tue, 25 Nov 2025 06:58:01 GMT", b"x")).is_ok());
    assert!(compare(&a, &response("Tue, 25 Nov 2025 06:58:03 GMT", b"x")).is_err());
    assert!(compare(&a, &response("Tue, 25 Nov 2025 06:58:00 GMT", b"y")).is_err());
    let mut no_date = response("", b"x");
    no_date.headers.pop();
    assert!(compare(&a, &no_date).is_err());
    let mut other_server = response("Tue, 25 Nov 2025 06:58:00 GMT", b"x");
    other_server.headers[0].1 = "eXpServer".into();
    assert!(compare(&a, &other_server).is_err());
}

#[test]
fn listening_ports_are_seen_in_proc_without_connecting() {
    let ports = free_tcp_ports(2).unwrap();
    assert_ne!(ports[0], ports[1]);
    let listener = TcpListener::bind(("0.0.0.0", ports[0])).unwrap();
    assert!(is_bound(ports[0], Proto::Tcp));
    drop(listener);
    assert!(!is_bound(ports[0], Proto::Tcp));
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert!(is_bound(udp.local_addr().unwrap().port(), Proto::Udp));
}

#[test]
fn a_server_is_ready_only_when_it_holds_the_port_itself() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_tcp_ports(2).unwrap();
    let (port, other_port) = (ports[0], ports[1]);
    // Somebody else listens on the port; the program under test never does.
    let _other = TcpListener::bind(("0.0.0.0", port)).unwrap();
    let argv: Vec<String> = ["sleep", "30"].iter().map(|s| s.to_string()).collect();
    let mut proc = Proc::spawn(&argv, dir.path(), &[], &dir.path().join("log")).unwrap();
    let err = wait_bound(&mut proc, &[port], Proto::Tcp, Duration::from_millis(500)).unwrap_err();
    assert!(err.to_string().contains("was not listening"), "{err}");
    // A program that does listen is seen.
    let script = format!(
        "import socket,time; s=socket.socket(); s.bind(('0.0.0.0',{})); s.listen(); time.sleep(30)",
        other_port
    );
    let argv: Vec<String> = ["python3", "-c", &script]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut server = Proc::spawn(&argv, dir.path(), &[], &dir.path().join("log2")).unwrap();
    wait_bound(
        &mut server,
        &[other_port],
        Proto::Tcp,
        Duration::from_secs(10),
    )
    .unwrap();
}

#[test]
fn a_started_process_is_killed_with_its_children_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let argv: Vec<String> = ["sh", "-c", "sleep 30 & echo started; wait"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut proc = Proc::spawn(&argv, dir.path(), &[], &dir.path().join("log")).unwrap();
    let pid = proc.pid();
    assert!(proc.wait_timeout(Duration::from_millis(200)).is_none());
    assert!(rss_bytes(pid).unwrap() > 0);
    cpu_time(pid).unwrap();
    drop(proc);
    // No live (non-zombie) process of that group remains; zombies wait for init to reap them.
    let deadline = Instant::now() + Duration::from_secs(2);
    while live_in_group(pid) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !live_in_group(pid),
        "a child of the killed process is still running"
    );
}

/// True if some process that is not a zombie belongs to process group `pgid`.
fn live_in_group(pgid: u32) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
    })
}

#[test]
fn stages_are_found_by_their_course_names() {
    assert_eq!(stages::find("5-b").unwrap().id, "5b");
    assert_eq!(stages::find("05").unwrap().id, "5");
    assert_eq!(stages::find("10").unwrap().binary, Some("stage10_pipe"));
    assert!(stages::find("0").unwrap().binary.is_none());
    assert!(stages::find("99").is_none());
    let checked: Vec<&str> = stages::STAGES
        .iter()
        .filter(|s| s.has_checks())
        .map(|s| s.id)
        .collect();
    // The grader has no checks for stages 0, 2 and 5-b; it has them for 1, 3, 4, 5 and 6-17.
    for id in [
        "1", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17",
    ] {
        assert!(checked.contains(&id), "stage {id} has no checks");
    }
    for id in ["0", "2", "5b"] {
        assert!(!checked.contains(&id), "stage {id} should have no checks");
    }
}

#[test]
fn every_stage_with_checks_has_a_program_and_a_non_empty_list() {
    let options = Options::for_tests();
    for stage in stages::STAGES {
        let Checks::Grader(list) = stage.checks else {
            continue;
        };
        assert!(stage.binary.is_some(), "stage {} has no binary", stage.id);
        let ports = Ports::course(stage.kind);
        let cx = Ctx {
            ports: &ports,
            options: &options,
        };
        assert!(!list(&cx).is_empty(), "stage {} lists no checks", stage.id);
    }
}

/// A registry entry whose list came out empty, as a stage 18 added without its checks would.
static NO_CHECKS: Stage = Stage {
    id: "99",
    title: "a stage whose list is empty",
    binary: Some("true"),
    kind: ServerKind::Core,
    helpers: &[],
    config: None,
    checks: Checks::Grader(|_| Vec::new()),
    demo: None,
};

#[test]
fn a_stage_that_should_have_checks_and_runs_none_fails() {
    let target = Target::Ours {
        binary: "/bin/true".into(),
    };
    let report = xtask::check_stage(&NO_CHECKS, target, Options::for_tests()).unwrap();
    assert_eq!(report.failed(), 1, "{}", report.render());
    assert!(!report.all_passed());
    assert!(
        report.render().contains("zero checks ran"),
        "{}",
        report.render()
    );
}

#[test]
fn a_custom_command_is_split_like_a_shell_and_gets_the_config_path() {
    let target = Target::custom("xps --name 'my server'").unwrap();
    let stage = stages::find("11").unwrap();
    let layout = xtask::layout::Layout::new().unwrap();
    let ports = xtask::target::Ports::course(stage.kind);
    let config = target.prepare(stage, &ports, &layout).unwrap();
    let argv = target.argv(stage, &ports, &config);
    assert_eq!(argv[..3], ["xps", "--name", "my server"]);
    assert!(argv[3].ends_with("public/xps_config.json"));
    assert_eq!(ports.listen, [8001, 8002, 8003, 8004]);
    assert!(layout.app().is_dir() && layout.public().join("sample.txt").is_file());
    assert_eq!(
        std::fs::read_to_string(layout.temp().join("file.txt")).unwrap(),
        "Some sample data\n"
    );
}

/// A program that exits at once is reported once, quickly, with its output; the other checks
/// say they were not run instead of waiting for the same failure. `--format json` prints one
/// parseable object per check and `--junit` writes XML that a real XML parser (Python's) reads.
#[test]
fn a_server_that_never_starts_is_reported_once_in_json_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let started = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["check-stage", "4", "--format", "json", "--junit"])
        .arg(&junit)
        .args(["--cmd", "sh -c 'echo no such luck; exit 3' sh"])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1));
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let checks: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("every stdout line is JSON"))
        .collect();
    assert_eq!(checks.len(), 3, "{stdout}");
    assert!(checks
        .iter()
        .all(|c| c["pass"] == false && c["stage"] == "4"));
    let first = checks[0]["observed"].as_str().unwrap();
    assert!(first.contains("could not be started"), "{first}");
    assert!(
        first.contains("no such luck"),
        "the server's output: {first}"
    );
    for later in &checks[1..] {
        let observed = later["observed"].as_str().unwrap();
        assert!(observed.starts_with("not run"), "{observed}");
    }
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("0 passed, 3 failed"), "{stderr}");
    let parsed = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, xml.etree.ElementTree as T\n\
             r = T.parse(sys.argv[1]).getroot()\n\
             s = r.find('testsuite')\n\
             print(r.get('tests'), r.get('failures'), s.get('name'), len(s.findall('testcase/failure')))",
        )
        .arg(&junit)
        .output()
        .unwrap();
    assert!(parsed.status.success(), "{parsed:?}");
    assert_eq!(
        String::from_utf8_lossy(&parsed.stdout).trim(),
        "3 3 stage 4 3"
    );
}
