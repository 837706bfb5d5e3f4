//! Starting the program under test, and making sure it never outlives a check.
//!
//! Every process the checker starts gets its own process group, so killing the group also kills
//! anything it forked (a student's `--cmd` may be a shell script). Its stdout and stderr go to a
//! log file that the report shows when a check fails. Dropping a [`Proc`] kills the group and
//! reaps it, so a panicking test or a failed check never leaves a server holding a port.
//!
//! [`Proc::start_server`] is the one way the checker and the end-to-end tests start a server:
//! spawn it, then wait until it listens (see [`crate::ports::wait_bound`] for how that is known
//! without connecting).

use std::fs::File;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::ports::{wait_bound, Proto};

/// How long a server may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running child process with its output captured in a log file.
pub struct Proc {
    child: Child,
    name: String,
    log_path: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `argv[0]` with the rest of `argv` as arguments, in `cwd`, with extra `env`
    /// variables, writing stdout and stderr to `log_path`.
    pub fn spawn(
        argv: &[String],
        cwd: &Path,
        env: &[(&str, &str)],
        log_path: &Path,
    ) -> Result<Proc> {
        let Some((program, args)) = argv.split_first() else {
            bail!("empty command line");
        };
        let log = File::create(log_path)
            .with_context(|| format!("cannot create log file {}", log_path.display()))?;
        let log_err = log.try_clone()?;
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start `{}`", argv.join(" ")))?;
        Ok(Proc {
            child,
            name: program.clone(),
            log_path: log_path.to_path_buf(),
            status: None,
        })
    }

    /// Starts a server like [`Proc::spawn`] (no extra environment) and waits up to
    /// [`START_TIMEOUT`] until it listens on every one of `ports`; fails with its output if it
    /// exits or never listens.
    pub fn start_server(
        argv: &[String],
        cwd: &Path,
        log_path: &Path,
        ports: &[u16],
        proto: Proto,
    ) -> Result<Proc> {
        let mut server = Proc::spawn(argv, cwd, &[], log_path)?;
        wait_bound(&mut server, ports, proto, START_TIMEOUT)?;
        Ok(server)
    }

    /// The process id (also the id of its process group).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A short name for messages: the program that was started.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exit status if the process has exited, without waiting.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
            }
        }
        self.status
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the whole process group with SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: killpg only sends a signal; the group id is the one we created with
        // process_group(0), so it names our child and whatever it started.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
        if self.status.is_none() {
            self.status = self.child.wait().ok();
        }
    }

    /// Everything the process wrote so far (the last `max` bytes).
    pub fn log_tail(&self, max: usize) -> String {
        let mut text = Vec::new();
        if let Ok(mut file) = File::open(&self.log_path) {
            let _ = file.read_to_end(&mut text);
        }
        let start = text.len().saturating_sub(max);
        let mut tail = String::from_utf8_lossy(&text[start..]).into_owned();
        if start > 0 {
            tail.insert_str(0, "...");
        }
        tail
    }

    /// The start and the end of the output, for a program that failed: the start holds the
    /// error message, the end the latest lines (a backtrace alone would hide the message).
    pub fn log_excerpt(&self) -> String {
        let mut text = Vec::new();
        if let Ok(mut file) = File::open(&self.log_path) {
            let _ = file.read_to_end(&mut text);
        }
        if text.len() <= 2000 {
            return String::from_utf8_lossy(&text).into_owned();
        }
        format!(
            "{}\n...\n{}",
            String::from_utf8_lossy(&text[..1200]),
            String::from_utf8_lossy(&text[text.len() - 800..])
        )
    }

    /// The path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Even a process that exited may have left children in its group.
        self.kill();
    }
}

/// Describes an exit status the way the course talks about it.
pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "ended in an unknown way".to_string(),
    }
}
