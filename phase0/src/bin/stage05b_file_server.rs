//! Stage 5-b (optional practice): the receiving half of a file transfer over TCP.
//!
//! This is the stage-1 server with a different job for its one client: instead of replying, it
//! writes every byte it receives into a file. TCP is a byte stream, so the file arrives in chunks
//! whose sizes have nothing to do with the lines of the original file; we append each chunk
//! exactly as received, and the end of the stream (the client closing its side) marks the end of
//! the file. That is why the server needs no length or end marker.
//!
//! After one transfer the server exits with status 0.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::exit;

use clap::Parser;
use phase0::{log, log_payload, IgnoredConfig, BUFF_SIZE, DEFAULT_PORT};

/// Stage 5-b: a TCP server that receives one file.
///
/// It listens on 0.0.0.0:PORT, accepts one client and writes everything that client sends into
/// the output file (created or truncated), byte for byte. When the client closes the connection,
/// the server reports success and exits with status 0. Send it a file with stage05b_file_client,
/// or type lines into `nc localhost 8080` and press Ctrl-C.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// TCP port to listen on
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,

    /// File the received data is written to
    #[arg(long, default_value = "t2.txt")]
    output: PathBuf,

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

    // One client, one file.
    let conn = match listener.accept() {
        Ok((conn, _peer)) => conn,
        Err(e) => {
            log(&format!("[ERROR] Failed to accept a client: {e}"));
            exit(1);
        }
    };
    log("[INFO] Client connected to server");

    write_to_file(conn, &args.output);
    // Returning from main closes the connection and exits with status 0.
}

/// Copies everything the client sends into `path`, until the client closes the connection.
fn write_to_file(mut conn: TcpStream, path: &Path) {
    let mut file = match File::create(path) {
        Ok(file) => file,
        Err(e) => {
            log(&format!("[ERROR] Failed to create {}: {e}", path.display()));
            exit(1);
        }
    };
    log("[INFO] Receiving data from client...");

    let mut buff = vec![0u8; BUFF_SIZE];
    loop {
        let n = match conn.read(&mut buff) {
            Ok(0) => break, // the client closed: the whole file has arrived
            Ok(n) => n,
            Err(e) => {
                // Keep what arrived; the file may be incomplete.
                log(&format!("[ERROR] Error in receiving data: {e}"));
                break;
            }
        };
        let chunk = &buff[..n];
        log_payload("[FILE DATA] ", chunk);
        if let Err(e) = file.write_all(chunk) {
            log(&format!("[ERROR] Failed to write {}: {e}", path.display()));
            exit(1);
        }
    }

    // Dropping a File ignores errors; sync_all makes sure the data really reached the disk.
    if let Err(e) = file.sync_all() {
        log(&format!("[ERROR] Failed to write {}: {e}", path.display()));
        exit(1);
    }
    log("[INFO] Data written to file successfully.");
}
