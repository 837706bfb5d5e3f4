//! Stage 4: one thread serving many TCP clients at once, with `epoll`.
//!
//! The stage-1 server blocked in `recv` on its one client, so nobody else could be served. Here we
//! never call `accept` or `recv` on a socket unless the kernel has told us it is ready, and the
//! kernel tells us through `epoll`:
//!
//! 1. `epoll_create1` makes an epoll instance, a kernel object holding a list of sockets we are
//!    interested in;
//! 2. `epoll_ctl(ADD)` puts a socket on that list with the events we want (`EPOLLIN`: "there is
//!    something to read", which for a listening socket means "a client is waiting to be
//!    accepted") and a 64-bit value of our choice that comes back with each event; we store the
//!    file descriptor there;
//! 3. `epoll_wait` sleeps until at least one socket on the list is ready and returns up to 10
//!    events.
//!
//! This is *level-triggered* epoll: a socket is reported again on every wait for as long as it
//! stays ready. So a client that has closed (its `recv` returns 0 forever) must be removed and
//! closed; forget that and the server spins, printing `[DEBUG] Epoll wait` without end.
//!
//! The sockets are still *blocking*. That is fine as long as we only touch ready sockets, and it
//! is the flaw phase 1 fixes: a client that never reads its replies can still block a `send`,
//! and with it every other client. This is how nginx works (one thread, many sockets); stage 3
//! showed the other way (one thread per request).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::process::exit;

use clap::Parser;
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use phase0::{log, log_payload, reverse, IgnoredConfig, BUFF_SIZE, DEFAULT_PORT, MAX_EPOLL_EVENTS};

/// Stage 4: a single-threaded TCP server for many clients at once, using epoll.
///
/// It listens on 0.0.0.0:PORT and answers every chunk a client sends with the bytes reversed (a
/// trailing newline stays at the end), serving all connected clients at the same time from one
/// thread with level-triggered epoll. A client that disconnects is closed; the server keeps
/// running until interrupted.
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

    // The epoll instance, with the listening socket on its interest list.
    let listen_fd = listener.as_raw_fd();
    let epoll = match Epoll::new(EpollCreateFlags::empty()) {
        Ok(epoll) => epoll,
        Err(e) => {
            log(&format!("[ERROR] Failed to create epoll instance: {e}"));
            exit(1);
        }
    };
    if let Err(e) = epoll.add(
        &listener,
        EpollEvent::new(EpollFlags::EPOLLIN, listen_fd as u64),
    ) {
        log(&format!(
            "[ERROR] Failed to watch the listening socket: {e}"
        ));
        exit(1);
    }

    // Every connected client, by file descriptor (the number epoll hands back to us).
    let mut clients: HashMap<RawFd, TcpStream> = HashMap::new();
    let mut events = [EpollEvent::empty(); MAX_EPOLL_EVENTS];
    let mut buff = vec![0u8; BUFF_SIZE];

    loop {
        log("[DEBUG] Epoll wait");
        let ready = match epoll.wait(&mut events, EpollTimeout::NONE) {
            Ok(ready) => ready,
            Err(Errno::EINTR) => continue, // a signal interrupted the wait; just wait again
            Err(e) => {
                log(&format!("[ERROR] Epoll wait failed: {e}"));
                exit(1);
            }
        };

        // Clients closed while handling this batch. A later event of the same batch may still
        // name one of them, and by then a new client accepted in this batch may have been given
        // the same fd number; a blocking read on that new client would stall the whole server.
        let mut closed: Vec<RawFd> = Vec::new();

        for event in &events[..ready] {
            let fd = event.data() as RawFd;

            if fd == listen_fd {
                // A client is waiting: accept it and add its socket to the interest list.
                match listener.accept() {
                    Ok((conn, _peer)) => {
                        let conn_fd = conn.as_raw_fd();
                        let watch = EpollEvent::new(EpollFlags::EPOLLIN, conn_fd as u64);
                        match epoll.add(&conn, watch) {
                            Ok(()) => {
                                log("[INFO] Client connected to server");
                                clients.insert(conn_fd, conn);
                            }
                            Err(e) => log(&format!("[ERROR] Failed to watch a client: {e}")),
                        }
                    }
                    Err(e) => log(&format!("[ERROR] Failed to accept a client: {e}")),
                }
                continue;
            }

            if closed.contains(&fd) {
                continue;
            }
            let Some(conn) = clients.get_mut(&fd) else {
                continue;
            };

            // The client is ready: this recv will not block.
            let keep = match conn.read(&mut buff) {
                Ok(0) | Err(_) => false, // the client left, or its connection failed
                Ok(n) => {
                    let message = &mut buff[..n];
                    log_payload("[CLIENT MESSAGE] ", message);
                    reverse(message);
                    conn.write_all(message).is_ok()
                }
            };

            if !keep {
                // Close only this client: take it off the interest list, then drop (close) it.
                if let Some(conn) = clients.remove(&fd) {
                    let _ = epoll.delete(&conn);
                }
                closed.push(fd);
                log("[INFO] Client disconnected");
            }
        }
    }
}
