//! Stage 16: the JSON config decides everything: listeners, virtual servers, and per route file
//! serving, reverse proxy or redirect. A folder without an index file gives 404 (stage 17 lists it).

use std::path::PathBuf;

use clap::Parser;
use phase2::session::Options;

#[derive(Parser)]
#[command(about = "eXpServer stage 16: config-driven file server, reverse proxy and redirects")]
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
    let options = Options::course();
    phase2::server::run_stage("stage16_config", args.config, options)
}
