//! Stage 3: a UDP server that handles every datagram in its own thread.
//!
//! UDP has no connections: no `listen`, no `accept`, one socket for everybody. Each `recv_from`
//! returns one whole datagram together with the address of whoever sent it, and the reply is
//! addressed back with `send_to`. Because no client owns the socket, a client that goes quiet or
//! disappears cannot hold anyone else up.
//!
//! To show the "thread per request" model (Apache's), the main thread only receives; each datagram
//! is copied into a job that a new thread handles and then forgets (the thread is *detached*: we
//! drop its `JoinHandle` and never wait for it).
//!
//! The threads reply through the **same** socket the server is bound to, shared with an `Arc`, so
//! replies come from port 8080. A client such as `nc -u` "connects" its UDP socket and drops
//! datagrams from any other port, so replying from a fresh socket would look like silence.
//!
//! The server never exits on its own; errors are logged and it keeps receiving.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::exit;
use std::sync::Arc;
use std::thread;

use clap::Parser;
use phase0::{log, log_payload, reverse, IgnoredConfig, BUFF_SIZE, DEFAULT_PORT};

/// Stage 3: a UDP server that reverses each datagram, one thread per datagram.
///
/// It binds a UDP socket to 0.0.0.0:PORT and answers every datagram with the same bytes reversed
/// (a trailing newline stays at the end), sent back from the same port to the sender. Each
/// datagram is handled by a new detached thread. Try it with `nc -u 127.0.0.1 8080`.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// UDP port to listen on
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,

    #[command(flatten)]
    config: IgnoredConfig,
}

fn main() {
    let args = Args::parse();

    // socket(SOCK_DGRAM) + bind: that is all a UDP server needs.
    let socket = match UdpSocket::bind((Ipv4Addr::UNSPECIFIED, args.port)) {
        Ok(socket) => Arc::new(socket),
        Err(e) => {
            log(&format!("[ERROR] Failed to bind port {}: {e}", args.port));
            exit(1);
        }
    };
    let port = socket.local_addr().map_or(args.port, |addr| addr.port());
    log(&format!("[INFO] server listening on port {port}"));

    let mut buff = vec![0u8; BUFF_SIZE];
    loop {
        // One datagram per call. A datagram longer than the buffer is cut to BUFF_SIZE bytes.
        let (n, client) = match socket.recv_from(&mut buff) {
            Ok(received) => received,
            Err(e) => {
                log(&format!("[ERROR] Failed to receive a datagram: {e}"));
                continue;
            }
        };

        // The job owns a copy of the datagram, because `buff` is reused for the next one.
        let message = buff[..n].to_vec();
        let socket = Arc::clone(&socket);
        let spawned =
            thread::Builder::new().spawn(move || handle_datagram(&socket, message, client));
        // Dropping the JoinHandle detaches the thread.
        if let Err(e) = spawned {
            log(&format!("[ERROR] Failed to create thread: {e}"));
        }
    }
}

/// The job of one thread: log the datagram, reverse it and send it back to its sender.
fn handle_datagram(socket: &UdpSocket, mut message: Vec<u8>, client: SocketAddr) {
    log_payload("[CLIENT MESSAGE] ", &message);
    reverse(&mut message);
    if let Err(e) = socket.send_to(&message, client) {
        log(&format!("[ERROR] Failed to reply to {client}: {e}"));
    }
}
