//! The upstream the proxy stages talk to: Python's `http.server`, as in the grader's container.
//!
//! It answers HTTP/1.0 and closes after every response, which is what the course's proxy is
//! built for. The checker serves the layout's `public/` folder, like the grader serves
//! `/usr/src/public`, and can kill it to test how the proxy copes with a dead upstream.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::ports::{wait_bound, Proto};
use crate::process::Proc;

/// A running `python3 -m http.server`.
pub struct Upstream {
    proc: Proc,
    port: u16,
}

impl Upstream {
    /// Starts Python on 127.0.0.1:`port` serving `dir`, and waits until it listens.
    pub fn start(port: u16, dir: &Path, log_dir: &Path) -> Result<Upstream> {
        let argv: Vec<String> = [
            "python3",
            "-m",
            "http.server",
            &port.to_string(),
            "-d",
            &dir.to_string_lossy(),
            "--bind",
            "127.0.0.1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let log = log_dir.join(format!("python-{port}.log"));
        let mut proc = Proc::spawn(&argv, dir, &[("PYTHONUNBUFFERED", "1")], &log)?;
        wait_bound(&mut proc, &[port], Proto::Tcp, Duration::from_secs(10))?;
        Ok(Upstream { proc, port })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it; its listening socket is gone once this returns.
    pub fn kill(&mut self) {
        self.proc.kill();
    }
}
