//! Stage 2: a TCP client, the other half of stage 1.
//!
//! A client needs no `bind`, `listen` or `accept`: it makes a socket and calls `connect`, and
//! the kernel picks a free local port for it. After that the connection works the same in both
//! directions, so the loop mirrors the server's: send a line, `recv` once, print the reply.
//!
//! Things to try:
//! - start the client before any server: `connect` is refused at once, because nothing listens
//!   on the port (compare with UDP in stage 3, where sending "works" with nobody listening);
//! - run two clients against the stage-1 server: the second one connects (the kernel finishes
//!   the handshake into the backlog) but never gets an answer.
//!
//! Exit status: 0 when stdin ends, 1 when the server cannot be reached or goes away.

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::exit;

use clap::Parser;
use phase0::{log, log_payload, parse_addr, IgnoredConfig, BUFF_SIZE, DEFAULT_SERVER};

/// Stage 2: a TCP client for the reversal servers.
///
/// It connects to the server, then sends each line typed on stdin, waits for one reply and prints
/// it as `[SERVER MESSAGE] <reply>`. It exits with status 0 at the end of stdin (Ctrl-D) and with
/// status 1 if the server cannot be reached or closes the connection.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Server address to connect to
    #[arg(long, default_value = DEFAULT_SERVER, value_parser = parse_addr)]
    server: SocketAddr,

    #[command(flatten)]
    config: IgnoredConfig,
}

fn main() {
    let args = Args::parse();

    let mut conn = match TcpStream::connect(args.server) {
        Ok(conn) => conn,
        Err(_) => {
            log("[ERROR] Failed to connect to tcp server");
            exit(1);
        }
    };
    log("[INFO] Connected to tcp server");

    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    let mut buff = vec![0u8; BUFF_SIZE];
    loop {
        // Read one line, keeping its '\n' (bytes, so any input works).
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => break, // end of input: we are done
            Ok(_) => {}
            Err(e) => {
                log(&format!("[ERROR] Failed to read stdin: {e}"));
                exit(1);
            }
        }

        if conn.write_all(&line).is_err() {
            server_gone();
        }

        // One recv, like the C client. TCP keeps no message boundaries, so a long reply could in
        // principle arrive in pieces; for short lines it arrives at once.
        match conn.read(&mut buff) {
            Ok(0) | Err(_) => server_gone(),
            Ok(n) => log_payload("[SERVER MESSAGE] ", &buff[..n]),
        }
    }
    // Dropping the socket closes the connection.
}

/// The server closed the connection (or reset it): nothing more we can do.
fn server_gone() -> ! {
    log("[INFO] Server disconnected. Closing client");
    exit(1);
}
