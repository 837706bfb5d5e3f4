//! The grader's UDP checks for stage 3: lock-step datagrams, ten sockets at once, and a client
//! that goes away.

use std::io;
use std::net::UdpSocket;
use std::thread;

use super::wire::{is_timeout, local, show, Reply, Rng, REPLY_TIMEOUT};
use super::Verdict;

/// A fresh UDP socket on an ephemeral loopback port, with the reply timeout set.
fn socket() -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(REPLY_TIMEOUT))?;
    Ok(socket)
}

/// Sends one datagram and returns the reply datagram.
fn exchange(socket: &UdpSocket, port: u16, data: &[u8]) -> Result<Vec<u8>, String> {
    socket
        .send_to(data, local(port))
        .map_err(|e| format!("sending {} failed: {e}", show(data)))?;
    let mut buf = vec![0u8; 65536];
    match socket.recv_from(&mut buf) {
        Ok((n, _from)) => Ok(buf[..n].to_vec()),
        Err(e) if is_timeout(&e) => Err(format!("no reply to {} within 5 s", show(data))),
        Err(e) => Err(format!("receiving the reply to {} failed: {e}", show(data))),
    }
}

/// Sends `line` and requires the correct reversal.
fn reversed(socket: &UdpSocket, port: u16, line: &[u8], who: &str) -> Verdict {
    let expected = Reply::Reverse.expected(line);
    let got = exchange(socket, port, line).map_err(|e| format!("{who}: {e}"))?;
    if got == expected {
        Ok(String::new())
    } else {
        Err(format!(
            "{who}: sent {}, expected {}, got {}",
            show(line),
            show(&expected),
            show(&got)
        ))
    }
}

/// udpStringReversal: 1000 datagrams, each sent after the previous reply.
pub fn lock_step(port: u16) -> Verdict {
    let seed = Rng::from_clock().next_u64();
    let mut rng = Rng::seeded(seed);
    let socket = socket().map_err(|e| e.to_string())?;
    for i in 0..super::tcp::LINES {
        let line = rng.line(100);
        reversed(&socket, port, &line, &format!("datagram {}/1000", i + 1))
            .map_err(|e| format!("{e} (seed {seed})"))?;
    }
    Ok(format!(
        "1000/1000 reply datagrams reversed correctly (seed {seed})"
    ))
}

/// udpMultipleClients: 10 sockets send `string-i\n` at the same moment.
pub fn ten_clients(port: u16) -> Verdict {
    let handles: Vec<_> = (0..10)
        .map(|i| {
            thread::spawn(move || -> Verdict {
                let socket = socket().map_err(|e| format!("client {i}: {e}"))?;
                reversed(
                    &socket,
                    port,
                    format!("string-{i}\n").as_bytes(),
                    &format!("client {i}"),
                )
            })
        })
        .collect();
    let failures: Vec<String> = handles
        .into_iter()
        .filter_map(|h| match h.join() {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("a client thread panicked".into()),
        })
        .collect();
    if failures.is_empty() {
        Ok("all 10 sockets got their own datagram reversed".into())
    } else {
        Err(failures.join("\n"))
    }
}

/// udpErrorHandling: socket A gets any reply and closes; B and then C must still be served.
pub fn client_leaves(port: u16) -> Verdict {
    let mut rng = Rng::from_clock();
    let a = socket().map_err(|e| e.to_string())?;
    exchange(&a, port, &rng.line(10)).map_err(|e| format!("socket A: {e}"))?;
    drop(a);
    let b = socket().map_err(|e| e.to_string())?;
    reversed(&b, port, &rng.line(10), "socket B (after A closed)")?;
    let c = socket().map_err(|e| e.to_string())?;
    reversed(&c, port, &rng.line(10), "new socket C")?;
    Ok("sockets B and C were both answered after socket A closed".into())
}
