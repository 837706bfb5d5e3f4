//! Stage 13: the session module.
//!
//! Every client now gets a session between it and whatever serves it, and what the session
//! does is a handler: port 1 relays to the upstream, port 2 sends `<public>/sample.txt`, ports
//! 3 and 4 have client pipes and nothing beyond them. These handlers use the same extension
//! point as phase 2's HTTP server (see `phase1::session`).

use clap::Parser;
use phase1::cli::{self, ConfigArg, PortsArg, PublicArg, UpstreamArg};
use phase1::session::builtin::{FileHandler, IdleHandler, ProxyHandler};
use phase1::{ClientInfo, EventLookup, Output, PortRole, Reply, SessionHandler, SocketMode};
use phase1::{StageProfile, Trigger};

#[derive(Parser)]
#[command(
    about = "eXpServer stage 13: every client through a session (proxy on port 1, a file on port 2)",
    long_about = "eXpServer stage 13: every client through a session (proxy on port 1, a file on port 2).\n\nEvery client is now served by a session object: port 8001 relays to the upstream (127.0.0.1:3000), port 8002 sends ../public/sample.txt; the other ports accept and stay idle. Try it: `curl -v http://localhost:8001/` with an upstream running, and `nc localhost 8002 | head`. The chapter is docs/src/stage-13.md."
)]
struct Args {
    #[command(flatten)]
    ports: PortsArg,
    #[command(flatten)]
    upstream: UpstreamArg,
    #[command(flatten)]
    public: PublicArg,
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
    let upstream = args.upstream.upstream;
    let public = args.public.public;
    let sample = public.join("sample.txt");
    let idle =
        || PortRole::session(|_: &ClientInfo| Box::new(IdleHandler) as Box<dyn SessionHandler>);
    let roles = [
        PortRole::session(move |_: &ClientInfo| {
            Box::new(ProxyHandler::new(upstream.clone())) as Box<dyn SessionHandler>
        }),
        PortRole::session(move |_: &ClientInfo| {
            Box::new(FileHandler::new(public.clone(), sample.clone())) as Box<dyn SessionHandler>
        }),
        idle(),
        idle(),
    ];
    cli::serve(profile, args.ports.ports, roles)
}
