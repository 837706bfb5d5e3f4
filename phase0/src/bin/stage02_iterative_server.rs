//! Stage 2, experiment 2: the stage-1 server made *iterative*.
//!
//! The only change from stage 1 is an outer loop around `accept`: when a client leaves, the
//! server closes that connection and goes back to `accept` for the next one, instead of exiting.
//!
//! It still serves one client at a time. While it talks to one client, the others have connected
//! (the kernel completed their handshakes into the backlog) and may even have sent data (the
//! kernel buffers it), but nobody reads it. The moment the current client leaves, the next one is
//! accepted and its waiting line is answered at once. Stage 3 (threads) and stage 4 (epoll) are
//! the two ways to serve clients at the same time.
//!
//! This stays a separate program from stage 1 because the grader's stage-1 test requires the
//! stage-1 server to exit with status 1 when its client leaves.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::exit;

use clap::Parser;
use phase0::{log, log_payload, reverse, IgnoredConfig, BUFF_SIZE, DEFAULT_PORT};

/// Stage 2: an iterative TCP server, serving clients one after another.
///
/// Like stage 1, it listens on 0.0.0.0:PORT and answers each chunk a client sends with the bytes
/// reversed. When a client disconnects, the server goes back to accept the next client instead of
/// exiting; clients that connect meanwhile wait their turn. It runs until interrupted.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// TCP port to listen on
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,

    #[command(flatten)]
    config: IgnoredConfig,
}

fn main() {
    let args = Args::parse();

    // socket, SO_REUSEADDR, bind 0.0.0.0, listen: the same steps as stage 1.
    let listener = match phase0::create_server(args.port) {
        Ok(listener) => listener,
        Err(e) => {
            log(&format!(
                "[ERROR] Failed to listen on port {}: {e}",
                args.port
            ));
            exit(1);
        }
    };
    let port = phase0::bound_port(&listener, args.port);
    log(&format!("[INFO] Server listening on port {port}"));

    // The new outer loop: one turn per client.
    loop {
        match listener.accept() {
            Ok((conn, _peer)) => {
                log("[INFO] Client connected to server");
                serve(conn);
                log("[INFO] Client disconnected");
            }
            // A failed accept concerns only that one would-be client.
            Err(e) => log(&format!("[ERROR] Failed to accept a client: {e}")),
        }
    }
}

/// Serves one client until it leaves: the inner loop of stage 1.
fn serve(mut conn: TcpStream) {
    let mut buff = vec![0u8; BUFF_SIZE];
    loop {
        let n = match conn.read(&mut buff) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let message = &mut buff[..n];
        log_payload("[CLIENT MESSAGE] ", message);

        reverse(message);
        if conn.write_all(message).is_err() {
            return;
        }
    }
    // `conn` is dropped on return, which closes this client's socket.
}
