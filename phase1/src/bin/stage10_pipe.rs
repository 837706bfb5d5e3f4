//! Stage 10: pipes.
//!
//! Each client's bytes go through a 1 MB pipe back to itself (echo replaces reversal). The
//! server stops reading a client whose pipe is full, so memory stays bounded however much a
//! client sends without reading.

use clap::Parser;
use phase1::cli::{self, ConfigArg, PortsArg};
use phase1::{EventLookup, Output, PortRole, Reply, SocketMode, StageProfile, Trigger};

#[derive(Parser)]
#[command(
    about = "eXpServer stage 10: echo through bounded pipes",
    long_about = "eXpServer stage 10: echo through bounded pipes.\n\nThe four ports echo what they receive through bounded pipes: when a client stops reading, the server stops reading from it, so memory stays bounded (`cargo xtask demo 10` shows the flat curve). Try it: `nc localhost 8001`, or `cargo xtask sender --port 8001 < /dev/zero` for a client that never reads. The chapter is docs/src/stage-10.md."
)]
struct Args {
    #[command(flatten)]
    ports: PortsArg,
    #[command(flatten)]
    _config: ConfigArg,
}

fn main() -> std::process::ExitCode {
    phase1::cli::exit_code(run())
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let profile = StageProfile {
        lookup: EventLookup::Token,
        accepted: SocketMode::NonBlocking,
        trigger: Trigger::Edge,
        output: Output::Pipe,
        reply: Reply::Echo,
    };
    let roles = [
        PortRole::Reply,
        PortRole::Reply,
        PortRole::Reply,
        PortRole::Reply,
    ];
    cli::serve(profile, args.ports.ports, roles)
}
