//! The grader's TCP text checks: lock-step strings, ten clients at once, a client that leaves,
//! and stage 1's exit on disconnect.

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use super::wire::{connect, read_upto, send, show, End, Reply, Rng, REPLY_TIMEOUT};
use super::Verdict;
use crate::process::describe_status;
use crate::runner::StageRun;

/// How many strings the lock-step check sends, as in the grader.
pub const LINES: usize = 1000;

/// Sends one line and checks the reply; `what` names the message in a failure.
fn round_trip(stream: &mut TcpStream, line: &[u8], reply: Reply, what: &str) -> Verdict {
    let expected = reply.expected(line);
    send(stream, line).map_err(|e| format!("{what}: sending {} failed: {e}", show(line)))?;
    let (got, end) = read_upto(stream, expected.len(), REPLY_TIMEOUT);
    if got == expected {
        return Ok(String::new());
    }
    Err(format!(
        "{what}: sent {}, expected {}, got {} ({})",
        show(line),
        show(&expected),
        show(&got),
        end.describe()
    ))
}

/// stringReversal / stringWriteBack: 1000 random lines, each sent after the previous reply.
pub fn lock_step(port: u16, reply: Reply) -> Verdict {
    let mut rng = Rng::from_clock();
    let seed = rng.next_u64();
    let mut rng = Rng::seeded(seed);
    let mut stream = connect(port).map_err(|e| format!("cannot connect to port {port}: {e}"))?;
    for i in 0..LINES {
        let line = rng.line(100);
        round_trip(
            &mut stream,
            &line,
            reply,
            &format!("line {}/{LINES}", i + 1),
        )
        .map_err(|e| format!("{e} (seed {seed})"))?;
    }
    Ok(format!(
        "{LINES}/{LINES} replies {} correctly (seed {seed})",
        reply.verb()
    ))
}

/// multipleClients: 10 clients connect at once, client i sends `string-i\n`.
///
/// As in the grader, every client stays connected until all ten have had their answer (or timed
/// out), and only then are they all closed. A client that closed as soon as it was answered
/// would let an iterative server, which serves one connection at a time, pass.
pub fn ten_clients(port: u16, reply: Reply) -> Verdict {
    let handles: Vec<_> = (0..10)
        .map(|i| {
            thread::spawn(move || -> Result<TcpStream, String> {
                let line = format!("string-{i}\n").into_bytes();
                let mut stream =
                    connect(port).map_err(|e| format!("client {i}: cannot connect: {e}"))?;
                round_trip(&mut stream, &line, reply, &format!("client {i}"))?;
                Ok(stream)
            })
        })
        .collect();
    let mut failures = Vec::new();
    let mut answered = Vec::new();
    for handle in handles {
        match handle.join() {
            Ok(Ok(stream)) => answered.push(stream),
            Ok(Err(e)) => failures.push(e),
            Err(_) => failures.push("a client thread panicked".into()),
        }
    }
    // Now that every client is done, close them all at once.
    drop(answered);
    if failures.is_empty() {
        Ok(format!("all 10 clients got their line {}", reply.verb()))
    } else {
        Err(failures.join("\n"))
    }
}

/// finalErrorHandling: A and B connect, A leaves, then B and a new client C are still served.
pub fn client_leaves(port: u16, reply: Reply) -> Verdict {
    let mut rng = Rng::from_clock();
    let a = connect(port).map_err(|e| format!("client A cannot connect: {e}"))?;
    let mut b = connect(port).map_err(|e| format!("client B cannot connect: {e}"))?;
    drop(a);
    // Give the server a moment to see A's close before B talks, as the grader waits for it.
    thread::sleep(Duration::from_millis(50));
    round_trip(&mut b, &rng.line(10), reply, "client B (after A left)")?;
    let mut c = connect(port).map_err(|e| format!("new client C cannot connect: {e}"))?;
    round_trip(&mut c, &rng.line(10), reply, "new client C")?;
    Ok("client B and the new client C were both answered after client A left".into())
}

/// Stage 1's prematureErrorHandling: a client connects and leaves at once; the server must
/// exit with status exactly 1 within 3 s.
pub fn exit_on_disconnect(run: &mut StageRun, port: u16) -> Verdict {
    let stream = connect(port).map_err(|e| format!("cannot connect to port {port}: {e}"))?;
    drop(stream);
    let closed = Instant::now();
    match run.wait_server_exit(Duration::from_secs(3)) {
        None => Err("the server was still running 3 s after the client closed".into()),
        Some(status) => {
            let after = closed.elapsed().as_secs_f64();
            if status.code() == Some(1) {
                Ok(format!(
                    "the server exited with status 1 after {after:.2} s"
                ))
            } else {
                Err(format!(
                    "the server {} after {after:.2} s",
                    describe_status(status)
                ))
            }
        }
    }
}

/// Used by the flood checks: any reply at all to `hello world\n` within `timeout`.
pub fn any_reply(port: u16, timeout: Duration) -> Result<(Vec<u8>, Duration), String> {
    let mut stream = connect(port).map_err(|e| format!("the second client cannot connect: {e}"))?;
    let sent = Instant::now();
    send(&mut stream, b"hello world\n")
        .map_err(|e| format!("the second client cannot send: {e}"))?;
    let (got, end) = read_upto(&mut stream, 1, timeout);
    if got.is_empty() {
        let why = match end {
            End::TimedOut => format!("no reply within {:.0} s", timeout.as_secs_f64()),
            other => other.describe(),
        };
        return Err(why);
    }
    Ok((got, sent.elapsed()))
}
