//! Stage 12: the file module.
//!
//! Port 2 sends `<public>/sample.txt` through a pipe and closes. Port 3 tries the `--refused`
//! file, which lies outside the public directory: the client is closed without a byte. Port 1
//! still proxies, port 4 still echoes.

use clap::Parser;
use phase1::cli::{self, ConfigArg, PortsArg, PublicArg, RefusedArg, UpstreamArg};
use phase1::{EventLookup, Output, PortRole, Reply, SocketMode, StageProfile, Trigger};

#[derive(Parser)]
#[command(
    about = "eXpServer stage 12: proxy on port 1, a file on port 2, a refused file on port 3, echo on port 4",
    long_about = "eXpServer stage 12: proxy on port 1, a file on port 2, a refused file on port 3, echo on port 4.\n\nPort 8001 relays to the upstream (127.0.0.1:3000), port 8002 sends the file ../public/sample.txt to every client that connects, port 8003 tries a file it must refuse, and port 8004 echoes. Run it from a folder next to public/ (phase1/ in this repository). Try it: `nc localhost 8002 | wc -c`. The chapter is docs/src/stage-12.md."
)]
struct Args {
    #[command(flatten)]
    ports: PortsArg,
    #[command(flatten)]
    upstream: UpstreamArg,
    #[command(flatten)]
    public: PublicArg,
    #[command(flatten)]
    refused: RefusedArg,
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
    let public = args.public.public;
    let roles = [
        PortRole::Proxy {
            upstream: args.upstream.upstream,
        },
        PortRole::File {
            path: public.join("sample.txt"),
            public: public.clone(),
        },
        PortRole::File {
            path: args.refused.refused,
            public,
        },
        PortRole::Reply,
    ];
    cli::serve(profile, args.ports.ports, roles)
}
