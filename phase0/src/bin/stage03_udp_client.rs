//! Stage 3: a UDP client for the stage-3 server.
//!
//! Compare it with the TCP client of stage 2: there is no `connect`, nothing is established, and
//! every message names its destination (`send_to`). Start this client before the server and
//! `send_to` still "works": nobody is told the datagram was lost, and the client just waits in
//! `recv_from` for a reply that never comes. TCP refused the connection at once instead.
//!
//! The socket is bound to port 0, which asks the kernel for any free local port, so the server
//! has an address to reply to. The client exits with status 0 at the end of stdin (Ctrl-D).

use std::io::{self, BufRead, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::exit;

use clap::Parser;
use phase0::{log, log_payload, parse_addr, IgnoredConfig, BUFF_SIZE, DEFAULT_SERVER};

/// Stage 3: a UDP client for the reversal server.
///
/// It prompts `Enter a string : `, sends each line typed on stdin as one datagram to the server,
/// waits for the reply datagram and prints it as `[SERVER MESSAGE] <reply>`. It exits with status 0
/// at the end of stdin. There is no timeout: if the reply is lost, it waits forever.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Server address to send datagrams to
    #[arg(long, default_value = DEFAULT_SERVER, value_parser = parse_addr)]
    server: SocketAddr,

    #[command(flatten)]
    config: IgnoredConfig,
}

fn main() {
    let args = Args::parse();

    // Any local address of the server's family, any free port.
    let local: SocketAddr = match args.server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = match UdpSocket::bind(local) {
        Ok(socket) => socket,
        Err(e) => {
            log(&format!("[ERROR] Failed to create a UDP socket: {e}"));
            exit(1);
        }
    };

    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    let mut buff = vec![0u8; BUFF_SIZE];
    loop {
        let mut out = io::stdout().lock();
        let _ = out.write_all(b"Enter a string : ");
        let _ = out.flush();
        drop(out);

        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => break, // end of input
            Ok(_) => {}
            Err(e) => {
                log(&format!("[ERROR] Failed to read stdin: {e}"));
                exit(1);
            }
        }

        if let Err(e) = socket.send_to(&line, args.server) {
            log(&format!("[ERROR] Failed to send the datagram: {e}"));
            continue;
        }
        match socket.recv_from(&mut buff) {
            Ok((n, _from)) => log_payload("[SERVER MESSAGE] ", &buff[..n]),
            Err(e) => log(&format!("[ERROR] Failed to receive the reply: {e}")),
        }
    }
}
