//! Stage 19: gzip. A file route with `gzip_enable` compresses files and directory listings of
//! the types in `gzip_types` (and at least `gzip_min_length` bytes) for clients whose
//! `Accept-Encoding` takes gzip, a piece at a time while they are sent; everything else is
//! stage 18 (directory listings, IP allow and deny lists).

use std::path::PathBuf;

use clap::Parser;
use phase2::session::{Directories, Options};

#[derive(Parser)]
#[command(about = "eXpServer stage 19: stage 18 plus gzip compression of files and listings")]
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
        ..Options::course()
    };
    phase2::server::run_stage("stage19_gzip", args.config, options)
}
