//! Stage 5-b (optional practice): the sending half of a file transfer over TCP.
//!
//! This is the stage-2 client with a file instead of the keyboard: it connects, sends the file
//! line by line, and closes the connection. Closing is the signal that the file is complete: the
//! server's `recv` then returns 0. The lines are sent as bytes, unchanged, so the received file
//! is identical to the original; the server may well receive two lines in one chunk, because TCP
//! keeps no message boundaries.
//!
//! Exit status: 0 after the whole file was sent, 1 on any error.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::exit;

use clap::Parser;
use phase0::{log, log_payload, parse_addr, IgnoredConfig, DEFAULT_SERVER};

/// Stage 5-b: a TCP client that sends one file.
///
/// It connects to the server, sends the input file line by line (printing each line as
/// `[FILE DATA] <line>`), then closes the connection, which tells the server the file is complete.
/// It exits with status 0 after a complete transfer and 1 on any error.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Server address to connect to
    #[arg(long, default_value = DEFAULT_SERVER, value_parser = parse_addr)]
    server: SocketAddr,

    /// File to send
    #[arg(long, default_value = "t1.txt")]
    input: PathBuf,

    #[command(flatten)]
    config: IgnoredConfig,
}

fn main() {
    let args = Args::parse();

    // Open the file first: if it is missing, the server should not see an empty transfer.
    let file = match File::open(&args.input) {
        Ok(file) => file,
        Err(e) => {
            log(&format!(
                "[ERROR] Error in opening file {}: {e}",
                args.input.display()
            ));
            exit(1);
        }
    };
    let mut conn = match TcpStream::connect(args.server) {
        Ok(conn) => conn,
        Err(_) => {
            log("[ERROR] Failed to connect to tcp server");
            exit(1);
        }
    };
    log("[INFO] Connected to tcp server");

    log("[INFO] Sending data to server...");

    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break, // end of file
            Ok(_) => {}
            Err(e) => {
                log(&format!(
                    "[ERROR] Error in reading file {}: {e}",
                    args.input.display()
                ));
                exit(1);
            }
        }
        if let Err(e) = conn.write_all(&line) {
            log(&format!("[ERROR] Error in sending data: {e}"));
            exit(1);
        }
        log_payload("[FILE DATA] ", &line);
    }

    log("[INFO] File data sent successfully.");
    // Returning from main closes the socket: the server sees the end of the stream.
}
