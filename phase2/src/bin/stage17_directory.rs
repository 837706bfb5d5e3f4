//! Stage 17: directory browsing. A file route that names a folder without an index file answers
//! with an HTML listing of it instead of 404; everything else is stage 16.

use std::path::PathBuf;

use clap::Parser;
use phase2::session::{Directories, Options};

#[derive(Parser)]
#[command(about = "eXpServer stage 17: stage 16 plus directory listings")]
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
        ..Options::course()
    };
    phase2::server::run_stage("stage17_directory", args.config, options)
}
