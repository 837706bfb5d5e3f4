//! Printing what each check did, and the final tally.
//!
//! A check that only says "FAIL" teaches nothing. Each result shows what was sent, what the
//! grader expects and what really came back, so a student can see where their server differs;
//! a failure also shows the end of the server's own output.

use std::fmt::Write as _;
use std::time::Duration;

/// The outcome of one check.
#[derive(Clone, Debug)]
pub struct CheckResult {
    pub stage: String,
    pub number: usize,
    pub of: usize,
    pub title: String,
    pub input: String,
    pub expected: String,
    pub observed: String,
    pub passed: bool,
    pub duration: Duration,
    /// The end of the server's output, kept for failures only.
    pub server_log: Option<String>,
}

impl CheckResult {
    /// The result as the report prints it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "stage {} - check {}/{}: {}",
            self.stage, self.number, self.of, self.title
        );
        let _ = writeln!(out, "    input     {}", indent(&self.input));
        let _ = writeln!(out, "    expected  {}", indent(&self.expected));
        let _ = writeln!(out, "    observed  {}", indent(&self.observed));
        let verdict = if self.passed { "PASS" } else { "FAIL" };
        let _ = writeln!(out, "    {verdict} in {:.2} s", self.duration.as_secs_f64());
        if let Some(log) = &self.server_log {
            let _ = writeln!(out, "    server output (end):");
            for line in log.lines() {
                let _ = writeln!(out, "      | {line}");
            }
        }
        out
    }
}

/// Continues a multi-line field under its label.
fn indent(text: &str) -> String {
    text.replace('\n', "\n              ")
}

/// Every result of a run, in order.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub results: Vec<CheckResult>,
    pub notes: Vec<String>,
}

impl Report {
    /// Number of passed checks.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed).count()
    }

    /// Number of failed checks.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// True if at least one check ran and none failed.
    pub fn all_passed(&self) -> bool {
        !self.results.is_empty() && self.failed() == 0
    }

    /// The line `N passed, M failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
    }

    /// The whole report as text (what a failing test shows).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for note in &self.notes {
            let _ = writeln!(out, "{note}");
        }
        for result in &self.results {
            out.push_str(&result.render());
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    /// Adds another run's results.
    pub fn extend(&mut self, other: Report) {
        self.results.extend(other.results);
        self.notes.extend(other.notes);
    }
}
