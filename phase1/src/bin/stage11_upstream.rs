//! Stage 11: the upstream module.
//!
//! Port 1 becomes a reverse proxy: each client is joined by two pipes to a fresh non-blocking
//! connection to the upstream. When the upstream finishes, the client receives everything it
//! sent and is then closed; when the upstream cannot be reached, the client is closed without a
//! byte. The other ports keep echoing.

use clap::Parser;
use phase1::cli::{self, ConfigArg, PortsArg, UpstreamArg};
use phase1::{EventLookup, Output, PortRole, Reply, SocketMode, StageProfile, Trigger};

#[derive(Parser)]
#[command(
    about = "eXpServer stage 11: port 1 proxies to the upstream, the others echo",
    long_about = "eXpServer stage 11: port 1 proxies to the upstream, the others echo.\n\nPort 8001 relays each client to the upstream (127.0.0.1:3000 by default; start one with `python3 -m http.server 3000 -d public` from the repository root) and the other ports echo. Try it: `curl -v http://localhost:8001/`. The chapter is docs/src/stage-11.md."
)]
struct Args {
    #[command(flatten)]
    ports: PortsArg,
    #[command(flatten)]
    upstream: UpstreamArg,
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
        PortRole::Proxy {
            upstream: args.upstream.upstream,
        },
        PortRole::Reply,
        PortRole::Reply,
        PortRole::Reply,
    ];
    cli::serve(profile, args.ports.ports, roles)
}
