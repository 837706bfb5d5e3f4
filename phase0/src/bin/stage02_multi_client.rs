//! Stage 2, experiment 3: many clients at once, made with `fork`.
//!
//! The point of this program is to watch a server under several simultaneous clients: against the
//! stage-1 server only one is served and the others are reset when it exits; against the
//! iterative server they are served one after another.
//!
//! Why `fork` (through `nix`) and not threads or re-running ourselves with
//! `std::process::Command`? The course uses `fork` here, and it is the lesson: one call, two
//! processes, each continuing from the same line with its own copy of memory. Every child is a
//! separate process with its own socket, exactly like starting N copies of the stage-2 client by
//! hand, and the parent only waits for them (`waitpid`). `fork` is only safe while the process
//! has a single thread, which is the case here: we fork before anything could start a thread.
//!
//! Every output line starts with `[Client i]` (i from 1) so the interleaved output of the
//! children can be told apart; its order changes from run to run. The program exits with 0 when
//! every child got its reply and 1 otherwise.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::exit;

use clap::Parser;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use phase0::{log, parse_addr, IgnoredConfig, BUFF_SIZE, DEFAULT_SERVER};

/// Stage 2: starts several TCP clients at the same time, one process each.
///
/// The program forks N child processes. Each child connects to the server, sends `hello\n`,
/// waits for one reply and prints it, every line prefixed with `[Client i]`. The parent waits for
/// all children and exits with status 0 if every child got a reply, 1 otherwise.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Server address to connect to
    #[arg(long, default_value = DEFAULT_SERVER, value_parser = parse_addr)]
    server: SocketAddr,

    /// Number of clients (child processes) to start
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    clients: u32,

    #[command(flatten)]
    config: IgnoredConfig,
}

fn main() {
    let args = Args::parse();

    // Anything still in our stdout buffer would be copied into every child and printed N times.
    let _ = io::stdout().flush();

    let mut children: Vec<Pid> = Vec::new();
    let mut all_ok = true;
    for i in 1..=args.clients {
        // SAFETY: the process has one thread (no thread has been started), so the child gets a
        // consistent copy of memory and may run any code before it exits.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => exit(run_client(i, args.server)),
            Ok(ForkResult::Parent { child }) => children.push(child),
            Err(e) => {
                log(&format!("[ERROR] Fork failed: {e}"));
                all_ok = false;
                break;
            }
        }
    }

    // The parent's only job: wait until every child has exited.
    for child in children {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => {}
            _ => all_ok = false,
        }
    }
    exit(if all_ok { 0 } else { 1 });
}

/// The whole life of child `i`: connect, send `hello\n`, receive once. Returns the exit status.
fn run_client(i: u32, server: SocketAddr) -> i32 {
    let mut conn = match TcpStream::connect(server) {
        Ok(conn) => conn,
        Err(_) => {
            say(i, b"[ERROR] Failed to connect to server\n");
            return 1;
        }
    };
    say(i, b"[INFO] Connected to server\n");

    let message = b"hello\n";
    if conn.write_all(message).is_err() {
        say(i, b"[INFO] Server disconnected. Closing client\n");
        return 1;
    }
    say(i, &[b"Sent: ".as_slice(), message].concat());

    let mut buff = vec![0u8; BUFF_SIZE];
    match conn.read(&mut buff) {
        Ok(0) | Err(_) => {
            say(i, b"[INFO] Server disconnected. Closing client\n");
            1
        }
        Ok(n) => {
            say(i, &[b"[SERVER MESSAGE] ".as_slice(), &buff[..n]].concat());
            0
        }
    }
}

/// Prints `[Client i] ` and `text` with a single write, so lines of different children never
/// get mixed inside one line.
fn say(i: u32, text: &[u8]) {
    let line = [format!("[Client {i}] ").as_bytes(), text].concat();
    let mut out = io::stdout().lock();
    let _ = out.write_all(&line);
    let _ = out.flush();
}
