//! Stage 23: worker threads. The server of the stages before (directory listings, stage 18's
//! IP lists, stage 19's gzip, stage 20's load balancing, stage 21's timeouts, stage 22's metrics and access log), run by the
//! config's top-level `workers` threads at once: each worker has its own core, epoll loop and
//! `SO_REUSEPORT` listener on every port, and the kernel spreads new clients over them (see
//! `phase2::workers`). `"workers": "auto"` starts one per CPU. Log lines name their worker
//! (`[w2] INFO ...`); SIGINT or SIGTERM stops them all.

use std::path::PathBuf;

use clap::Parser;
use phase2::session::{Directories, Options};
use phase2::workers::AcceptMode;

#[derive(Parser)]
#[command(about = "eXpServer stage 23: the stages before, run by the config's `workers` threads")]
struct Args {
    /// The JSON config file, e.g. ../public/xps_config.json. Without it the stage prints its
    /// usage line and exits with status 2, as the course's server does.
    config: Option<PathBuf>,
    /// How the workers share each port: reuseport (one SO_REUSEPORT socket per worker, the
    /// default), shared (one socket dup'ed into every worker: every worker wakes for each client)
    /// or exclusive (the same with EPOLLEXCLUSIVE). See the chapter's thundering-herd experiment.
    #[arg(long, value_enum, default_value_t = AcceptMode::ReusePort)]
    accept: AcceptMode,
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
        workers: true,
        accept: args.accept,
        ..Options::course()
    };
    phase2::server::run_stage("stage23_multithreading", args.config, options)
}
