//! Running one stage's checks the way the grader does.
//!
//! The grader runs a stage's tests one after another against one container, restarting it only
//! before tests marked `requireRestart` or after the server died. The runner does the same with a
//! process: a server must survive the checks that do not restart it, and the checker notices
//! when it does not.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::checks::{Check, Ctx};
use crate::layout::Layout;
use crate::ports::{ensure_free, Proto};
use crate::process::{describe_status, Proc};
use crate::report::{CheckResult, Report};
use crate::stages::{Checks, Helper, ServerKind, Stage};
use crate::target::{Ports, Target};
use crate::upstream::Upstream;

/// Knobs that differ between `cargo xtask` and the tests.
#[derive(Clone, Debug)]
pub struct Options {
    /// Bytes streamed through port 1 by the memory check (the grader uses a 4 GB file).
    pub stream_bytes: u64,
    /// How long the idle-CPU check measures (the course says 20 s).
    pub cpu_window: Duration,
    /// Run our binaries on ports the kernel reports free instead of the course's ports.
    pub free_ports: bool,
    /// Show progress of long checks on stderr.
    pub progress: bool,
    /// Print each result as soon as it is known (the command line does; tests collect them).
    pub print: bool,
    /// How printed results look: text for a person, or one JSON object per line for a script.
    pub format: Format,
}

/// The look of the printed results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Input, expected, observed and the verdict, as a student reads them.
    #[default]
    Text,
    /// One JSON object per check on stdout (see [`CheckResult::to_json`]); the notes go to
    /// stderr so stdout stays parseable.
    Json,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            stream_bytes: 4_000_000_000,
            cpu_window: Duration::from_secs(20),
            free_ports: false,
            progress: true,
            print: true,
            format: Format::Text,
        }
    }
}

impl Options {
    /// Settings for the end-to-end tests: free ports so tests run in parallel, quiet output,
    /// a 64 MB stream instead of 4 GB (enough to cycle a 1 MB pipe thousands of times, yet
    /// quick in a debug build on a shared machine) and a 5 s CPU window (an idle server uses
    /// ~0 % and a spinning one ~100 %, so 5 s separates them as well as 20 s).
    pub fn for_tests() -> Options {
        Options {
            stream_bytes: 64_000_000,
            cpu_window: Duration::from_secs(5),
            free_ports: true,
            progress: false,
            print: false,
            format: Format::Text,
        }
    }
}

/// Everything one stage's checks share: the layout, the ports, the server and the upstream.
pub struct StageRun {
    pub stage: &'static Stage,
    pub target: Target,
    pub ports: Ports,
    pub layout: Layout,
    /// The config path the server gets as its last argument, written for the run's ports.
    pub config: PathBuf,
    pub options: Options,
    server: Option<Proc>,
    upstream: Option<Upstream>,
    starts: usize,
    /// Whether the server has ever started listening in this run.
    started_once: bool,
    /// The check that reported a server that could not be started before it ever ran: later
    /// checks point to it instead of waiting for the same failure again.
    never_started: Option<usize>,
}

impl StageRun {
    /// Prepares a run: builds the grader layout, picks the ports and writes the stage's config.
    pub fn new(stage: &'static Stage, target: Target, options: Options) -> Result<StageRun> {
        let layout = Layout::new()?;
        let ports = if target.movable() && options.free_ports {
            Ports::free(stage.kind)?
        } else {
            Ports::course(stage.kind)
        };
        let config = target.prepare(stage, &ports, &layout)?;
        Ok(StageRun {
            stage,
            target,
            ports,
            layout,
            config,
            options,
            server: None,
            upstream: None,
            starts: 0,
            started_once: false,
            never_started: None,
        })
    }

    /// The protocol the server listens with.
    fn proto(&self) -> Proto {
        match self.stage.kind {
            ServerKind::Udp => Proto::Udp,
            _ => Proto::Tcp,
        }
    }

    /// (Re)starts the helpers the stage needs (the upstream), without the server.
    pub fn start_helpers(&mut self) -> Result<()> {
        self.upstream = None;
        if self.stage.needs(Helper::PythonUpstream) {
            ensure_free(&[self.ports.upstream], Proto::Tcp)?;
            let upstream = Upstream::start(
                self.ports.upstream,
                &self.layout.public(),
                self.layout.root(),
            )
            .context("cannot start the Python upstream (python3 -m http.server)")?;
            self.upstream = Some(upstream);
        }
        Ok(())
    }

    /// (Re)starts the helpers and the server, like a fresh container.
    pub fn restart(&mut self) -> Result<()> {
        self.server = None;
        self.start_helpers()?;
        ensure_free(&self.ports.listen, self.proto())?;
        let argv = self.argv();
        self.starts += 1;
        let log = self
            .layout
            .root()
            .join(format!("server-{}.log", self.starts));
        let server = Proc::start_server(
            &argv,
            &self.layout.app(),
            &log,
            &self.ports.listen,
            self.proto(),
        )?;
        self.server = Some(server);
        self.started_once = true;
        Ok(())
    }

    /// The argv that starts the server.
    pub fn argv(&self) -> Vec<String> {
        self.target.argv(self.stage, &self.ports, &self.config)
    }

    /// The command line that starts the server, for messages.
    pub fn command_line(&self) -> String {
        shell_words::join(self.argv())
    }

    /// The server's pid, if it runs.
    pub fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(Proc::pid)
    }

    /// The server's exit status, if it has exited.
    pub fn server_exit(&mut self) -> Option<ExitStatus> {
        self.server.as_mut().and_then(Proc::exit_status)
    }

    /// Waits up to `timeout` for the server to exit on its own.
    pub fn wait_server_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.server.as_mut().and_then(|s| s.wait_timeout(timeout))
    }

    /// Kills the upstream, as the grader's crash test kills Python.
    pub fn kill_upstream(&mut self) {
        if let Some(upstream) = self.upstream.as_mut() {
            upstream.kill();
        }
    }

    /// Stops the server (the next check that needs it starts a fresh one), for a check that
    /// starts the program itself, with another config.
    pub fn stop_server(&mut self) {
        self.server = None;
    }

    /// What the upstream has logged so far (empty without one): Python's log has a line per
    /// request it answered, so a check can tell whether a request reached it.
    pub fn upstream_log(&self) -> String {
        self.upstream
            .as_ref()
            .map(Upstream::log)
            .unwrap_or_default()
    }

    /// The end of the server's output.
    pub fn server_log(&self) -> String {
        self.server
            .as_ref()
            .map(|s| s.log_excerpt())
            .unwrap_or_default()
    }

    /// The path of the sample file the file stages serve.
    pub fn sample_file(&self) -> PathBuf {
        self.layout.public().join("sample.txt")
    }

    /// Runs every check of the stage and returns the results.
    ///
    /// A stage the grader checks must produce checks: an empty list is reported as a failure, so
    /// a registry entry with a missing list cannot pass `check-all` by checking nothing.
    pub fn run_checks(&mut self) -> Report {
        let list = match self.stage.checks {
            Checks::Grader(list) => list(&Ctx {
                ports: &self.ports,
                options: &self.options,
            }),
            Checks::None => Vec::new(),
        };
        let mut report = Report::default();
        if list.is_empty() && self.stage.has_checks() {
            let result = self.no_checks_ran();
            self.print_result(&result);
            report.results.push(result);
            return report;
        }
        let note = format!(
            "== stage {} ({}): {} check{}; server: {}",
            self.stage.id,
            self.stage.title,
            list.len(),
            if list.len() == 1 { "" } else { "s" },
            self.command_line()
        );
        self.print_note(&note);
        report.notes.push(note);
        let total = list.len();
        for (index, check) in list.iter().enumerate() {
            let result = self.run_one(check, index + 1, total);
            self.print_result(&result);
            report.results.push(result);
        }
        self.server = None;
        self.upstream = None;
        report
    }

    /// Prints a note (the stage's header line) in the chosen format.
    fn print_note(&self, note: &str) {
        match (self.options.print, self.options.format) {
            (false, _) => {}
            (true, Format::Text) => println!("{note}"),
            (true, Format::Json) => eprintln!("{note}"),
        }
    }

    /// Prints one result in the chosen format.
    fn print_result(&self, result: &CheckResult) {
        match (self.options.print, self.options.format) {
            (false, _) => {}
            (true, Format::Text) => print!("{}", result.render()),
            (true, Format::Json) => println!("{}", result.to_json()),
        }
    }

    /// The failure reported when a stage that should have checks produced none.
    fn no_checks_ran(&self) -> CheckResult {
        CheckResult {
            stage: self.stage.id.to_string(),
            number: 1,
            of: 1,
            title: "the stage's checks".into(),
            input: "the check list named by the stage's entry in stages::STAGES".into(),
            expected: "at least one check".into(),
            observed: "the list is empty: zero checks ran".into(),
            passed: false,
            duration: Duration::ZERO,
            server_log: None,
        }
    }

    /// Runs one check, restarting the server first when the grader would.
    fn run_one(&mut self, check: &Check, number: usize, of: usize) -> CheckResult {
        let mut result = CheckResult {
            stage: self.stage.id.to_string(),
            number,
            of,
            title: check.title.clone(),
            input: check.input.clone(),
            expected: check.expected.clone(),
            observed: String::new(),
            passed: false,
            duration: Duration::ZERO,
            server_log: None,
        };
        let mut died_before = None;
        if !check.restart {
            if let Some(status) = self.server_exit() {
                died_before = Some(status);
            }
        }
        if check.restart || self.server.is_none() || died_before.is_some() {
            if let Some(first) = self.never_started {
                // The same command with the same config failed to start before it ever ran:
                // trying again would only wait for the same failure.
                result.observed = format!(
                    "not run: the server could not be started for check {first} (see there why)"
                );
                return result;
            }
            let starting = Instant::now();
            if let Err(e) = self.restart() {
                result.duration = starting.elapsed();
                result.observed = format!("the server could not be started: {e:#}");
                if !self.started_once {
                    self.never_started = Some(number);
                }
                return result;
            }
        }
        let started = Instant::now();
        let verdict = (check.run)(self);
        result.duration = started.elapsed();
        let (mut passed, mut observed) = match verdict {
            Ok(text) => (true, text),
            Err(text) => (false, text),
        };
        if let Some(status) = died_before {
            passed = false;
            observed = format!(
                "the server had {} after the previous check (restarted for this one); {observed}",
                describe_status(status)
            );
        }
        if check.must_survive {
            // A crash caused by the last client closing shows up a moment later.
            thread::sleep(Duration::from_millis(100));
            if let Some(status) = self.server_exit() {
                passed = false;
                observed = format!("{observed}; but the server {}", describe_status(status));
            }
        }
        result.passed = passed;
        result.observed = observed;
        if !passed {
            result.server_log = Some(self.server_log());
        }
        result
    }
}

/// For tests: runs stage `id`'s checks against our binary at `binary` on free ports.
///
/// Panics if the run cannot be set up (tests may); check failures are in the report.
pub fn check_ours(id: &str, binary: &str) -> Report {
    let stage = crate::stages::find(id).unwrap_or_else(|| panic!("unknown stage {id}"));
    let target = Target::Ours {
        binary: PathBuf::from(binary),
    };
    check_stage(stage, target, Options::for_tests()).unwrap_or_else(|e| panic!("stage {id}: {e:#}"))
}

/// For tests: starts our binary for stage `id` on free ports in the grader layout (with the
/// upstream if the stage needs one) and returns the running stage.
pub fn start_ours(id: &str, binary: &str) -> StageRun {
    let stage = crate::stages::find(id).unwrap_or_else(|| panic!("unknown stage {id}"));
    let target = Target::Ours {
        binary: PathBuf::from(binary),
    };
    let mut run =
        StageRun::new(stage, target, Options::for_tests()).unwrap_or_else(|e| panic!("{e:#}"));
    run.restart()
        .unwrap_or_else(|e| panic!("stage {id} did not start: {e:#}"));
    run
}

/// Runs one stage's checks against `target`.
pub fn check_stage(stage: &'static Stage, target: Target, options: Options) -> Result<Report> {
    let mut run = StageRun::new(stage, target, options)?;
    Ok(run.run_checks())
}
