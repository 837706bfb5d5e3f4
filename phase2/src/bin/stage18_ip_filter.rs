//! Stage 18: IP allow and deny lists. A route's `ip_whitelist` and `ip_blacklist` decide which
//! clients may use it; a refused client gets 403 before the route does anything. Everything
//! else is stage 17.

use std::path::PathBuf;

use clap::Parser;
use phase2::session::{Directories, Options};

#[derive(Parser)]
#[command(about = "eXpServer stage 18: stage 17 plus per-route IP allow and deny lists")]
struct Args {
    /// The JSON config file, e.g. ../public/xps_config.json. Without it the stage prints its
    /// usage line and exits with status 2, as the course's server does.
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
        ..Options::course()
    };
    phase2::server::run_stage("stage18_ip_filter", args.config, options)
}
