//! Stage 21: timeouts. The server of the stages before (directory listings, stage 18's IP
//! lists, stage 19's gzip, stage 20's load balancing) plus six clocks, so that no client or
//! upstream can hold the server by doing nothing: a request head that never ends gets 408, a
//! stalled body or upstream is dropped (504 when the client has had nothing yet), and a client
//! that stops reading is reset. The durations are the config's top-level `*_timeout_ms` keys
//! (see `phase2::timeouts`).

use std::path::PathBuf;

use clap::Parser;
use phase2::session::{Directories, Options};

#[derive(Parser)]
#[command(
    about = "eXpServer stage 21: the stages before plus timeouts (header, body, send, upstream)"
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
        ..Options::course()
    };
    phase2::server::run_stage("stage21_timeouts", args.config, options)
}
