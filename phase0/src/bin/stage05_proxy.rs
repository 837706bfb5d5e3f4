//! Stage 5: a TCP proxy in front of a Python file server, built on the stage-4 epoll loop.
//!
//! A proxy is a server and a client at once. For every client that connects to us (port 8080)
//! we open our own connection to the *upstream* server (`python3 -m http.server 3000`), and from
//! then on we copy bytes: whatever the client sends goes to its upstream connection, whatever the
//! upstream sends back goes to the client. The proxy does not understand HTTP; it passes every byte
//! through unchanged, so a browser pointed at `localhost:8080` sees exactly what `localhost:3000`
//! serves.
//!
//! The one new data structure is the **route table**: each socket knows its partner (client ->
//! upstream and upstream -> client). The C course keeps a fixed array of 10 pairs that never
//! shrinks, which a browser fills within a few page loads; here it is a `HashMap` keyed by file
//! descriptor, and both entries of a pair are removed when the pair closes.
//!
//! When either side ends (end of stream or an error such as `ECONNRESET`, or `EPIPE` when we write
//! to a peer that has gone), we close **both** sockets of the pair. Everything read so far has
//! already been written on, because each chunk is forwarded as soon as it is read. Python's
//! server closes its connection after every response, so closing the client too is what tells the
//! browser the response is complete. (A client that half-closes, such as `nc -N`, therefore gets
//! no answer: its end of stream closes the pair before the response arrives. Phase 1 handles
//! that properly.)
//!
//! Flaws kept on purpose, fixed in phase 1: the sockets are blocking, so `write_all` to a client
//! that does not read, or a slow `connect` to the upstream, stalls every other connection.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::process::exit;

use clap::Parser;
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use phase0::{
    log, log_payload, parse_addr, IgnoredConfig, BUFF_SIZE, DEFAULT_PORT, DEFAULT_UPSTREAM,
    MAX_EPOLL_EVENTS,
};

/// Stage 5: a TCP proxy that relays every client to an upstream server.
///
/// It listens on 0.0.0.0:PORT; for each client it opens a new connection to UPSTREAM and copies
/// bytes unchanged in both directions, all from one thread with epoll. When either side closes,
/// both connections are closed. Run `python3 -m http.server 3000` and open
/// http://localhost:8080 in a browser.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// TCP port to listen on
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,

    /// Upstream server every client is relayed to
    #[arg(long, default_value = DEFAULT_UPSTREAM, value_parser = parse_addr)]
    upstream: SocketAddr,

    #[command(flatten)]
    config: IgnoredConfig,
}

/// Which side of a pair a socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Upstream,
}

/// One socket of a client/upstream pair, with its route to the other one.
struct End {
    stream: TcpStream,
    side: Side,
    /// The partner socket: bytes read here are written there.
    peer: RawFd,
}

/// Everything the event loop works with.
struct Proxy {
    listener: TcpListener,
    epoll: Epoll,
    upstream: SocketAddr,
    /// The route table: every open client and upstream socket, by file descriptor.
    ends: HashMap<RawFd, End>,
}

fn main() {
    let args = Args::parse();

    // create_server: socket, SO_REUSEADDR, bind 0.0.0.0, listen, as in stage 1.
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

    // create_loop + loop_attach(listener), as in stage 4.
    let epoll = match Epoll::new(EpollCreateFlags::empty()) {
        Ok(epoll) => epoll,
        Err(e) => {
            log(&format!("[ERROR] Failed to create epoll instance: {e}"));
            exit(1);
        }
    };
    let listen_fd = listener.as_raw_fd();
    if let Err(e) = epoll.add(
        &listener,
        EpollEvent::new(EpollFlags::EPOLLIN, listen_fd as u64),
    ) {
        log(&format!(
            "[ERROR] Failed to watch the listening socket: {e}"
        ));
        exit(1);
    }

    let mut proxy = Proxy {
        listener,
        epoll,
        upstream: args.upstream,
        ends: HashMap::new(),
    };
    proxy.run();
}

impl Proxy {
    /// The event loop (the course's `loop_run`): wait, then handle each ready socket.
    fn run(&mut self) -> ! {
        let listen_fd = self.listener.as_raw_fd();
        let mut events = [EpollEvent::empty(); MAX_EPOLL_EVENTS];
        let mut buff = vec![0u8; BUFF_SIZE];

        loop {
            log("[DEBUG] Epoll wait");
            let ready = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(ready) => ready,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    log(&format!("[ERROR] Epoll wait failed: {e}"));
                    exit(1);
                }
            };

            // Sockets closed while handling this batch; see stage 4 for why their remaining
            // events in the batch must be skipped (an accept may reuse their fd numbers).
            let mut closed: Vec<RawFd> = Vec::new();

            for event in &events[..ready] {
                let fd = event.data() as RawFd;
                if fd == listen_fd {
                    self.accept_connection();
                } else if !closed.contains(&fd) && self.ends.contains_key(&fd) {
                    self.forward(fd, &mut buff, &mut closed);
                }
            }
        }
    }

    /// A client is waiting: accept it, connect a new upstream connection for it, and put both
    /// on the epoll interest list and in the route table.
    fn accept_connection(&mut self) {
        let client = match self.listener.accept() {
            Ok((client, _peer)) => client,
            Err(e) => {
                log(&format!("[ERROR] Failed to accept a client: {e}"));
                return;
            }
        };
        log("[INFO] Client connected to server");

        // One upstream connection per client. If the upstream is down, this client cannot be
        // served: dropping `client` closes it, and the proxy carries on.
        let upstream = match TcpStream::connect(self.upstream) {
            Ok(upstream) => upstream,
            Err(_) => {
                log("[ERROR] Failed to connect to upstream");
                return;
            }
        };

        let client_fd = client.as_raw_fd();
        let upstream_fd = upstream.as_raw_fd();
        if let Err(e) = self.watch(&client).and_then(|()| self.watch(&upstream)) {
            log(&format!("[ERROR] Failed to watch a connection: {e}"));
            // Returning drops both sockets; closing a socket also takes it off the interest list.
            return;
        }

        let client_end = End {
            stream: client,
            side: Side::Client,
            peer: upstream_fd,
        };
        let upstream_end = End {
            stream: upstream,
            side: Side::Upstream,
            peer: client_fd,
        };
        self.ends.insert(client_fd, client_end);
        self.ends.insert(upstream_fd, upstream_end);
    }

    /// Puts a socket on the epoll interest list for reading (the course's `loop_attach`), with
    /// its file descriptor as the value epoll hands back.
    fn watch(&self, stream: &TcpStream) -> nix::Result<()> {
        let fd = stream.as_raw_fd();
        self.epoll
            .add(stream, EpollEvent::new(EpollFlags::EPOLLIN, fd as u64))
    }

    /// A client or upstream socket is readable: read one chunk and write all of it to the
    /// partner (the course's `handle_client` and `handle_upstream`, which differ only in what
    /// they log). End of stream or any error closes the pair.
    fn forward(&mut self, fd: RawFd, buff: &mut [u8], closed: &mut Vec<RawFd>) {
        let Some(end) = self.ends.get_mut(&fd) else {
            return;
        };
        let n = match end.stream.read(buff) {
            Ok(0) | Err(_) => return self.close_pair(fd, closed),
            Ok(n) => n,
        };
        let chunk = &buff[..n];
        if end.side == Side::Client {
            // The request exactly as the client sent it (for a browser: the whole HTTP request).
            log_payload("[CLIENT MESSAGE] ", chunk);
        }

        let peer = end.peer;
        let Some(peer_end) = self.ends.get_mut(&peer) else {
            return self.close_pair(fd, closed);
        };
        // `send` may take only part of the bytes; `write_all` loops until all are written.
        if peer_end.stream.write_all(chunk).is_err() {
            self.close_pair(fd, closed);
        }
    }

    /// Closes a socket and its partner, and removes both from epoll and the route table.
    fn close_pair(&mut self, fd: RawFd, closed: &mut Vec<RawFd>) {
        let Some(end) = self.ends.remove(&fd) else {
            return;
        };
        let _ = self.epoll.delete(&end.stream);
        closed.push(fd);
        if let Some(peer_end) = self.ends.remove(&end.peer) {
            let _ = self.epoll.delete(&peer_end.stream);
            closed.push(end.peer);
        }
        log("[INFO] Client disconnected");
        // `end` and `peer_end` are dropped here, which closes both sockets.
    }
}
