//! Stage 6: listeners and connections.
//!
//! Four listening sockets, one epoll instance, and each client's messages sent back reversed.
//! The loop finds the owner of each event by comparing file descriptors with every registered
//! socket (`EventLookup::ScanByFd`), the O(n) search stage 7 removes.

use clap::Parser;
use phase1::cli::{self, ConfigArg, PortsArg};
use phase1::{EventLookup, Output, PortRole, Reply, SocketMode, StageProfile, Trigger};

#[derive(Parser)]
#[command(
    about = "eXpServer stage 6: reversal on four ports (listener and connection modules)",
    long_about = "eXpServer stage 6: reversal on four ports (listener and connection modules).\n\nEvery port (8001-8004 by default) answers each message with the same bytes reversed, like stage 1, but the listener and connection modules now serve many clients in turn. Try it: `nc localhost 8001`, type a line, and read it back reversed. The chapter is docs/src/stage-06.md."
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
        lookup: EventLookup::ScanByFd,
        accepted: SocketMode::Blocking,
        trigger: Trigger::Level,
        output: Output::BlockingSend,
        reply: Reply::Reverse,
    };
    let roles = [
        PortRole::Reply,
        PortRole::Reply,
        PortRole::Reply,
        PortRole::Reply,
    ];
    cli::serve(profile, args.ports.ports, roles)
}
