//! `cargo xtask ...`: check a stage like the official grader, run a stage in the grader's
//! layout, or watch the flaws of the early phase-1 stages.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use xtask::cargo_build::{build, Profile};
use xtask::flaws;
use xtask::report::Report;
use xtask::runner::{check_stage, Format, Options, StageRun};
use xtask::stages::{self, Stage, STAGES};
use xtask::target::Target;

#[derive(Parser)]
#[command(about = "The eXpServer checker and helpers", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the official grader's checks for one stage.
    CheckStage {
        /// The stage number, e.g. 4 or 17 (`cargo xtask check-all` runs every stage that has
        /// checks; stages 2 and 5b have none).
        stage: String,
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        tuning: Tuning,
        #[command(flatten)]
        output: Output,
    },
    /// Run the checks of every stage that has them, and print the total time.
    CheckAll {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        tuning: Tuning,
        #[command(flatten)]
        output: Output,
        /// Check a student's set of programs named like ours (DIR/stage01_tcp_server,
        /// DIR/stage04_epoll_server, ...), each run like --cmd; a stage whose program is
        /// missing from DIR is reported as not run.
        #[arg(long, value_name = "DIR", conflicts_with = "cmd")]
        cmd_dir: Option<std::path::PathBuf>,
    },
    /// Build a stage and run it in the grader's layout (with the Python upstream if it needs one).
    RunStage {
        /// The stage to run, e.g. 16 or 5b.
        stage: String,
        #[command(flatten)]
        common: Common,
    },
    /// Show a flaw of an early phase-1 stage or its fix (stages 7-10).
    Demo {
        /// The stage whose flaw to show: 7, 8, 9 or 10.
        stage: String,
        #[command(flatten)]
        common: Common,
        /// Also draw the server's memory and CPU during the demo as an SVG chart in FILE.
        #[arg(long, value_name = "FILE")]
        plot: Option<std::path::PathBuf>,
    },
    /// Measure expserver next to nginx with wrk (needs wrk and nginx installed).
    Bench {
        #[command(flatten)]
        options: xtask::bench::BenchOptions,
    },
    /// The course's sender: copy stdin to a port and never read the replies.
    Sender {
        /// The port on localhost to send to.
        #[arg(long, default_value_t = 8001)]
        port: u16,
    },
}

/// How the results of a check run are reported.
#[derive(Args, Clone)]
struct Output {
    /// `text` for a person; `json` prints one JSON object per check on stdout (stage, check,
    /// title, input, expected, observed, pass, seconds, server_output) for a grading script.
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// Also write the results to FILE as JUnit XML, the test report format GitLab, GitHub
    /// Actions and Jenkins display.
    #[arg(long, value_name = "FILE")]
    junit: Option<std::path::PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum OutputFormat {
    Text,
    Json,
}

impl Output {
    fn apply(&self, options: &mut Options) {
        options.format = match self.format {
            OutputFormat::Text => Format::Text,
            OutputFormat::Json => Format::Json,
        };
    }

    /// Prints a closing line: on stdout for text, on stderr for JSON (stdout stays JSON).
    fn say(&self, line: &str) {
        match self.format {
            OutputFormat::Text => println!("{line}"),
            OutputFormat::Json => eprintln!("{line}"),
        }
    }

    /// Writes the JUnit file if one was asked for.
    fn write_junit(&self, report: &Report) -> Result<()> {
        if let Some(path) = &self.junit {
            std::fs::write(path, report.junit())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

#[derive(Args, Clone)]
struct Common {
    /// Use any program instead of ours, e.g. --cmd './xps'. It runs on the course's ports, in
    /// the grader's layout, with the config path appended as its last argument, as under the
    /// grader. For a program that takes no argument, let a shell drop it:
    /// --cmd "sh -c 'exec python3 -m http.server 8080' sh".
    #[arg(long)]
    cmd: Option<String>,
    /// Build our binary in release mode (the default).
    #[arg(long, conflicts_with = "debug")]
    release: bool,
    /// Build our binary in debug mode instead.
    #[arg(long)]
    debug: bool,
    /// Run our binary on free ports instead of the course's (8080, 8001-8004, 3000).
    #[arg(long)]
    free_ports: bool,
}

#[derive(Args, Clone)]
struct Tuning {
    /// How much the memory check streams through port 1 (the grader sends 4 GB), e.g. 64MB.
    #[arg(long, default_value = "4GB", value_parser = parse_size)]
    size: u64,
    /// How long the idle-CPU check measures, in seconds.
    #[arg(long, default_value_t = 20)]
    cpu_seconds: u64,
}

/// Parses sizes such as `4GB`, `64MB`, `500K` or `1000` (decimal units).
fn parse_size(text: &str) -> Result<u64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let upper = upper.trim_end_matches('B');
    let (number, unit) = match upper.chars().last() {
        Some('K') => (&upper[..upper.len() - 1], 1_000),
        Some('M') => (&upper[..upper.len() - 1], 1_000_000),
        Some('G') => (&upper[..upper.len() - 1], 1_000_000_000),
        _ => (upper, 1),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {text}"))?;
    Ok((value * unit as f64) as u64)
}

impl Common {
    fn profile(&self) -> Profile {
        if self.debug {
            Profile::Debug
        } else {
            Profile::Release
        }
    }

    /// The program to check for `stage`: the student's command, or our binary, built now.
    fn target(&self, stage: &Stage) -> Result<Target> {
        if let Some(cmd) = &self.cmd {
            return Target::custom(cmd);
        }
        let Some(binary) = stage.binary else {
            bail!("stage {} has no program", stage.id);
        };
        Ok(Target::Ours {
            binary: build(binary, self.profile())?,
        })
    }

    fn options(&self, tuning: Option<&Tuning>) -> Options {
        let mut options = Options {
            free_ports: self.free_ports,
            ..Options::default()
        };
        if let Some(tuning) = tuning {
            options.stream_bytes = tuning.size;
            options.cpu_window = Duration::from_secs(tuning.cpu_seconds);
        }
        options
    }
}

fn find_stage(id: &str) -> Result<&'static Stage> {
    stages::find(id).with_context(|| {
        format!(
            "unknown stage {id:?}; stages are {}",
            stages::list(|_| true)
        )
    })
}

/// Checks one stage; prints why when a stage has nothing to check.
fn check_one(
    stage: &'static Stage,
    common: &Common,
    tuning: &Tuning,
    output: &Output,
) -> Result<Report> {
    let target = common.target(stage)?;
    let mut options = common.options(Some(tuning));
    output.apply(&mut options);
    check_stage(stage, target, options)
}

/// The options for one stage of `check-all --cmd-dir DIR`: DIR's program named like ours, run
/// as `--cmd` would run it, or `None` when DIR has no such program.
fn from_dir(common: &Common, dir: &std::path::Path, stage: &Stage) -> Option<Common> {
    let program = dir.join(stage.binary?);
    if !program.is_file() {
        return None;
    }
    let program = std::path::absolute(&program).unwrap_or(program);
    Some(Common {
        cmd: Some(shell_words::quote(&program.to_string_lossy()).into_owned()),
        ..common.clone()
    })
}

fn no_checks(stage: &Stage) -> String {
    format!(
        "stage {} ({}) has no checks: the official grader tests only stages {}",
        stage.id,
        stage.title,
        stages::list(Stage::has_checks)
    )
}

fn run() -> Result<bool> {
    match Cli::parse().command {
        Cmd::CheckStage {
            stage,
            common,
            tuning,
            output,
        } => {
            let stage = find_stage(&stage)?;
            if !stage.has_checks() {
                println!("{}", no_checks(stage));
                return Ok(true);
            }
            let started = Instant::now();
            let report = check_one(stage, &common, &tuning, &output)?;
            output.say(&format!(
                "{} (stage {} in {:.1} s)",
                report.summary(),
                stage.id,
                started.elapsed().as_secs_f64()
            ));
            output.write_junit(&report)?;
            Ok(report.failed() == 0)
        }
        Cmd::CheckAll {
            common,
            tuning,
            output,
            cmd_dir,
        } => {
            let started = Instant::now();
            let mut all = Report::default();
            let mut times = Vec::new();
            for stage in STAGES.iter().filter(|s| s.has_checks()) {
                let stage_started = Instant::now();
                let common = match &cmd_dir {
                    None => common.clone(),
                    Some(dir) => match from_dir(&common, dir, stage) {
                        Some(common) => common,
                        None => {
                            output.say(&format!(
                                "stage {}: {} has no program {}: not run",
                                stage.id,
                                dir.display(),
                                stage.binary.unwrap_or("(none)")
                            ));
                            all.notes.push(format!("stage {} did not run", stage.id));
                            times.push(format!("stage {}: not run", stage.id));
                            continue;
                        }
                    },
                };
                match check_one(stage, &common, &tuning, &output) {
                    Ok(report) => all.extend(report),
                    Err(e) => {
                        output.say(&format!("stage {}: cannot run its checks: {e:#}", stage.id));
                        all.notes.push(format!("stage {} did not run", stage.id));
                        times.push(format!("stage {}: not run", stage.id));
                        continue;
                    }
                }
                times.push(format!(
                    "stage {}: {:.1} s",
                    stage.id,
                    stage_started.elapsed().as_secs_f64()
                ));
            }
            output.say(&times.join(", "));
            let not_run = all
                .notes
                .iter()
                .filter(|n| n.ends_with("did not run"))
                .count();
            output.say(&format!(
                "{}{} (all stages in {:.1} s)",
                all.summary(),
                if not_run > 0 {
                    format!(", {not_run} stages not run")
                } else {
                    String::new()
                },
                started.elapsed().as_secs_f64()
            ));
            output.write_junit(&all)?;
            Ok(all.failed() == 0 && not_run == 0)
        }
        Cmd::RunStage { stage, common } => {
            let stage = find_stage(&stage)?;
            run_stage(stage, &common)?;
            Ok(true)
        }
        Cmd::Demo {
            stage,
            common,
            plot,
        } => {
            let stage = find_stage(&stage)?;
            flaws::demo(
                stage,
                common.target(stage)?,
                common.options(None),
                plot.as_deref(),
            )?;
            Ok(true)
        }
        Cmd::Bench { options } => {
            xtask::bench::run(&options)?;
            Ok(true)
        }
        Cmd::Sender { port } => {
            let sent = flaws::sender(port)?;
            eprintln!("sent {sent} bytes; never read a byte back");
            Ok(true)
        }
    }
}

/// The pid of the server `run-stage` is running (0 while none), for [`forward_signal`].
static RUNNING_SERVER: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Passes SIGINT/SIGTERM on to the server instead of dying, so the checker lives on to stop the
/// upstream and remove the layout. Ctrl-C reaches the server from the terminal anyway; a
/// `kill` aimed at the checker alone does not, hence the forwarding.
extern "C" fn forward_signal(signal: libc::c_int) {
    let pid = RUNNING_SERVER.load(std::sync::atomic::Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe and only sends a signal to our own child.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Builds and runs a stage in the grader's layout with its output on the terminal.
fn run_stage(stage: &'static Stage, common: &Common) -> Result<()> {
    let Some(_) = stage.binary else {
        println!("stage {} ({}) has no program to run", stage.id, stage.title);
        return Ok(());
    };
    // The run holds the layout and the upstream; dropping it at the end stops and removes them.
    let mut run = StageRun::new(stage, common.target(stage)?, common.options(None))?;
    run.start_helpers()?;
    let argv = run.argv();
    println!(
        "layout: {} (app/ is the working directory)",
        run.layout.root().display()
    );
    println!(
        "ports: {:?}, upstream {}",
        run.ports.listen, run.ports.upstream
    );
    println!("running: {}   (Ctrl-C stops it)", run.command_line());
    let mut server = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(run.layout.app())
        .spawn()
        .with_context(|| format!("cannot start {}", argv[0]))?;
    RUNNING_SERVER.store(
        i32::try_from(server.id()).unwrap_or(0),
        std::sync::atomic::Ordering::SeqCst,
    );
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only reads an atomic and calls kill(2), both async-signal-safe.
        unsafe {
            libc::signal(signal, forward_signal as *const () as libc::sighandler_t);
        }
    }
    let status = server.wait().context("waiting for the server")?;
    RUNNING_SERVER.store(0, std::sync::atomic::Ordering::SeqCst);
    println!("the server stopped: {status}");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
