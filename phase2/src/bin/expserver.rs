//! eXpServer: the finished phase-2 server. With a config path it runs that config; without one it
//! runs the embedded default (the course's servers: files with directory listing from `public/`
//! in the working directory on 8001, `/redirect` there to 8002, a reverse proxy to
//! localhost:3000 on 8002, a redirect to the course site on 8003).

use std::path::PathBuf;

use clap::Parser;
use phase2::config::Config;
use phase2::session::{Directories, Options, ResponseStyle};

#[derive(Parser)]
#[command(about = "eXpServer: static files, directory listings, reverse proxy and redirects")]
struct Args {
    /// The JSON config file; without it an embedded default config is used.
    config: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    phase1::logger::init();
    let config = match &args.config {
        Some(path) => phase2::server::load_config(path)?,
        None => {
            phase1::info!("no config given: running the embedded default config");
            Config::embedded_default()?
        }
    };
    let options = Options {
        responses: ResponseStyle::Builder,
        directories: Directories::List,
    };
    phase2::server::run_config(config, options)
}
