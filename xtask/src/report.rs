//! Printing what each check did, and the final tally.
//!
//! A check that only says "FAIL" teaches nothing. Each result shows what was sent, what the
//! grader expects and what really came back, so a student can see where their server differs;
//! a failure also shows the end of the server's own output.
//!
//! An instructor grading a class reads the same results as JSON (one object per check, for a
//! script) or as a JUnit XML file (which GitLab, GitHub Actions and Jenkins display as a test
//! report).

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
        if let Some(log) = self.server_log.as_deref().filter(|l| !l.trim().is_empty()) {
            let _ = writeln!(out, "    server output (end):");
            for line in log.lines() {
                let _ = writeln!(out, "      | {line}");
            }
        }
        out
    }
}

impl CheckResult {
    /// The result as one JSON object (a line of `--format json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "stage": self.stage,
            "check": self.number,
            "of": self.of,
            "title": self.title,
            "input": self.input,
            "expected": self.expected,
            "observed": self.observed,
            "pass": self.passed,
            "seconds": self.duration.as_secs_f64(),
            "server_output": self.server_log.as_deref().filter(|l| !l.trim().is_empty()),
        })
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

    /// The results as a JUnit XML document: one `<testsuite>` per stage, one `<testcase>` per
    /// check, a `<failure>` with input, expected, observed and the server's output for each
    /// failed check, and the notes (such as a stage that could not be run) as `<system-out>`.
    pub fn junit(&self) -> String {
        let mut stages: Vec<&str> = Vec::new();
        for result in &self.results {
            if !stages.contains(&result.stage.as_str()) {
                stages.push(&result.stage);
            }
        }
        let seconds = |results: &[&CheckResult]| -> f64 {
            results.iter().map(|r| r.duration.as_secs_f64()).sum()
        };
        let all: Vec<&CheckResult> = self.results.iter().collect();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"eXpServer checks\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">",
            self.results.len(),
            self.failed(),
            seconds(&all)
        );
        for stage in stages {
            let results: Vec<&CheckResult> =
                self.results.iter().filter(|r| r.stage == stage).collect();
            let failures = results.iter().filter(|r| !r.passed).count();
            let _ = writeln!(
                out,
                "  <testsuite name=\"stage {}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3}\">",
                xml_escape(stage),
                results.len(),
                failures,
                seconds(&results)
            );
            for result in results {
                let _ = write!(
                    out,
                    "    <testcase classname=\"stage{}\" name=\"check {}/{}: {}\" time=\"{:.3}\"",
                    xml_escape(stage),
                    result.number,
                    result.of,
                    xml_escape(&result.title),
                    result.duration.as_secs_f64()
                );
                if result.passed {
                    out.push_str("/>\n");
                    continue;
                }
                let mut detail = format!(
                    "input: {}\nexpected: {}\nobserved: {}\n",
                    result.input, result.expected, result.observed
                );
                if let Some(log) = result
                    .server_log
                    .as_deref()
                    .filter(|l| !l.trim().is_empty())
                {
                    detail.push_str("server output (end):\n");
                    detail.push_str(log);
                }
                let message: String = result.observed.chars().take(200).collect();
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    xml_escape(&message),
                    xml_escape(&detail)
                );
            }
            out.push_str("  </testsuite>\n");
        }
        if !self.notes.is_empty() {
            let _ = writeln!(
                out,
                "  <system-out>{}</system-out>",
                xml_escape(&self.notes.join("\n"))
            );
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// Text made safe for XML content and attribute values: the five special characters become
/// entities, and characters XML 1.0 cannot hold at all (most control characters, which a server
/// under test may well send) become `\u{..}` escapes.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(stage: &str, number: usize, passed: bool, observed: &str) -> CheckResult {
        CheckResult {
            stage: stage.into(),
            number,
            of: 2,
            title: "a <title> & more".into(),
            input: "GET / HTTP/1.1".into(),
            expected: "200".into(),
            observed: observed.into(),
            passed,
            duration: Duration::from_millis(1500),
            server_log: (!passed).then(|| "[INFO] listening\n".to_string()),
        }
    }

    #[test]
    fn junit_counts_failures_per_stage_and_escapes_what_the_server_sent() {
        let report = Report {
            results: vec![
                result("4", 1, true, "ok"),
                result("4", 2, false, "got \"\u{1}\u{0}<b>\""),
                result("17", 1, true, "ok"),
            ],
            notes: vec!["stage 18 did not run".into()],
        };
        let xml = report.junit();
        assert!(xml.contains("<testsuites name=\"eXpServer checks\" tests=\"3\" failures=\"1\""));
        assert!(xml.contains("<testsuite name=\"stage 4\" tests=\"2\" failures=\"1\""));
        assert!(xml.contains("<testsuite name=\"stage 17\" tests=\"1\" failures=\"0\""));
        assert!(xml.contains("name=\"check 1/2: a &lt;title&gt; &amp; more\" time=\"1.500\"/>"));
        assert!(xml.contains("got &quot;\\u{1}\\u{0}&lt;b&gt;&quot;"));
        assert!(xml.contains("server output (end):\n[INFO] listening"));
        assert!(xml.contains("<system-out>stage 18 did not run</system-out>"));
        assert!(!xml.contains('\u{0}') && !xml.contains('\u{1}'));
    }

    #[test]
    fn json_has_one_field_per_column_and_no_empty_server_output() {
        let mut passed = result("4", 1, true, "ok");
        passed.server_log = Some(String::new());
        let json = passed.to_json();
        assert_eq!(json["stage"], "4");
        assert_eq!(json["check"], 1);
        assert_eq!(json["pass"], true);
        assert_eq!(json["seconds"], 1.5);
        assert!(json["server_output"].is_null());
        assert!(!passed.render().contains("server output"));
        let failed = result("4", 2, false, "nothing");
        assert_eq!(failed.to_json()["server_output"], "[INFO] listening\n");
    }
}
