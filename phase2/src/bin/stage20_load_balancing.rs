//! Stage 20: load balancing. A `reverse_proxy` route spreads its requests over all of its
//! `upstreams` (round robin, least connections or a hash of the client's address, per the
//! route's `lb_strategy`), and a request whose upstream refuses the connection goes to the next
//! one instead of failing; everything else is the stages before (directory listings, the IP
//! lists of stage 18, gzip of stage 19).

use std::path::PathBuf;

use clap::Parser;
use phase2::session::{Directories, Options};

#[derive(Parser)]
#[command(about = "eXpServer stage 20: reverse proxy routes balanced over several upstreams")]
struct Args {
    /// The JSON config file (required).
    config: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    phase1::cli::exit_code(run())
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = Options {
        directories: Directories::List,
        ip_lists: true,
        gzip: true,
        load_balancing: true,
        ..Options::course()
    };
    phase2::server::run_stage("stage20_load_balancing", args.config, options)
}
