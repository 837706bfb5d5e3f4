//! eXpServer: the finished phase-2 server. With a config path it runs that config; without one it
//! runs the embedded default (the course's servers: files with directory listing from `public/`
//! in the working directory on 8001, `/redirect` there to 8002, a reverse proxy to
//! localhost:3000 on 8002, a redirect to the course site on 8003).
//!
//! Unlike the course stages it keeps connections alive (HTTP/1.1 persistent connections, see
//! `phase2::session`), which the config's extension key `keep_alive_timeout_ms` tunes (`0` turns
//! it off), and it has stage 21's timeouts (`phase2::timeouts`), with their defaults unless the
//! config sets them.

use std::path::PathBuf;

use clap::Parser;
use phase2::config::Config;
use phase2::session::{KeepAlive, Options};
use phase2::workers::AcceptMode;

#[derive(Parser)]
#[command(
    about = "eXpServer: static files, directory listings, reverse proxy and redirects",
    long_about = "eXpServer: static files, directory listings, reverse proxy and redirects, \
                  configured by the course's JSON config.\n\n\
                  Without CONFIG it runs an embedded default config: files and directory \
                  listings from public/ in the working directory on port 8001, a reverse proxy \
                  to localhost:3000 on 8002 and a redirect to the course site on 8003 (run it \
                  from the repository root). The config format is in docs/src/expserver.md.\n\n\
                  Environment: XPS_DEBUG=1 adds DEBUG lines to the log (one per connection \
                  opened and closed, among others). SIGINT or SIGTERM stops the server."
)]
struct Args {
    /// The JSON config file; without it an embedded default config is used.
    config: Option<PathBuf>,
    /// How the worker threads share each port: reuseport (one SO_REUSEPORT socket per worker,
    /// the default), shared (one socket dup'ed into every worker: every worker wakes for each
    /// client) or exclusive (the same with EPOLLEXCLUSIVE). For the experiment of chapter 23.
    #[arg(long, value_enum, default_value_t = AcceptMode::ReusePort)]
    accept: AcceptMode,
}

fn main() -> std::process::ExitCode {
    phase1::cli::exit_code(run())
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    phase1::logger::init();
    let config = match &args.config {
        Some(path) => phase2::server::load_config(path)?,
        None => {
            phase1::info!("no config given: running the embedded default config");
            Config::embedded_default()?
        }
    };
    // `keep_alive_timeout_ms`: 0 allows no idle time at all, which is keep-alive off.
    let keep_alive =
        phase2::timeouts::enabled(config.timeouts.keep_alive).map(|idle_timeout| KeepAlive {
            idle_timeout,
            ..KeepAlive::default()
        });
    match keep_alive {
        Some(keep_alive) => phase1::info!(
            "keep-alive on: idle connections close after {} ms, at most {} requests each",
            keep_alive.idle_timeout.as_millis(),
            keep_alive.max_requests
        ),
        None => phase1::info!("keep-alive off: one request per connection"),
    }
    let options = Options {
        accept: args.accept,
        ..Options::expserver(keep_alive)
    };
    phase2::server::run_config(config, options)
}
