//! Stage 7: the core and the loop.
//!
//! Same behaviour as stage 6, but each epoll event now carries a token naming its node
//! (`EventLookup::Token`), so dispatch is O(1) and a node destroyed earlier in the batch is
//! simply not found.
//!
//! Experiment: a client that sends without ever reading (e.g. `cat big_file | nc -q -1 ...`
//! with nc's output stopped) fills its socket buffer; the blocking `send` then waits forever
//! and every other client freezes with it.

use clap::Parser;
use phase1::cli::{self, ConfigArg, PortsArg};
use phase1::{EventLookup, Output, PortRole, Reply, SocketMode, StageProfile, Trigger};

#[derive(Parser)]
#[command(
    about = "eXpServer stage 7: reversal with a core and an event loop (freezes on a non-reading client)",
    long_about = "eXpServer stage 7: reversal with a core and an event loop (freezes on a non-reading client).\n\nThe four ports reverse what they receive, now through a core and an epoll event loop. Its flaw, on purpose: replies are sent with a blocking send, so one client that sends but never reads freezes every other client (see it with `cargo xtask demo 7`). Try it: `nc localhost 8001` in two terminals. The chapter is docs/src/stage-07.md."
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
