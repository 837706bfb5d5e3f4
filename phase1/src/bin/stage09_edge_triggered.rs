//! Stage 9: edge-triggered epoll.
//!
//! Epoll reports each change once; the connection remembers it in `read_ready`/`write_ready`
//! until `EAGAIN`, and the loop sleeps when no flag allows progress. An idle client now costs no
//! CPU. The reply list is still unbounded: memory still grows for a client that never reads.

use clap::Parser;
use phase1::cli::{self, ConfigArg, PortsArg};
use phase1::{EventLookup, Output, PortRole, Reply, SocketMode, StageProfile, Trigger};

#[derive(Parser)]
#[command(
    about = "eXpServer stage 9: edge-triggered reversal (idle CPU ~0, memory still unbounded)",
    long_about = "eXpServer stage 9: edge-triggered reversal (idle CPU ~0, memory still unbounded).\n\nThe four ports reverse what they receive, with edge-triggered epoll: an idle client costs no CPU any more, but a client that never reads still makes memory grow without bound (`cargo xtask demo 9`). Try it: `nc localhost 8001`. The chapter is docs/src/stage-09.md."
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
