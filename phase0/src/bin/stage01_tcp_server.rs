//! Stage 1: a TCP server for exactly one client, which reverses every message it receives.
//!
//! This is the whole life of a server socket, one system call at a time:
//!
//! 1. `socket` makes an IPv4 TCP socket;
//! 2. `setsockopt(SO_REUSEADDR)` lets us restart the server at once, even while old connections
//!    from the last run still wait in `TIME_WAIT` on the port;
//! 3. `bind` claims port 8080 on every IPv4 address of the machine (`0.0.0.0`);
//! 4. `listen` turns it into a listening socket; the kernel completes up to 5 handshakes
//!    (the backlog) on its own while nobody calls `accept`;
//! 5. `accept` waits for a client and hands back a *new* socket for that one connection;
//! 6. `recv`/`send` move bytes on that connection.
//!
//! We use `socket2` rather than `std::net::TcpListener::bind` because std hides steps 1-4 in one
//! call and picks a backlog of 128; here every step is visible and the backlog is the course's 5.
//!
//! The server accepts **once**. When its client leaves (or the connection fails), it prints a
//! line and exits with status 1; stage 2 turns this into a server that serves client after
//! client. The grader checks that exit status, so no I/O error may panic (a panic exits with
//! 101).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::process::exit;

use clap::Parser;
use phase0::{log, log_payload, reverse, IgnoredConfig, BACKLOG, BUFF_SIZE, DEFAULT_PORT};
use socket2::{Domain, Socket, Type};

/// Stage 1: a TCP server that serves a single client.
///
/// It listens on 0.0.0.0:PORT, accepts one client, and answers every chunk of bytes the client
/// sends with the same bytes reversed (a trailing newline stays at the end). When the client
/// disconnects, the server exits with status 1. Try it with `nc localhost 8080`.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// TCP port to listen on
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,

    #[command(flatten)]
    config: IgnoredConfig,
}

/// Steps 1-4: socket, SO_REUSEADDR, bind to 0.0.0.0:port, listen.
fn create_server(port: u16) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

fn main() {
    let args = Args::parse();

    let listener = match create_server(args.port) {
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

    // Step 5: block until one client connects. Later clients wait in the backlog forever.
    let mut conn = match listener.accept() {
        Ok((conn, _peer)) => conn,
        Err(e) => {
            log(&format!("[ERROR] Failed to accept a client: {e}"));
            exit(1);
        }
    };
    log("[INFO] Client connected to server");

    // Step 6: serve that one client until it leaves.
    let mut buff = vec![0u8; BUFF_SIZE];
    loop {
        // 0 bytes means the client closed its side; an error (for example a reset) ends the
        // connection too. Either way this server is done.
        let n = match conn.read(&mut buff) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let message = &mut buff[..n];
        log_payload("[CLIENT MESSAGE] ", message);

        // Reply with exactly as many bytes as arrived, in one write.
        reverse(message);
        if conn.write_all(message).is_err() {
            break;
        }
    }

    log("[INFO] Client disconnected. Closing server");
    exit(1);
}
