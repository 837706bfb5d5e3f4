//! Stage 22: metrics and the access log. The server of the stages before (directory listings,
//! stage 18's IP lists, stage 19's gzip, stage 20's load balancing, stage 21's timeouts) now
//! counts what it does: a route
//! of `"type": "metrics"` answers every counter in Prometheus's text format (or JSON), and the
//! config's top-level `access_log` (an extension) writes one nginx `combined` line per request
//! to stdout or a file, buffered and flushed once a second (see `phase2::metrics` and
//! `phase2::access_log`).

use std::path::PathBuf;

use clap::Parser;
use phase2::session::{Directories, Options};

#[derive(Parser)]
#[command(
    about = "eXpServer stage 22: the stages before plus a Prometheus metrics route and an access log"
)]
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
        gzip: true,
        load_balancing: true,
        timeouts: true,
        metrics: true,
        ..Options::course()
    };
    phase2::server::run_stage("stage22_metrics", args.config, options)
}
