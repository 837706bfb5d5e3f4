//! Stage 8: non-blocking sockets.
//!
//! Accepted sockets are non-blocking and replies wait in a list until EPOLLOUT says the socket
//! can take them, so one slow client no longer freezes the others.
//!
//! Two new flaws, on purpose: with level-triggered EPOLLOUT an idle client makes `epoll_wait`
//! return at once, forever (100 % of a core); and the reply list has no limit, so a client that
//! never reads makes the server's memory grow without bound.

use clap::Parser;
use phase1::cli::{self, ConfigArg, PortsArg};
use phase1::{EventLookup, Output, PortRole, Reply, SocketMode, StageProfile, Trigger};

#[derive(Parser)]
#[command(
    about = "eXpServer stage 8: non-blocking reversal (busy loop on idle clients, unbounded memory)",
    long_about = "eXpServer stage 8: non-blocking reversal (busy loop on idle clients, unbounded memory).\n\nThe four ports reverse what they receive, with non-blocking sockets and replies queued until the socket can take them. Its flaws, on purpose: an idle client makes the loop spin at 100 % of a core (level-triggered EPOLLOUT), and a client that never reads makes memory grow without bound (`cargo xtask demo 8` measures both). Try it: `nc localhost 8001`, then watch the CPU in `top`. The chapter is docs/src/stage-08.md."
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
        trigger: Trigger::Level,
        output: Output::UnboundedList,
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
