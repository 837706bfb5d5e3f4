//! A listener that runs out of descriptors must not stop accepting for good.
//!
//! When `accept` fails with EMFILE, the waiting clients stay in the kernel's accept queue. An
//! edge-triggered listener gets no new event for them (the queue did not *become* readable),
//! so before the listener retried on its own, a full queue was never accepted from again, even
//! after every client had left: new clients' SYNs were dropped and they timed out.
//!
//! Here the stage-10 echo port and the stage-13 idle port run with a 24-descriptor limit.
//! 80 clients connect and stay, each holding one descriptor of the server; the server runs out
//! and the queue fills. Then they all leave, and one more client connects: it must be accepted
//! within a few seconds (stage 10 echoes its bytes, which shows it was).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLIENTS: usize = 80;

fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `port` listens; false if `server` exits first or 10 s pass.
fn wait_listening(server: &mut Killed, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    let wanted = format!(":{port:04X} ");
    loop {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        if table.lines().any(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(wanted.trim()))
                && l.split_whitespace().nth(3) == Some("0A")
        }) {
            return true;
        }
        if Instant::now() >= deadline || !matches!(server.0.try_wait(), Ok(None)) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Start `binary` with a 24-descriptor limit on four free ports; returns it and the ports. A
/// port found free can be taken by another test before the server binds it, and the server then
/// exits: that start is retried on new ports, up to three times.
fn start_limited(binary: &str) -> (Killed, Vec<u16>) {
    for _ in 0..3 {
        if let Some(started) = try_start_limited(binary) {
            return started;
        }
    }
    panic!("the server never listened");
}

fn try_start_limited(binary: &str) -> Option<(Killed, Vec<u16>)> {
    let ports = free_ports(4);
    let list = ports
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",");
    // `ulimit -n` sets the soft and the hard limit, so the server cannot raise it again.
    let script = format!("ulimit -n 24 && exec '{binary}' --ports {list}");
    let mut server = Killed(
        Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(&mut server, ports[3]).then_some((server, ports))
}

/// Fill the server's descriptors and its accept queue at `addr`, then leave.
fn flood_then_leave(addr: SocketAddr) {
    // Clients past the queue's 64 places may not get in at all: that is fine.
    let flood: Vec<TcpStream> = (0..CLIENTS)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok())
        .collect();
    assert!(flood.len() > 64, "only {} clients connected", flood.len());
    std::thread::sleep(Duration::from_millis(300));
    drop(flood);
    std::thread::sleep(Duration::from_millis(200));
}

#[test]
fn a_listener_out_of_descriptors_recovers_once_clients_leave() {
    let binary = std::env::var("STAGE10_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_stage10_pipe").to_string());
    let (_server, ports) = start_limited(&binary);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, ports[3]));
    flood_then_leave(addr);

    let asked = Instant::now();
    let mut probe = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .expect("the probe could not even connect");
    probe
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    probe.write_all(b"still there?").unwrap();
    let mut got = [0u8; 12];
    let outcome = probe.read_exact(&mut got);
    assert!(
        outcome.is_ok() && &got == b"still there?",
        "no echo ({outcome:?}) after {:?}: the listener stopped accepting",
        asked.elapsed()
    );
    // The listener retries every 100 ms; the queue of departed clients drains in a few turns.
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "served only after {:?}",
        asked.elapsed()
    );
}

#[test]
fn stage13_idle_port_recovers_too() {
    let binary = env!("CARGO_BIN_EXE_stage13_session");
    let (server, ports) = start_limited(binary);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, ports[2]));
    flood_then_leave(addr);
    // The idle port answers nothing; that it accepted the probe shows in the server's
    // descriptors: the count falls back after the flood and rises by one for the probe.
    let fds = || std::fs::read_dir(format!("/proc/{}/fd", server.0.id())).map_or(0, |d| d.count());
    let deadline = Instant::now() + Duration::from_secs(3);
    while fds() > 16 {
        assert!(Instant::now() < deadline, "descriptors stay at {}", fds());
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = fds();
    let _probe = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while fds() <= before {
        assert!(Instant::now() < deadline, "the probe was never accepted");
        std::thread::sleep(Duration::from_millis(20));
    }
}
