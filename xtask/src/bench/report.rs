//! Turning runs into a table a reader can trust.
//!
//! Every run's figure is shown, not just a summary, so a reader sees the spread for themselves.
//! The summary is the **median** of the valid runs: on a shared machine one round can be slowed
//! by a neighbour's compile, and a median of three ignores one such outlier where a mean would
//! not. A run that wrk reports errors for is **invalid**: it is shown (struck out, with its
//! reason) but never enters the median, because a server that answers fast with errors is not
//! fast. A row whose runs are all invalid has no figure at all.

use std::fmt::Write as _;

/// One run's outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum Sample {
    /// A measurement that counts.
    Valid(f64),
    /// A measurement that does not count, with the figure if there was one and why.
    Invalid { value: Option<f64>, reason: String },
}

impl Sample {
    /// Make this run not count, for `reason`, keeping its figure to show.
    pub fn invalidate(&mut self, reason: &str) {
        *self = Sample::Invalid {
            value: self.valid(),
            reason: reason.to_string(),
        };
    }

    /// The figure, if this run counts.
    pub fn valid(&self) -> Option<f64> {
        match self {
            Sample::Valid(v) => Some(*v),
            Sample::Invalid { .. } => None,
        }
    }
}

/// The median of `values` (the mean of the two middle ones for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// The median of the valid samples.
pub fn median_of(samples: &[Sample]) -> Option<f64> {
    let valid: Vec<f64> = samples.iter().filter_map(Sample::valid).collect();
    median(&valid)
}

/// The servers, in the order of [`RowResult::runs`].
pub const SERVERS: [&str; 2] = ["expserver", "nginx"];

/// One row of the table: both servers' runs.
#[derive(Clone, Debug)]
pub struct RowResult {
    /// "a. 1 KiB file, keep-alive, 50 connections".
    pub label: String,
    /// The two servers compared, first over second in the ratio ([`SERVERS`] unless the row
    /// compares something else, such as 2 workers with 1).
    pub names: [String; 2],
    /// "req/s", "MiB/s", "MiB".
    pub unit: &'static str,
    /// Runs of the first server (index 0) and the second (index 1), in the order they ran.
    pub runs: [Vec<Sample>; 2],
    /// Anything to say next to this row (e.g. "vs row a").
    pub remark: String,
    /// Per server, the share of the server CPU that went to other work in each run (0-1).
    pub others: [Vec<f64>; 2],
}

impl RowResult {
    pub fn new(label: String, unit: &'static str) -> RowResult {
        RowResult {
            label,
            names: SERVERS.map(String::from),
            unit,
            runs: [Vec::new(), Vec::new()],
            remark: String::new(),
            others: [Vec::new(), Vec::new()],
        }
    }

    /// The medians of the two servers.
    pub fn medians(&self) -> [Option<f64>; 2] {
        [median_of(&self.runs[0]), median_of(&self.runs[1])]
    }

    /// The first server's median over the second's, when both exist.
    pub fn ratio(&self) -> Option<f64> {
        match self.medians() {
            [Some(e), Some(n)] if n > 0.0 => Some(e / n),
            _ => None,
        }
    }
}

/// A figure for the table: no decimals for large numbers, one for small ones.
pub fn figure(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// How a relative change reads: `-3.2 %`.
pub fn change(now: f64, before: f64) -> String {
    format!("{:+.1} %", (now / before - 1.0) * 100.0)
}

/// The range of shares in percent, `3-35 %`, or `—` when none was measured.
pub fn share_range(shares: &[f64]) -> String {
    let min = shares.iter().copied().fold(f64::INFINITY, f64::min);
    let max = shares.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (min, max) = ((min * 100.0).round(), (max * 100.0).round());
    if shares.is_empty() {
        "—".to_string()
    } else if min == max {
        format!("{max:.0} %")
    } else {
        format!("{min:.0}-{max:.0} %")
    }
}

/// The Markdown table of `rows`, and the numbered reasons of every invalid run below it.
pub fn markdown(rows: &[RowResult]) -> String {
    markdown_with(rows, "expserver/nginx", Some("CPU 0 to others"))
}

/// [`markdown`] with the ratio column headed `ratio`, and the column of the server CPU's share
/// to others headed `others`, or left out.
pub fn markdown_with(rows: &[RowResult], ratio: &str, others: Option<&str>) -> String {
    let rounds = rows
        .iter()
        .flat_map(|r| r.runs.iter().map(Vec::len))
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let mut reasons: Vec<String> = Vec::new();
    let _ = write!(out, "| row | unit | server |");
    for i in 1..=rounds {
        let _ = write!(out, " run {i} |");
    }
    let _ = write!(out, " median | valid | {ratio} |");
    if let Some(others) = others {
        let _ = write!(out, " {others} |");
    }
    let _ = writeln!(out, " remark |");
    let _ = write!(out, "|---|---|---|");
    for _ in 0..rounds {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(
        out,
        "---:|---:|---:|{}---|",
        if others.is_some() { "---:|" } else { "" }
    );
    for row in rows {
        let medians = row.medians();
        for (s, server) in row.names.iter().enumerate() {
            let first = s == 0;
            let _ = write!(
                out,
                "| {} | {} | {server} |",
                if first { row.label.as_str() } else { "" },
                if first { row.unit } else { "" }
            );
            for i in 0..rounds {
                let cell = match row.runs[s].get(i) {
                    None => String::new(),
                    Some(Sample::Valid(v)) => figure(*v),
                    Some(Sample::Invalid { value, reason }) => {
                        reasons.push(format!(
                            "{} / {server} / run {}: {reason}",
                            row.label,
                            i + 1
                        ));
                        let n = reasons.len();
                        match value {
                            Some(v) => format!("~~{}~~ invalid[{n}]", figure(*v)),
                            None => format!("invalid[{n}]"),
                        }
                    }
                };
                let _ = write!(out, " {cell} |");
            }
            let median = medians[s].map_or_else(|| "INVALID".to_string(), figure);
            let valid = row.runs[s].iter().filter(|r| r.valid().is_some()).count();
            let ratio = if first {
                row.ratio()
                    .map_or_else(|| "—".to_string(), |r| format!("{r:.2}"))
            } else {
                String::new()
            };
            let remark = if first { row.remark.as_str() } else { "" };
            let _ = write!(out, " {median} | {valid}/{} | {ratio} |", row.runs[s].len());
            if others.is_some() {
                let _ = write!(out, " {} |", share_range(&row.others[s]));
            }
            let _ = writeln!(out, " {remark} |");
        }
    }
    if !reasons.is_empty() {
        out.push('\n');
        for (i, reason) in reasons.iter().enumerate() {
            let _ = writeln!(out, "[{}] {reason}", i + 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0]), Some(2.0));
    }

    #[test]
    fn invalid_runs_do_not_count() {
        let samples = [
            Sample::Valid(10.0),
            Sample::Invalid {
                value: Some(1000.0),
                reason: "Non-2xx or 3xx responses: 5".into(),
            },
            Sample::Valid(12.0),
        ];
        assert_eq!(median_of(&samples), Some(11.0));
        let none = [Sample::Invalid {
            value: None,
            reason: "x".into(),
        }];
        assert_eq!(median_of(&none), None);
    }

    #[test]
    fn table_shows_every_run_and_the_ratio() {
        let mut row = RowResult::new("a. 1 KiB".into(), "req/s");
        row.runs[0] = vec![
            Sample::Valid(900.0),
            Sample::Valid(1100.0),
            Sample::Valid(1000.0),
        ];
        row.runs[1] = vec![
            Sample::Valid(2000.0),
            Sample::Invalid {
                value: Some(5000.0),
                reason: "Socket errors: connect 0, read 3, write 0, timeout 0".into(),
            },
            Sample::Valid(2000.0),
        ];
        let mut dead = RowResult::new("d. proxy".into(), "req/s");
        dead.runs[0] = vec![Sample::Invalid {
            value: None,
            reason: "wrk failed".into(),
        }];
        dead.runs[1] = vec![Sample::Valid(1.0)];
        let table = markdown(&[row, dead]);
        assert!(table
            .contains("| a. 1 KiB | req/s | expserver | 900 | 1100 | 1000 | 1000 | 3/3 | 0.50 |"));
        assert!(table.contains("~~5000~~ invalid[1]"), "{table}");
        assert!(table.contains("| 2000 | 2/3 |"), "{table}");
        assert!(table.contains("INVALID | 0/1 | — |"), "{table}");
        assert!(
            table.contains("[2] d. proxy / expserver / run 1: wrk failed"),
            "{table}"
        );
    }

    #[test]
    fn a_row_can_compare_other_servers() {
        let mut row = RowResult::new("g. gzip".into(), "req/s");
        row.names = ["2 workers".into(), "1 worker".into()];
        row.runs = [vec![Sample::Valid(180.0)], vec![Sample::Valid(100.0)]];
        let table = markdown_with(&[row], "2 / 1", None);
        assert!(
            table.contains("| median | valid | 2 / 1 | remark |"),
            "{table}"
        );
        assert!(
            table.contains("| g. gzip | req/s | 2 workers | 180 | 180 | 1/1 | 1.80 |  |"),
            "{table}"
        );
        assert!(
            table.contains("|  |  | 1 worker | 100 | 100 | 1/1 |  |  |"),
            "{table}"
        );
    }

    #[test]
    fn figures() {
        assert_eq!(figure(12345.678), "12346");
        assert_eq!(figure(12.345), "12.3");
        assert_eq!(change(90.0, 100.0), "-10.0 %");
        assert_eq!(share_range(&[]), "—");
        assert_eq!(share_range(&[0.031, 0.35, 0.1]), "3-35 %");
        assert_eq!(share_range(&[0.2]), "20 %");
        assert_eq!(share_range(&[0.792, 0.794]), "79 %");
    }
}
