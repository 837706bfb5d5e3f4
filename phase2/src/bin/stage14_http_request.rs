//! Stage 14: the server speaks HTTP. Every port serves files from `--public`; a broken request
//! gets 400 before any file is looked at. Responses are written by hand (stage 15 adds the
//! response module).

use std::path::PathBuf;

use clap::Parser;
use phase2::session::{Options, ResponseStyle};

#[derive(Parser)]
#[command(about = "eXpServer stage 14: HTTP requests; every port serves files")]
struct Args {
    /// Ports to listen on (all serve files).
    #[arg(long, value_delimiter = ',', default_value = "8001,8002,8003,8004")]
    ports: Vec<u16>,
    /// Folder the files are served from.
    #[arg(long, default_value = "../public")]
    public: PathBuf,
    /// A config file path (the grader passes one); ignored before stage 16.
    config: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    phase1::cli::exit_code(run())
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    phase1::logger::init();
    let options = Options {
        responses: ResponseStyle::Handwritten,
        ..Options::course()
    };
    phase2::server::run_folder(&args.ports, &args.public, options)
}
